"""Security headers on every response: a Content-Security-Policy without inline script, frame
denial, no sniffing, and `Cache-Control: no-store` on everything but static files (API answers
and pages carry names, ID numbers and phones: no browser or proxy cache may keep them); HSTS
comes from Django's SecurityMiddleware behind TLS (HUZHU_TLS=1)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Django's admin and Swagger UI set style attributes; scripts stay strictly same-origin.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.static = settings.STATIC_URL or "/static/"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(self.static) and "no-store" not in response.get(
            "Cache-Control", ""
        ):
            response["Cache-Control"] = "private, no-store"
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self)")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response
