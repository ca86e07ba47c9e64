"""Bookings: taken (FCFS) or registered for a lottery, and cancelled before use.

An FCFS booking without per-day quotas on PostgreSQL is one statement (booking_statement);
every other booking takes the ORM way below, with the same answers. Everything that does not
need a lock (eligibility, the booking insert, the audit event) happens before the quota's, so a
booking holds its shard only from its conditional UPDATE to its COMMIT. A partial unique index
keeps one live booking per member and exclusive group, whatever the code does.
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import Role, User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.benefits import rules
from huzhu.benefits.admission import booking_conflict, check_may_book, group_refusal
from huzhu.benefits.booking_statement import booking_fcfs, one_statement_booking
from huzhu.benefits.idempotency import answer_error, booking_replay
from huzhu.benefits.models import Activity, Booking, BookingStatus, IdempotencyKey, Mode
from huzhu.benefits.selectors import day_quota, member_holds_in_group, quota_remaining, total_quota
from huzhu.benefits.shards import BUSY, quota_claim, quota_release
from huzhu.core import locking, metrics
from huzhu.core.errors import Conflict, DomainError, NotFound
from huzhu.members.models import Member


def booking_create(
    *,
    activity: Activity,
    member: Member,
    actor: User,
    idempotency_key: str | None = None,
    day: date | None = None,
) -> Booking:
    """Book (FCFS) or register for the lottery. With an idempotency key, a retry gets the first
    answer: the same booking, or the same definitive error."""
    try:
        booking = _booking_answer(activity, member, actor, idempotency_key, day)
    except DomainError as exc:
        metrics.BOOKINGS.labels(exc.code).inc()
        raise
    metrics.BOOKINGS.labels("booked").inc()
    return booking


def _booking_answer(
    activity: Activity,
    member: Member,
    actor: User,
    idempotency_key: str | None,
    day: date | None,
) -> Booking:
    key = (idempotency_key or "").strip()[:128] or None
    if one_statement_booking(activity):
        return booking_fcfs(activity=activity, member=member, actor=actor, key=key)
    if key:
        first = booking_replay(actor=actor, key=key, activity=activity, member=member)
        if first is not None:
            return first
    try:
        return _booking_create(activity=activity, member=member, actor=actor, key=key, day=day)
    except DomainError as exc:
        return answer_error(actor=actor, key=key, activity=activity, member=member, exc=exc)


def _booking_create(
    *, activity: Activity, member: Member, actor: User, key: str | None, day: date | None
) -> Booking:
    now = timezone.now()
    check_may_book(activity=activity, member=member, actor=actor, now=now)
    if activity.per_day:
        if day is None:
            raise DomainError("day_required", _("请选择使用日期"), field="day")
    else:
        day = None
    of_day = day_quota(activity, day)
    if activity.per_day and of_day is None:
        raise DomainError("invalid_day", _("该日期不可预约"), field="day")
    lottery = activity.mode == Mode.LOTTERY
    if lottery:
        if activity.drawn_at is not None:
            raise Conflict("window_closed", _("已摇号，报名结束"))
        if activity.group_id and member_holds_in_group(member, activity.group_id):
            raise group_refusal(member, activity)
    elif quota_remaining(activity) <= 0 or (of_day is not None and of_day.remaining <= 0):
        # Read without a lock: once sold out, a flash crowd is answered without touching locks.
        raise Conflict("sold_out", _("名额已约满"))
    try:
        with transaction.atomic(), locking.short_locks(BUSY):
            booking = Booking.objects.create(
                activity=activity,
                member=member,
                group_id=activity.group_id,
                day=day,
                status=BookingStatus.REGISTERED if lottery else BookingStatus.BOOKED,
                booked_at=None if lottery else now,
                created_by=actor,
            )
            if key:
                IdempotencyKey.objects.create(
                    user=actor, key=key, activity=activity, booking=booking
                )
            audit_record(
                actor=actor,
                action=Action.BOOKING_REGISTER if lottery else Action.BOOKING_CREATE,
                obj=booking,
                org_path=member.unit.path,
                activity=activity.pk,
            )
            # Last, so the scarce rows stay locked only from here to COMMIT.
            if not lottery and not quota_claim(activity=activity, day_quota=of_day):
                raise Conflict("sold_out", _("名额已约满"))
    except IntegrityError as exc:
        raise booking_conflict(exc, activity, member) from None
    return booking


def booking_cancel(*, booking: Booking, actor: User | None) -> Booking:
    """Cancel before use. A booked unit returns to the quota and, after a lottery, goes to the
    first on the waiting list who can still take it."""
    if actor is not None and actor.role == Role.MEMBER and actor.member_id != booking.member_id:
        raise NotFound(pgettext("未找到", "预约"))
    with transaction.atomic(), locking.short_locks(BUSY):
        # its activity's row too, which a draw locks first: a cancel and a draw take turns
        booking = locking.locked_row(
            Booking.objects.select_related("activity"), booking.pk, of_self=False
        )
        if booking.status == BookingStatus.REDEEMED:
            raise Conflict(
                "already_redeemed",
                _("凭证已使用，不能取消"),
                redeemed_at=rules.iso(booking.redeemed_at),
                gate=booking.redeemed_gate,
            )
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.LOST):
            return booking
        held = booking.status == BookingStatus.BOOKED
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = timezone.now()
        booking.save(update_fields=["status", "cancelled_at"])
        audit_record(
            actor=actor,
            action=Action.BOOKING_CANCEL,
            obj=booking,
            org_path=booking.member.unit.path,
            returned=held,
        )
        if held:
            activity = booking.activity
            quota_release(activity=activity, day=booking.day)
            if activity.mode == Mode.LOTTERY and activity.drawn_at is not None:
                _promote_waiting(activity)
    return booking


def _promote_waiting(activity: Activity) -> Booking | None:
    """Give free quota to the first on the waiting list who can take it (in draw order)."""
    tried: list[int] = []
    while True:
        waiting = locking.locked_rows(
            Booking.objects.filter(activity=activity, status=BookingStatus.WAITLISTED).exclude(
                pk__in=tried
            ),
            order_by=("lottery_rank", "id"),
            limit=1,
        )
        if not waiting:
            return None
        candidate = waiting[0]
        tried.append(candidate.pk)
        if total_quota(activity).remaining <= 0:
            return None
        try:
            with transaction.atomic():
                Booking.objects.filter(pk=candidate.pk).update(
                    status=BookingStatus.BOOKED, booked_at=timezone.now()
                )
                if not quota_claim(activity=activity, day_quota=day_quota(activity, candidate.day)):
                    raise _NoRoom()  # this entry's day is full; the next one may fit
        except IntegrityError:
            # Booked in the same exclusive group meanwhile: this entry can no longer win.
            Booking.objects.filter(pk=candidate.pk).update(status=BookingStatus.LOST)
            continue
        except _NoRoom:
            continue
        candidate.refresh_from_db()
        audit_record(
            actor=None,
            action=Action.BOOKING_PROMOTE,
            obj=candidate,
            org_path=activity.eligible_org.path,
        )
        return candidate


class _NoRoom(Exception):
    pass
