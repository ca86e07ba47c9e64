"""Throttles of sign-in, kept in the database so that every app server sees the same counts.

A throttle counts an attempt *before* the thing it guards is tried, in one atomic statement
(`INSERT … ON CONFLICT … DO UPDATE … RETURNING`): of sixteen guesses sent at once, only as many
as the limit get a password check, whatever the timing. A count past the limit is refused, and
refused until the lockout ends (or, without one, until its window ends).

Password sign-in (all paths: the API's token endpoint, the pages and the Django admin go through
ThrottledModelBackend) is counted per (account, address) pair and per address, never per
account alone: a stranger's wrong guesses slow the stranger, not the account's owner signing in
from elsewhere. The address is the client's, read through our proxies (core.client).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import LoginThrottle, User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.client import client_address, client_ip

# Longer usernames are refused before anything is looked up or hashed (User.username's length).
MAX_USERNAME = 150


@dataclass(frozen=True)
class Rule:
    """At most `limit` attempts per `window`; past it, refused for `lockout` (if set, counted
    from the first refusal) or else until the window ends."""

    limit: int
    window: timedelta
    lockout: timedelta | None = None


@dataclass(frozen=True)
class Hit:
    allowed: bool
    attempts: int
    first_refusal: bool  # this attempt is the one that went past the limit


@functools.cache
def _upsert_sql() -> str:
    quote, meta = connection.ops.quote_name, LoginThrottle._meta
    table = quote(meta.db_table)
    column = {f.name: quote(f.column or f.name) for f in meta.concrete_fields}
    key, attempts, started, locked = (
        column[name] for name in ("key", "attempts", "window_started_at", "locked_until")
    )
    # A new window: the old one ended and nothing is locked, or the lockout is over.
    fresh = (
        f"(({table}.{locked} IS NULL AND {table}.{started} <= %(window_start)s)"
        f" OR {table}.{locked} <= %(now)s)"
    )
    return f"""
        INSERT INTO {table} ({key}, {attempts}, {started}, {locked})
        VALUES (%(key)s, 1, %(now)s, NULL)
        ON CONFLICT ({key}) DO UPDATE SET
          {attempts} = CASE WHEN {fresh} THEN 1 ELSE {table}.{attempts} + 1 END,
          {locked} = CASE
            WHEN {fresh} THEN NULL
            WHEN {table}.{locked} IS NULL AND {table}.{attempts} + 1 > %(limit)s
              THEN %(lock_until)s
            ELSE {table}.{locked} END,
          {started} = CASE WHEN {fresh} THEN %(now)s ELSE {table}.{started} END
        RETURNING {attempts}
    """


def throttle_hit(key: str, rule: Rule, *, now: datetime | None = None) -> Hit:
    """Count one attempt under `key` and say whether it may go ahead.

    One statement, in autocommit: called inside a transaction it would hold the row (and so
    every other attempt under the key) until that transaction ends."""
    now = now or timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    lock_until = now + rule.lockout if rule.lockout else None
    params = {
        "key": key,
        "now": adapt(now),
        "window_start": adapt(now - rule.window),
        "limit": rule.limit,
        "lock_until": adapt(lock_until) if lock_until else None,
    }
    if random.random() < 0.001:  # housekeeping now and then; no scheduler needed
        throttle_prune(now=now)
    with connection.cursor() as cur:
        cur.execute(_upsert_sql(), params)
        row = cur.fetchone()
    attempts = int(row[0])
    return Hit(
        allowed=attempts <= rule.limit,
        attempts=attempts,
        first_refusal=attempts == rule.limit + 1,
    )


def throttle_refused_until(key: str, rule: Rule) -> datetime:
    """When a refused key may try again."""
    row = LoginThrottle.objects.filter(key=key).values("window_started_at", "locked_until").first()
    if row is None:
        return timezone.now()
    if row["locked_until"] is not None:
        until: datetime = row["locked_until"]
        return until
    started: datetime = row["window_started_at"]
    return started + rule.window


def throttle_refund(key: str) -> None:
    """Take back one attempt that turned out not to count (a success, or one never tried)."""
    LoginThrottle.objects.filter(key=key, attempts__gt=0).update(attempts=F("attempts") - 1)


def throttle_clear(key: str) -> None:
    LoginThrottle.objects.filter(key=key).delete()


def throttle_prune(*, now: datetime | None = None) -> int:
    """Forget counters that ended more than a day ago (run now and then by throttle_hit)."""
    cutoff = (now or timezone.now()) - timedelta(days=1)
    deleted, _ = LoginThrottle.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=cutoff), window_started_at__lt=cutoff
    ).delete()
    return deleted


def _hashed(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def throttle_address(request: HttpRequest | None) -> str:
    """The address a throttle counts: the client's, an IPv6 client by its /64 (one home or
    phone gets a whole /64 to choose from); "" when unknown."""
    address = client_ip(request)
    if address is None:
        return ""
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# -- password sign-in ---------------------------------------------------------------------------


def _login_rules() -> tuple[Rule, Rule]:
    lockout = timedelta(minutes=settings.HUZHU_LOGIN_LOCKOUT_MINUTES)
    return (
        Rule(settings.HUZHU_LOGIN_MAX_FAILURES, lockout, lockout),
        Rule(settings.HUZHU_LOGIN_MAX_PER_ADDRESS, lockout, lockout),
    )


class SignInRefused(PermissionDenied):
    """Too many failed sign-ins from this (account, address) pair or this address."""

    def __init__(self, until: datetime):
        super().__init__(_("登录失败次数过多，请稍后再试"))
        self.until = until


def _normal_username(username: str) -> str:
    return username.strip().casefold()


def _audit(action: Action, *, username: str, request: HttpRequest | None, **data: Any) -> None:
    """A sign-in event. The username is kept only when such an account exists (what else is
    typed there is sometimes a password), and the event goes to that account's organisation."""
    target = _target(username) if username else None
    audit_record(
        actor=AnonymousUser(),
        action=action,
        obj=target,
        object_type="accounts.user",
        org_path=target.org.path if target is not None and target.org is not None else "",
        username=target.username if target is not None else "",
        address=client_address(request),
        path=request.path[:200] if request is not None else "",
        **data,
    )


def _refuse(
    key: str, rule: Rule, hit: Hit, *, username: str, request: HttpRequest | None
) -> SignInRefused:
    until = throttle_refused_until(key, rule)
    if hit.first_refusal:
        lock = "pair" if username else "address"
        _audit(
            Action.LOGIN_LOCKED,
            username=username,
            request=request,
            lock=lock,
            until=until.isoformat(),
        )
    refused = SignInRefused(until)
    if request is not None:
        request.huzhu_sign_in_refused = refused  # type: ignore[attr-defined]  # for the page
    return refused


def password_check(
    request: HttpRequest | None, username: str, password: str, *, backend: ModelBackend
) -> User | None:
    """The user for these credentials, or None; SignInRefused without checking the password
    when the pair or the address is past its limit. Failures and lockouts go to the audit log."""
    per_pair, per_address = _login_rules()
    bucket = throttle_address(request)
    if len(username) > MAX_USERNAME:  # no such account: counted for the address only
        username, password = "", ""
    address_key = f"pw-addr:{bucket}" if bucket else ""
    if address_key:
        hit = throttle_hit(address_key, per_address)
        if not hit.allowed:
            raise _refuse(address_key, per_address, hit, username="", request=request)
    pair_key = f"pw:{_hashed(_normal_username(username), bucket)}" if username else ""
    if pair_key:
        hit = throttle_hit(pair_key, per_pair)
        if not hit.allowed:
            if address_key:
                throttle_refund(address_key)  # nothing was tried
            raise _refuse(pair_key, per_pair, hit, username=username, request=request)
    user = _check(username, password, backend=backend) if username else None
    if user is not None:
        throttle_clear(pair_key)
        if address_key:
            throttle_refund(address_key)
        return user
    _audit(Action.LOGIN_FAILED, username=username, request=request)
    return None


def _target(username: str) -> User | None:
    """The user a failed sign-in aimed at, if there is one (its audit event goes to its
    organisation's admins)."""
    return User.objects.select_related("org").filter(username=username).first()


def _check(username: str, password: str, *, backend: ModelBackend) -> User | None:
    """ModelBackend's check: the password of an active user (and as much work for a username
    that does not exist, so that timing does not tell which do)."""
    try:
        user = User._default_manager.get_by_natural_key(username)
    except User.DoesNotExist:
        User().set_password(password)
        return None
    if user.check_password(password) and backend.user_can_authenticate(user):
        return user
    return None


class ThrottledModelBackend(ModelBackend):
    """ModelBackend with the throttles above. A refusal raises SignInRefused (a PermissionDenied:
    Django's authenticate() then answers None at once, and the page can say why)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = str(kwargs.get(User.USERNAME_FIELD, "") or "")
        if not username or password is None:
            return None
        return password_check(request, username, password, backend=self)
