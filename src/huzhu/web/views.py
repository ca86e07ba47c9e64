"""The public home page and the password sign-in shared by staff and members."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from huzhu.accounts.models import Role
from huzhu.members.models import Member, Organisation


def home(request: HttpRequest) -> HttpResponse:
    context = {
        "members": Member.objects.count(),
        "units": Organisation.objects.filter(kind="unit").count(),
        "districts": Organisation.objects.filter(kind="district").count(),
    }
    return render(request, "web/home.html", context)


class SignInView(auth_views.LoginView):
    """Username and password; afterwards members go to their pages, staff to the console."""

    template_name = "web/login.html"

    def get_default_redirect_url(self) -> str:
        user = self.request.user
        return "/m/" if getattr(user, "role", "") == Role.MEMBER else "/console/"
