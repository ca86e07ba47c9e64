"""The JSON API (django-ninja) under /api/v1/: one router per domain, thin, one error shape.

Errors are always `{"error": {"code", "message", "details"}}` with a 4xx status.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from huzhu.accounts.models import User
from huzhu.core.dbfaults import database_lost, drop_lost_connection
from huzhu.core.errors import DomainError
from huzhu.core.tabular import TableError
from huzhu.members.logins import token_user


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = token_user(token)
        if user is not None:
            request.user = user
        return user


class BrowserSessionAuth(SessionAuth):
    """The browser pages' session, CSRF-checked as Django's, for a request that carries a session
    cookie. A request without one (an app whose token is wrong or expired) is simply not signed
    in: 401 `unauthorized`, where ninja's session check answered a POST with 403 "CSRF check
    Failed"."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.param_name not in request.COOKIES:
            return None
        return super().__call__(request)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "Bad input",
    "401": "Not signed in",
    "403": "Not allowed",
    "404": "Not found",
    "409": "Conflict with the current state",
    "413": "Upload too large",
    "422": "Request does not match the schema",
    "429": "Too many attempts",
    "503": "Busy or unavailable, try again",
}


class HuzhuAPI(NinjaAPI):
    """NinjaAPI whose schema documents the one error shape on every operation."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, text in ERROR_STATUSES.items():
                    responses.setdefault(
                        status,
                        {
                            "description": text,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        },
                    )
        return schema


api = HuzhuAPI(
    title="huzhu API",
    version="1",
    description="互助 — mutual-aid protection, settlements, benefits, stations, care, statistics.",
    auth=[BearerAuth(), BrowserSessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
)


def error_response(
    request: HttpRequest, status: int, code: str, message: str, details: Any = None
) -> HttpResponse:
    return api.create_response(
        request,
        {"error": {"code": code, "message": message, "details": details or {}}},
        status=status,
    )


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(TableError)
def on_table_error(request: HttpRequest, exc: TableError) -> HttpResponse:
    return error_response(
        request,
        400,
        "invalid_file",
        _("文件中有 %(n)s 处问题") % {"n": len(exc.errors)},
        {"errors": [e.as_dict() for e in exc.errors]},
    )


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(
        request, 422, "invalid_request", _("请求内容不正确"), {"errors": exc.errors}
    )


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "unauthorized", _("请先登录，或提供有效的 Bearer 令牌"))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(Http404)
def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", str(exc) or _("未找到"))


@api.exception_handler(PermissionDenied)
def on_403(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, 403, "forbidden", str(exc) or _("无权进行此操作"))


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def on_database_lost(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A dropped database connection rolls the request's transaction back: the client may try
    again (a booking with its Idempotency-Key, a scan with its nonce, safely). Anything else is
    still a bug and a 500."""
    if not database_lost(exc):
        raise exc
    drop_lost_connection()
    return error_response(request, 503, "unavailable", _("服务暂时不可用，请稍后重试"))


def _register_routers() -> None:
    import importlib

    from huzhu.api import auth, members

    api.add_router("/auth", auth.router)
    api.add_router("/", members.router)
    for name, prefix in (
        ("huzhu.api.protection", "/"),
        ("huzhu.api.claims", "/"),
        ("huzhu.api.payments", "/"),
        ("huzhu.api.settlement", "/"),
        ("huzhu.api.benefits", "/"),
        ("huzhu.api.stations", "/"),
        ("huzhu.api.care", "/"),
        ("huzhu.api.reports", "/"),
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        api.add_router(prefix, module.router)


_register_routers()
