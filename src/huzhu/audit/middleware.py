"""Every refusal of a signed-in user (403) is in the audit log: API answers and pages alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.db import DatabaseError, transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from huzhu.audit.services import RULE_REFUSALS, audit_denial

logger = logging.getLogger("huzhu.audit")


def _code(request: HttpRequest, response: HttpResponseBase) -> str:
    """The refusal's code: the API's error code, or a page's `error_code` (a page that shows a
    refusal of the domain sets it), else `forbidden`."""
    if request.path.startswith("/api/") and not response.streaming:
        try:
            return str(json.loads(response.content)["error"]["code"])  # type: ignore[attr-defined]
        except (ValueError, KeyError, TypeError):
            return "forbidden"
    return str(getattr(response, "error_code", "forbidden"))


class DenialAuditMiddleware:
    """After the view: a 403 to a signed-in user becomes an `access.denied` audit event (one
    insert, only on refusals; refusals by a benefit's rules excepted)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code == 403:
            user = getattr(request, "user", None)  # the API's bearer login, or the session's
            if user is not None and user.is_authenticated:
                code = _code(request, response)
                if code not in RULE_REFUSALS:
                    self._record(user, code, request)
        return response

    @staticmethod
    def _record(user: object, code: str, request: HttpRequest) -> None:
        try:
            with transaction.atomic():
                audit_denial(actor=user, code=code, method=request.method or "", path=request.path)
        except DatabaseError:
            # The answer stands; the log says the audit event could not be written.
            logger.exception("could not audit a refusal of %s %s", request.method, request.path)
