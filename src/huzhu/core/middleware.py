"""Refuse NUL characters in request text before they reach the database: PostgreSQL cannot
store them in text columns and would fail the request with a 500 (SQLite would store them)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse


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
            message = "the request contains a NUL character"
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"code": "invalid_request", "message": message, "details": {}}},
                    status=400,
                    json_dumps_params={"ensure_ascii": False},
                )
            return HttpResponseBadRequest(message)
        return self.get_response(request)
