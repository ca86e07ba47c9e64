"""Writes for logins and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from huzhu.accounts.models import STAFF_ROLES, ApiToken, Role, User
from huzhu.accounts.throttle import client_address, login_locked_until
from huzhu.audit.services import audit_record
from huzhu.core.errors import Conflict, DomainError, NotFound
from huzhu.members.models import Organisation


def staff_create(
    *,
    username: str,
    password: str,
    org_code: str,
    role: str,
    actor: User | None = None,
    check_password: bool = True,
) -> User:
    """A staff login at an organisation. Superuser rights (the Django admin) go to city admins."""
    if role not in STAFF_ROLES:
        raise DomainError("invalid_role", f"unknown staff role {role!r}", field="role")
    org = Organisation.objects.filter(code=org_code).first()
    if org is None:
        raise NotFound(f"organisation {org_code}")
    if User.objects.filter(username=username).exists():
        raise Conflict("duplicate_username", f"user {username} exists", field="username")
    if check_password:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise DomainError("weak_password", " ".join(exc.messages), field="password") from None
    with transaction.atomic():
        user = User(
            username=username,
            role=role,
            org=org,
            is_staff=True,
            is_superuser=role == Role.CITY_ADMIN and org.parent_id is None,
        )
        user.set_password(password)
        user.save()
        audit_record(actor=actor, action="staff.create", obj=user, org_path=org.path, role=role)
    return user


def _hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_issue(*, username: str, password: str, request: HttpRequest | None = None) -> str:
    """A new bearer token for valid credentials (only its hash is kept). Failed attempts are
    counted per account and address; a locked one gets 429."""
    address = client_address(request)
    locked = login_locked_until(username, address)
    if locked is not None:
        raise DomainError(
            "too_many_attempts",
            "too many failed sign-ins; try again later",
            status=429,
            retry_after=locked.isoformat(),
        )
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise DomainError("invalid_credentials", "wrong username or password", status=401)
    key = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, key_hash=_hash_token(key))
    return key


def token_user(key: str) -> User | None:
    token = (
        ApiToken.objects.select_related("user", "user__org")
        .filter(key_hash=_hash_token(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    return token.user


def token_revoke(key: str) -> bool:
    return bool(
        ApiToken.objects.filter(key_hash=_hash_token(key), revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )
