"""The one error type of the domain, mapped once to the API's error shape and the CLI's exit 2."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _


class DomainError(Exception):
    """A rule of the product refused the request. `code` is stable; `message` is for people."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None, **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404

    def __init__(self, what: str, **details: Any):
        """`what` names the missing thing in the reader's language (`_("会员")`)."""
        super().__init__("not_found", _("未找到：%(what)s") % {"what": what}, **details)


class Forbidden(DomainError):
    status = 403

    def __init__(self, code: str = "forbidden", message: str | None = None, **details: Any):
        super().__init__(code, _("无权进行此操作") if message is None else message, **details)


class Conflict(DomainError):
    status = 409


class Busy(DomainError):
    """A scarce row was locked for too long: the client should retry shortly."""

    status = 503

    def __init__(self, message: str | None = None, **details: Any):
        super().__init__(
            "busy", _("系统繁忙，请稍后重试") if message is None else message, **details
        )


class InvalidValue(ValueError):
    """A value that a validator of core (ID numbers, names) refuses, said twice, both in the
    active language: `reason` short, as file reports and the API's 422 word their reasons after
    the column or field they name, and `message` a sentence for people. A ValueError, so that a
    pydantic validator turns it into a 422 naming the field; forms show `message`, importers
    report `reason`."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason)
        self.reason = reason
        self.message = message
