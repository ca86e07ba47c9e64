"""Writes for API tokens: issued for valid credentials, bound to them, revoked.

Logins that read the roster (staff at an organisation, the token lookup with its member and
card, members' SMS sign-in) are in `huzhu.members.logins`: `accounts` imports no app above it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import ApiToken, User
from huzhu.accounts.throttle import (
    SignInRefused,
    ThrottledModelBackend,
)
from huzhu.core.errors import DomainError

# How stale a token's `last_used_at` may get before a call writes it again.
TOKEN_TOUCH_EVERY = timedelta(minutes=5)


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def credentials_stamp(user: User) -> str:
    """What a token is bound to: the user's password (its hash), role and organisation. A
    token whose stamp differs from its user's was issued before one of them changed, however
    it changed (a form, the admin, a script), and no longer works."""
    text = f"huzhu.token\x00{user.password}\x00{user.role}\x00{user.org_id or ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def token_create(*, user: User) -> str:
    """A new bearer token of `user` (only its hash is kept)."""
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    ApiToken.objects.create(
        user=user, key_hash=hash_token(key), stamp=credentials_stamp(user), last_used_at=now
    )
    return key


def token_issue(*, username: str, password: str, request: HttpRequest | None = None) -> str:
    """A new bearer token for valid credentials. Sign-in is throttled per (account, address)
    pair and per address (accounts.throttle); a refused one gets 429 and when to try again."""
    try:
        user = ThrottledModelBackend().authenticate(request, username=username, password=password)
    except SignInRefused as refused:
        raise DomainError(
            "too_many_attempts",
            _("登录失败次数过多，请稍后再试"),
            status=429,
            retry_after=refused.until.isoformat(),
        ) from None
    if user is None:
        raise DomainError("invalid_credentials", _("用户名或密码错误"), status=401)
    return token_create(user=user)


def token_revoke(key: str) -> bool:
    return bool(
        ApiToken.objects.filter(key_hash=hash_token(key), revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


# -- member sign-in with a one-time code by SMS ---------------------------------------------------
