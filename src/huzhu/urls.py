"""URL routes: the API, the Django admin, and the member and staff pages."""

from django.contrib import admin
from django.urls import include, path

from huzhu.api.main import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("huzhu.web.urls")),
]
