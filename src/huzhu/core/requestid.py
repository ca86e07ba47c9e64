"""The request id: one per request, on its answer (`X-Request-ID`) and on every log record made
while it is handled, so that a user's report of an error finds its traceback in the log.

Kept free of Django imports: the logging configuration loads RequestIdFilter before the apps.
"""

from __future__ import annotations

import json
import logging
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

HEADER = "X-Request-ID"

# Set by RequestIdMiddleware for the request being handled. It is not reset when the middleware
# returns: Django logs a 5xx answer just after the middleware chain (django.request), and that
# record must carry the id too; the thread's next request sets its own.
current: ContextVar[str] = ContextVar("huzhu_request_id", default="-")


def new_id() -> str:
    return secrets.token_hex(8)


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` (`-` outside a request) for the log format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line for a log collector (HUZHU_LOG_FORMAT=json): the time (UTC),
    level, logger, request id and message, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", current.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
