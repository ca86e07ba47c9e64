"""Answers kept for an Idempotency-Key: a retry of a booking gets the first answer, the same
booking or the same definitive refusal; a key sent again with another request is refused."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.benefits.models import Activity, Booking, IdempotencyKey
from huzhu.benefits.selectors import idempotency_key_find
from huzhu.core.errors import DomainError
from huzhu.members.models import Member

# Answers that a retry with the same Idempotency-Key gets again (a Busy is worth retrying).
FINAL_CODES = frozenset(
    {"sold_out", "already_booked_in_group", "already_booked", "window_closed", "not_eligible"}
)


def booking_replay(*, actor: User, key: str, activity: Activity, member: Member) -> Booking | None:
    """The first answer to this key: its booking, or its error raised again. A key sent again
    with another request (another activity, or staff booking for another member) is refused."""
    hit = idempotency_key_find(user=actor, key=key)
    if hit is None:
        return None
    error = hit.error or {}
    first_member = hit.booking.member_id if hit.booking is not None else error.get("member")
    if hit.activity_id != activity.pk or first_member not in (None, member.pk):
        raise DomainError(
            "idempotency_key_reused", _("该 Idempotency-Key 已用于另一个请求"), status=422
        )
    if hit.booking is not None:
        return hit.booking
    raise DomainError(
        error.get("code", "error"),
        error.get("message", ""),
        status=error.get("status", 409),
        **error.get("details", {}),
    )


def refusal_kept(exc: DomainError, member: Member) -> dict[str, object]:
    """A refusal as its key keeps it (and the one-statement booking writes `sold_out`)."""
    return {
        "code": exc.code,
        "message": str(exc.message),
        "status": exc.status,
        "details": exc.details,
        "member": member.pk,
    }


def _remember_error(
    actor: User, key: str, activity: Activity, member: Member, exc: DomainError
) -> None:
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                user=actor, key=key, activity=activity, error=refusal_kept(exc, member)
            )
    except IntegrityError:
        pass  # a concurrent twin with the same key answered first; the caller replays it


def answer_error(
    *, actor: User, key: str | None, activity: Activity, member: Member, exc: DomainError
) -> Booking:
    """A refusal: with a key, the first answer to it if there is one (a concurrent twin may have
    answered), else this refusal, remembered when it is definitive."""
    if not key:
        raise exc
    first = booking_replay(actor=actor, key=key, activity=activity, member=member)
    if first is None and exc.code in FINAL_CODES:
        _remember_error(actor, key, activity, member, exc)
        first = booking_replay(actor=actor, key=key, activity=activity, member=member)
    if first is not None:
        return first
    raise exc
