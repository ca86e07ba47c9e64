"""Text messages to members (payout notices). One function, `send_sms(phone, text)`; the backend
is the dotted path in the setting `HUZHU_SMS_BACKEND`:

- `huzhu.core.sms.LogBackend` (the default) writes each message to the log `huzhu.sms`, its
  digits masked (a sign-in code in a log is a sign-in) unless `HUZHU_DEBUG=1` (development);
- `huzhu.core.sms.MemoryBackend` keeps them in `huzhu.core.sms.outbox`, for tests.

A real gateway is another class with a `send(phone, text)` method. Callers send after commit
(`transaction.on_commit`), so a rolled-back payment never announces itself.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from huzhu.core.pii import mask_phone

DEFAULT_BACKEND = "huzhu.core.sms.LogBackend"
logger = logging.getLogger("huzhu.sms")
_DIGITS = re.compile(r"\d")


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> None: ...


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str


# What MemoryBackend has sent, oldest first; tests clear it.
outbox: list[Sms] = []


class LogBackend:
    """Writes the message to the log, the phone number masked (it is personal data). Outside
    development every digit of the text is masked too: the log must not hold a sign-in code
    (nor a payout's amount), whatever the message's wording in any language."""

    def send(self, phone: str, text: str) -> None:
        shown = text if settings.DEBUG else _DIGITS.sub("*", text)
        logger.info("sms to %s: %s", mask_phone(phone), shown)


class MemoryBackend:
    """Collects messages in `outbox`."""

    def send(self, phone: str, text: str) -> None:
        outbox.append(Sms(phone=phone, text=text))


def backend() -> SmsBackend:
    path = getattr(settings, "HUZHU_SMS_BACKEND", "") or DEFAULT_BACKEND
    cls = import_string(path)
    instance: SmsBackend = cls()
    return instance


def send_sms(phone: str, text: str) -> None:
    """Send one message now; an empty phone number sends nothing."""
    if phone:
        backend().send(phone, text)
