"""Who may open a page: member pages need a member login, console pages a staff login (some a
given role). Both send a signed-out visitor to the right sign-in page."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import STAFF_ROLES

View = Callable[..., HttpResponseBase]


def _to_sign_in(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseRedirect(f"{url}?{urlencode({'next': request.get_full_path()})}")


def member_required(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user: User = request.user  # type: ignore[assignment]
        if not user.is_authenticated:
            return _to_sign_in(request, "/m/login/")
        if user.role != Role.MEMBER or user.member_id is None:
            return render(request, "web/forbidden.html", {"member_only": True}, status=403)
        return view(request, user, *args, **kwargs)

    return wrapped


def staff_required(roles: Iterable[str] | None = None) -> Callable[[View], View]:
    allowed = frozenset(roles) if roles is not None else STAFF_ROLES

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user: User = request.user  # type: ignore[assignment]
            if not user.is_authenticated:
                return _to_sign_in(request, "/login/")
            if user.role not in allowed or user.org_id is None:
                return render(request, "web/forbidden.html", status=403)
            return view(request, user, *args, **kwargs)

        return wrapped

    return decorate
