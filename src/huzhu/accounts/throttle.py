"""Login throttling and lockout, per account and per client address (all sign-in paths: the
API token endpoint, the pages and the Django admin go through ThrottledModelBackend)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from huzhu.accounts.models import LoginThrottle

WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 30


def client_address(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    keys = [(f"user:{username.strip().casefold()}", MAX_PER_ACCOUNT)] if username else []
    if address:
        keys.append((f"ip:{address}", MAX_PER_ADDRESS))
    return keys


def login_locked_until(username: str, address: str) -> Any:
    """When the account or address may try again, or None if it may try now."""
    now = timezone.now()
    rows = [
        until
        for until in LoginThrottle.objects.filter(
            key__in=[k for k, _ in _keys(username, address)], locked_until__gt=now
        ).values_list("locked_until", flat=True)
        if until is not None
    ]
    return max(rows, default=None)


def login_failed(username: str, address: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        for key, limit in _keys(username, address):
            row, _ = LoginThrottle.objects.select_for_update().get_or_create(
                key=key, defaults={"window_started_at": now}
            )
            if now - row.window_started_at > WINDOW:
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            if row.failures >= limit:
                row.locked_until = now + LOCKOUT
            row.save()


def login_succeeded(username: str) -> None:
    LoginThrottle.objects.filter(key=f"user:{username.strip().casefold()}").delete()


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that refuses locked accounts and addresses and counts failures."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        name = username or str(kwargs.get("username", ""))
        address = client_address(request)
        if login_locked_until(name, address) is not None:
            raise PermissionDenied("too many failed sign-ins; try again later")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failed(name, address)
        else:
            login_succeeded(name)
        return user
