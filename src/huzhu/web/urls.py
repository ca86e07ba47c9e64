from django.contrib.auth import views as auth_views
from django.urls import path

from huzhu.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/"), name="logout"),
    path("console/", views.console_home, name="console"),
    path("console/members/", views.console_members, name="console_members"),
    path("console/import/members/", views.console_import_members, name="console_import_members"),
    path("console/stats/", views.console_stats, name="console_stats"),
]
