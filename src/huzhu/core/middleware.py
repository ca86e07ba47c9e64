"""Middleware of every request: a request id for the answer and the log, NUL characters refused
before they reach the database, and a lost database connection answered as "try again" rather
than as a crash.

PostgreSQL cannot store NUL in text columns and would fail the request with a 500 (SQLite
would store them)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from huzhu.core import requestid
from huzhu.core.dbfaults import database_lost, drop_lost_connection


class RequestIdMiddleware:
    """First in the chain: the request gets an id (`request.request_id`), its answer carries it
    as `X-Request-ID` and so does every log record made meanwhile (core.requestid). A 5xx is
    logged by Django (`django.request`, with the traceback of an unhandled exception) to the
    console handler of settings.LOGGING, whose format shows the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = requestid.new_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        requestid.current.set(request_id)
        response = self.get_response(request)
        response[requestid.HEADER] = request_id
        return response


def _has_nul(request: HttpRequest) -> bool:
    if b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
        return True
    if "\x00" in request.path:
        return True
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/"):
        return False  # uploaded files are binary; their text is checked by the importers
    body = request.body
    return b"\x00" in body or b"\\u0000" in body.lower()


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            message = _("请求中含有 NUL 字符")
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"code": "invalid_request", "message": message, "details": {}}},
                    status=400,
                    json_dumps_params={"ensure_ascii": False},
                )
            return HttpResponseBadRequest(message)
        return self.get_response(request)


class DatabaseLostMiddleware:
    """A page whose database connection was lost (the database restarted, a failover, a cut
    connection) answers 503 with a page that says to try again in a moment, not the 500 of a
    bug. Its transaction was rolled back, so trying again is safe. The API answers the same
    case itself (503 `unavailable`, huzhu.api.main)."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, OperationalError | InterfaceError) or not database_lost(exc):
            return None  # a bug: Django's 500
        drop_lost_connection()
        # Rendered without a request context: nothing on it may need the lost database.
        page = render_to_string("web/unavailable.html", {"retry": self.RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        return response
