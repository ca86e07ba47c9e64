"""The public home page and the password sign-in shared by staff and members."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huzhu.accounts.models import Role
from huzhu.members.models import Member, Organisation


def home(request: HttpRequest) -> HttpResponse:
    context = {
        "members": Member.objects.count(),
        "units": Organisation.objects.filter(kind="unit").count(),
        "districts": Organisation.objects.filter(kind="district").count(),
    }
    return render(request, "web/home.html", context)


class SignInForm(AuthenticationForm):
    """Django's sign-in form, which also says when the throttle refused (accounts.throttle)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _("登录失败次数过多，请于 %(time)s 之后再试"),
    }

    @property
    def throttled(self) -> bool:
        return any(e.code == "throttled" for e in self.non_field_errors().as_data())

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            refused = getattr(self.request, "huzhu_sign_in_refused", None)
            if refused is None:
                raise
            until = timezone.localtime(refused.until)
            raise ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"time": until.strftime("%H:%M")},
            ) from None


class SignInView(auth_views.LoginView):
    """Username and password; afterwards members go to their pages, staff to the console."""

    template_name = "web/login.html"
    form_class = SignInForm

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response

    def get_default_redirect_url(self) -> str:
        user = self.request.user
        return "/m/" if getattr(user, "role", "") == Role.MEMBER else "/console/"
