"""Logins tied to the roster (登录): staff logins at an organisation, the bearer-token lookup
that brings a login's organisation, member record and card in one query, and a member's
sign-in with a one-time code by SMS.

They read organisations and members, so they live here, above `accounts` (users, tokens and
their throttles), which imports nothing of the roster.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import ApiToken, OneTimeCode, Role, User
from huzhu.accounts.policy import STAFF_ROLES
from huzhu.accounts.services import TOKEN_TOUCH_EVERY, credentials_stamp, hash_token
from huzhu.accounts.throttle import Rule, throttle_hit, throttle_refused_until
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import prepared
from huzhu.core.errors import Conflict, DomainError, NotFound
from huzhu.core.pii import mask_phone, vault
from huzhu.core.sms import send_sms
from huzhu.members import rules as member_rules
from huzhu.members.models import Card, CardStatus, Member, Organisation

_M = TypeVar("_M", bound=Model)

OTP_LIFETIME = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
OTP_RESEND_AFTER = timedelta(seconds=60)
# The window of the hourly limits on code requests (HUZHU_SMS_PER_*).
SMS_WINDOW = timedelta(hours=1)


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
        raise DomainError(
            "invalid_role", _("未知的工作人员角色 %(role)s") % {"role": repr(role)}, field="role"
        )
    org = Organisation.objects.filter(code=org_code).first()
    if org is None:
        raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": org_code})
    if User.objects.filter(username=username).exists():
        raise Conflict(
            "duplicate_username",
            _("用户 %(username)s 已存在") % {"username": username},
            field="username",
        )
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
        audit_record(
            actor=actor, action=Action.STAFF_CREATE, obj=user, org_path=org.path, role=role
        )
    return user


@functools.cache
def _token_lookup() -> str:
    """SQL of the bearer-token lookup, built once from the models (every API call runs it).

    The card status is written into the SQL, not passed as a parameter: so PostgreSQL can plan
    the prepared statement once (a generic plan using the partial index of active cards). With
    the status as a parameter it judged the generic plan worse and planned every execution
    again, which cost more than running it (0.72 ms of server CPU per call against 0.15)."""

    def cols(model: type[Model], alias: str) -> str:
        return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)

    user, org, member, card = (m._meta.db_table for m in (User, Organisation, Member, Card))
    active = CardStatus.ACTIVE.value
    assert active.isalnum()  # a literal in the SQL below
    return f"""
        SELECT {cols(User, "u")}, {cols(Organisation, "o")}, {cols(Member, "m")},
               {cols(Organisation, "mu")},
               EXISTS (SELECT 1 FROM {card} c
                       WHERE c.member_id = u.member_id AND c.status = '{active}'),
               t.id, t.stamp, t.created_at, t.last_used_at
        FROM {ApiToken._meta.db_table} t
        JOIN {user} u ON u.id = t.user_id
        LEFT JOIN {org} o ON o.id = u.org_id
        LEFT JOIN {member} m ON m.id = u.member_id
        LEFT JOIN {org} mu ON mu.id = m.unit_id
        WHERE t.key_hash = %s AND t.revoked_at IS NULL
    """


def _from_row(model: type[_M], row: Sequence[Any], start: int) -> tuple[_M | None, int]:
    fields = model._meta.concrete_fields
    end = start + len(fields)
    values = row[start:end]
    if values[0] is None:  # the LEFT JOIN found nothing
        return None, end
    return model.from_db(connection.alias, [f.attname for f in fields], values), end


def _moment(value: Any) -> datetime:
    """A timestamp as the raw cursor gives it (SQLite: text or naive, in UTC), made aware."""
    if isinstance(value, str):
        value = parse_datetime(value)
    assert isinstance(value, datetime)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def token_user(key: str) -> User | None:
    """The active login of a bearer token, in one indexed query (prepared, no ORM work): with
    its organisation (staff), or its member record, the member's unit and whether the member
    holds an active card (`has_active_card`, as selectors.member_for_booking gives it).

    None for a token revoked, unused for HUZHU_TOKEN_IDLE_DAYS, issued more than
    HUZHU_TOKEN_MAX_DAYS ago, or issued before its user's password, role or organisation
    changed (then it is marked revoked). `last_used_at` is written at most every
    TOKEN_TOUCH_EVERY, so that a busy client does not write on every call."""
    row = prepared.fetchone(_token_lookup(), [hash_token(key)])
    if row is None:
        return None
    user, i = _from_row(User, row, 0)
    org, i = _from_row(Organisation, row, i)
    member, i = _from_row(Member, row, i)
    unit, i = _from_row(Organisation, row, i)
    has_card, token_id, stamp, created_raw, used_raw = row[i : i + 5]
    if user is None or not user.is_active:
        return None
    now = timezone.now()
    created = _moment(created_raw)
    used = _moment(used_raw) if used_raw is not None else created
    if created <= now - timedelta(days=settings.HUZHU_TOKEN_MAX_DAYS):
        return None
    if used <= now - timedelta(days=settings.HUZHU_TOKEN_IDLE_DAYS):
        return None
    if not hmac.compare_digest(str(stamp), credentials_stamp(user)):
        ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=now)
        return None
    if used_raw is None or now - used >= TOKEN_TOUCH_EVERY:
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
    User._meta.get_field("org").set_cached_value(user, org)
    User._meta.get_field("member").set_cached_value(user, member)
    if member is not None:
        Member._meta.get_field("unit").set_cached_value(member, unit)
        member.has_active_card = bool(has_card)  # type: ignore[attr-defined]
    return user


def _otp_phone(phone: str) -> tuple[str, str]:
    """(normalised phone, its keyed hash), or DomainError for what is no mainland mobile."""
    value = member_rules.normalize_phone(phone or "")
    if member_rules.phone_problem(value):
        raise DomainError("invalid_phone", _("请输入正确的11位手机号码"), field="phone")
    return value, vault().lookup_hash(value)


def _otp_code_hash(phone_hash: str, code: str) -> str:
    return vault().lookup_hash(f"otp|{phone_hash}|{code}")


def _member_for_phone(phone_hash: str) -> Member | None:
    """The one active member with this phone; None when there is none, or more than one."""
    found = list(Member.objects.filter(phone_hash=phone_hash, is_active=True)[:2])
    return found[0] if len(found) == 1 else None


def _sms_limit(key: str, rule: Rule, code: str, message: str, *, audit: bool, **data: str) -> None:
    """Count one code request under `key`; 429 `code` past the rule's limit (audited, if
    `audit`, when first reached: a sign of SMS bombing or pumping)."""
    hit = throttle_hit(key, rule)
    if hit.allowed:
        return
    if audit and hit.first_refusal:
        limit = key.split(":", 1)[0]
        audit_record(actor=AnonymousUser(), action=Action.SMS_LIMITED, limit=limit, **data)
    until = throttle_refused_until(key, rule)
    raise DomainError(code, message, status=429, field="phone", retry_after=until.isoformat())


def otp_request(*, phone: str, address: str = "") -> bool:
    """Send a sign-in code to a phone on the roster.

    Every valid phone is treated alike as far as anyone asking can tell, so that the form does
    not reveal who is a member: the same limits (per asking address, per phone, for the whole
    city, counted before the roster is read), a code row (sent by SMS to a member; for anyone
    else never sent and matching no code), the same answers. Returns whether a code was sent:
    for tests, never for the person."""
    value, phone_hash = _otp_phone(phone)
    masked = mask_phone(value)
    if address:
        _sms_limit(
            f"sms-addr:{address}",
            Rule(settings.HUZHU_SMS_PER_ADDRESS, SMS_WINDOW),
            "too_many_requests",
            _("此网络获取验证码过于频繁，请稍后再试"),
            audit=True,
            address=address,
        )
    _sms_limit(
        f"sms-gap:{phone_hash}",
        Rule(1, OTP_RESEND_AFTER),
        "too_soon",
        _("验证码已发送，请稍候一分钟再重新获取"),
        audit=False,  # a second tap on "send"
    )
    _sms_limit(
        f"sms-phone:{phone_hash}",
        Rule(settings.HUZHU_SMS_PER_PHONE, SMS_WINDOW),
        "too_soon",
        _("该手机号获取验证码次数过多，请一小时后再试"),
        audit=True,
        phone=masked,
    )
    _sms_limit(
        "sms-all",
        Rule(settings.HUZHU_SMS_PER_HOUR, SMS_WINDOW),
        "sms_busy",
        _("短信服务繁忙，请稍后再试"),
        audit=True,
    )
    member = _member_for_phone(phone_hash)
    code = f"{secrets.randbelow(1_000_000):06d}"
    with transaction.atomic():
        OneTimeCode.objects.create(
            phone_hash=phone_hash,
            # Not a member: a row like a member's, whose code nobody has and no code matches.
            code_hash=_otp_code_hash(phone_hash, code) if member else secrets.token_hex(32),
            expires_at=timezone.now() + OTP_LIFETIME,
        )
        if member is not None:
            text = _(
                "【职工互助】您的登录验证码是 %(code)s，5分钟内有效。如非本人操作，请忽略。"
            ) % {"code": code}
            transaction.on_commit(lambda: send_sms(value, text))
    return member is not None


def otp_sign_in(*, phone: str, code: str) -> User:
    """The member login for a phone and the code just sent to it (created on first sign-in).
    A code lives five minutes, allows five tries and works once. Wrong codes are audited as
    failed sign-ins, the try that uses up a code as a lockout."""
    value, phone_hash = _otp_phone(phone)
    now = timezone.now()
    with transaction.atomic():
        otp = (
            OneTimeCode.objects.select_for_update()
            .filter(phone_hash=phone_hash, used_at__isnull=True)
            .order_by("-created_at", "-id")
            .first()
        )
        if otp is None or otp.expires_at <= now:
            raise DomainError("code_expired", _("验证码已失效，请重新获取"), field="code")
        if otp.attempts >= OTP_MAX_ATTEMPTS:
            raise DomainError(
                "too_many_attempts", _("错误次数过多，请重新获取验证码"), field="code"
            )
        good = hmac.compare_digest(otp.code_hash, _otp_code_hash(phone_hash, code.strip()))
        if good:
            otp.used_at = now
            otp.save(update_fields=["used_at"])
        else:
            otp.attempts += 1
            otp.save(update_fields=["attempts"])
            audit_record(
                actor=AnonymousUser(), action=Action.LOGIN_FAILED, obj=otp, phone=mask_phone(value)
            )
            if otp.attempts >= OTP_MAX_ATTEMPTS:  # this code is used up
                audit_record(
                    actor=AnonymousUser(),
                    action=Action.LOGIN_LOCKED,
                    obj=otp,
                    phone=mask_phone(value),
                )
    # Outside the block above: a wrong try must be counted, not rolled back with the error.
    if not good:
        raise DomainError("wrong_code", _("验证码不正确"), field="code")
    member = _member_for_phone(phone_hash)
    if member is None:
        raise DomainError("not_member", _("该手机号没有对应的会员，请联系所在工会"), field="phone")
    return member_login(member=member)


def member_login(*, member: Member) -> User:
    """The login of a member, created the first time (no password: it signs in by SMS code)."""
    with transaction.atomic():
        user = User.objects.select_for_update().filter(member=member).first()
        if user is None:
            user = User(username=f"m{member.pk}", role=Role.MEMBER, member=member)
            user.set_unusable_password()
            user.save()
            audit_record(
                actor=None, action=Action.MEMBER_LOGIN_CREATE, obj=user, org_path=member.unit.path
            )
    if not user.is_active:
        raise DomainError("inactive", _("该账号已停用，请联系所在工会"), status=403)
    return user
