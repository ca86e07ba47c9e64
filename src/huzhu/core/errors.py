"""The one error type of the domain, mapped once to the API's error shape and the CLI's exit 2."""

from __future__ import annotations

from typing import Any


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
        super().__init__("not_found", f"{what} not found", **details)


class Forbidden(DomainError):
    status = 403

    def __init__(self, code: str = "forbidden", message: str = "not allowed", **details: Any):
        super().__init__(code, message, **details)


class Conflict(DomainError):
    status = 409


class Busy(DomainError):
    """A scarce row was locked for too long: the client should retry shortly."""

    status = 503

    def __init__(self, message: str = "busy, try again", **details: Any):
        super().__init__("busy", message, **details)


class InvalidValue(ValueError):
    """A value that a validator of core (ID numbers, names) refuses, said twice: `reason` in
    English, as file reports and the API's 422 word their reasons, and `message` for people, in
    the active language. A ValueError, so that a pydantic validator turns it into a 422 naming
    the field; forms show `message`, importers report `reason`."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason)
        self.reason = reason
        self.message = message
