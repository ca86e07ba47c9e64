"""The phones' lane: API requests signed with a bearer token and carrying no cookie.

At 12:00 tens of thousands of members press "book" at once (the flash crowd of PRODUCT.md §4).
Their apps send `Authorization: Bearer …` and no cookie, so the middleware that serves the
browser pages (sessions, CSRF tokens, the signed-in user, flash messages, static files) has
nothing to do for them but still costs its time on every request. Such requests go through a
second Django handler whose middleware is the site's without those five; everything else in
it (security headers, CSP, language, NUL refusal, exception handling, the request signals that
recycle database connections) is the same code.

In that handler one operation takes a shorter way: a member booking an FCFS activity
(`POST /api/v1/activities/{id}/bookings` with no body or `{}`). It runs the very services the
API view runs (`token_user`, `activity_for_booking`, `booking_create`) and renders their answer
with the same schema, error shape and exception handlers, but without URL resolving and
ninja's request parsing. It answers only where it can answer exactly as the API would: a
token that is not a member's, an activity that is not offered to the member, or a booking
that is not a one-statement FCFS booking all go the general way, before anything is written.
`tests/benefits/test_phone_lane.py` holds both ways to the same answers, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from huzhu.accounts.models import Role
from huzhu.core.errors import DomainError
from huzhu.members.logins import token_user

# Middleware that only acts on cookies, sessions or static files: nothing to do for a request
# that carries a bearer token and no cookie (ninja's views are CSRF-exempt; their session
# check is skipped without a session cookie).
COOKIE_MIDDLEWARE = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    }
)

_BOOKING_PATH = re.compile(r"/api/v1/activities/([0-9]{1,18})/bookings")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_phone_request(environ: dict[str, Any]) -> bool:
    """An API request with a bearer token and no cookie."""
    return (
        environ.get("PATH_INFO", "").startswith("/api/")
        and "HTTP_COOKIE" not in environ
        and environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
    )


class PhoneApiHandler(WSGIHandler):
    """Django's WSGI handler with the site's middleware minus COOKIE_MIDDLEWARE, and the FCFS
    booking answered without URL resolving when it can be."""

    def load_middleware(self, is_async: bool = False) -> None:
        full = settings.MIDDLEWARE
        try:
            settings.MIDDLEWARE = [m for m in full if m not in COOKIE_MIDDLEWARE]
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

    def _get_response(self, request: HttpRequest) -> HttpResponseBase:
        if request.method == "POST":
            match = _BOOKING_PATH.fullmatch(request.path_info)
            if match is not None:
                answer = fcfs_booking_answer(request, int(match[1]))
                if answer is not None:
                    return answer
        return super()._get_response(request)  # type: ignore[misc]  # not in django-stubs


def fcfs_booking_answer(request: HttpRequest, activity_id: int) -> HttpResponse | None:
    """The API's answer to a member booking an FCFS activity for itself, or None where the
    general way must answer (nothing has been written then)."""
    from huzhu.api.benefits import BookingOut
    from huzhu.api.main import api
    from huzhu.benefits import selectors
    from huzhu.benefits.booking_statement import one_statement_booking
    from huzhu.benefits.bookings import booking_create

    body = request.body.strip()
    if body and (body != b"{}" or request.content_type != "application/json"):
        return None  # a day or a member to book for: the general way parses and checks them
    meta = request.META  # not request.headers, which copies every header of the request
    token = meta["HTTP_AUTHORIZATION"].split(" ", 1)[1]
    try:
        user = token_user(token)
        if user is None or user.role != Role.MEMBER or user.member_id is None:
            return None
        member = selectors.member_for_booking(user)
        try:
            activity = selectors.activity_for_booking(
                user=user, activity_id=activity_id, member=member
            )
        except DomainError:
            return None
        if not one_statement_booking(activity):
            return None
        booking = booking_create(
            activity=activity,
            member=member,
            actor=user,
            idempotency_key=meta.get("HTTP_IDEMPOTENCY_KEY"),
        )
        answer = BookingOut.from_orm(booking).model_dump(
            context={"request": request, "response_status": 201}
        )
        return api.create_response(request, answer, status=201)
    except Exception as exc:  # the API's own handlers, as ninja would call them
        return api.on_exception(request, exc)


def phone_lane(general: WSGIApp) -> WSGIApp:
    """The WSGI application: phone requests through PhoneApiHandler, the rest through
    `general` (Django's handler with the full middleware)."""
    phones = PhoneApiHandler()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if is_phone_request(environ):
            return phones(environ, start_response)
        return general(environ, start_response)

    return application


__all__ = ["COOKIE_MIDDLEWARE", "PhoneApiHandler", "is_phone_request", "phone_lane"]
