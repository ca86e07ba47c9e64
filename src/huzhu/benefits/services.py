"""Writes of member benefits: activities, bookings (FCFS and lottery), cancellation, redemption.

Concurrency, pretix-style: only the scarce rows are locked (one shard of the activity's total
quota, then the day's quota), as late and as briefly as possible, under a short lock
timeout; a timeout or deadlock becomes `Busy` ("busy, try again"), never a 500. Everything that
does not need the lock (eligibility, the booking insert, the audit event) happens before it, so a
booking holds the quota row only from its conditional UPDATE to its COMMIT. The database backs
the code: a CHECK keeps `used <= size` and a partial unique index keeps one live booking per
member and exclusive group, whatever the code does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huzhu.accounts.models import Role, User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.services import audit_insert_sql, audit_record
from huzhu.benefits import rules, vouchers
from huzhu.benefits.models import (
    HOLDING,
    Activity,
    Booking,
    BookingStatus,
    ExclusiveGroup,
    IdempotencyKey,
    Mode,
    Quota,
    Scan,
    ScanResult,
)
from huzhu.benefits.selectors import (
    GATE_ROLES,
    MANAGER_ROLES,
    activity_forget,
    member_hash,
    quota_remaining,
    total_quota,
)
from huzhu.core import bounds, locking, prepared
from huzhu.core.errors import Busy, Conflict, DomainError, Forbidden, NotFound
from huzhu.core.pii import vault
from huzhu.members.models import CardStatus, Member, Organisation

# What benefits answers when a scarce row (a quota shard, a booking at the gate) stays locked
# past the short timeout of core.locking, or keeps filling up under a booking.
BUSY = gettext_lazy("系统繁忙，请稍后重试")


# Answers that a retry with the same Idempotency-Key gets again (a Busy is worth retrying).
_FINAL_CODES = frozenset(
    {"sold_out", "already_booked_in_group", "already_booked", "window_closed", "not_eligible"}
)


# -- locking --------------------------------------------------------------------------------------

# The one lock order of an activity's quota rows: the shards of its total by number, then its
# days by date.
QUOTA_LOCK_ORDER = (F("day").asc(nulls_first=True), "shard")


# Taking a place from (or giving one back to) one shard of the activity's total, on PostgreSQL,
# as CTEs of one statement. `roomy`: the shards that could, as this statement's snapshot sees
# them. `pick` locks exactly one of them: first any that no one holds now, in random order so
# that simultaneous bookings spread over the shards; only when all are held, the first by
# number, waiting for it. The lock is taken on "is one of `roomy`", which a commit cannot
# change, never on the room itself: so a statement never keeps locks on rows it then passes
# over, and waits holding no other shard, which makes deadlocks impossible. Whether the picked
# shard still has room is decided by the UPDATE; when it filled up meanwhile nothing moves and
# the caller runs the statement again on a fresh snapshot (`retry`), until a place is taken or
# no shard has room any more.
_SHARD_PICK = """roomy AS MATERIALIZED (
    SELECT id, shard FROM benefits_quota
    WHERE activity_id = {activity} AND day IS NULL AND {room}{gate}
), pick AS MATERIALIZED (
    SELECT COALESCE(
        (SELECT q.id FROM benefits_quota q WHERE q.id IN (SELECT id FROM roomy)
         ORDER BY random() LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED),
        (SELECT q.id FROM benefits_quota q WHERE q.id IN (SELECT id FROM roomy)
         ORDER BY q.shard LIMIT 1 FOR NO KEY UPDATE)
    ) AS id
), claim AS (
    UPDATE benefits_quota SET used = used + {step}
    WHERE id = (SELECT id FROM pick) AND {room}
    RETURNING id
)"""
_MOVE_TRIES = 16  # fresh snapshots before a busy shard is answered as Busy


def shard_pick_sql(*, activity: str, room: str, step: str, gate: str = "") -> str:
    """The CTEs `roomy`, `pick` and `claim` above for an activity (a parameter or literal), the
    shard's condition and step (bench/flash_crowd.py runs the same under pgbench)."""
    return _SHARD_PICK.format(activity=activity, room=room, step=step, gate=gate)


def _move_total(activity_id: int, step: int) -> bool:
    """Take (+1) or give back (-1) one place of the activity's total, from one of its shards.

    False when no shard can (all full, or all empty); Busy when shards kept filling up under
    this statement's pick. SQLite needs no pick: the UPDATE holds the database's write lock."""
    room = "used < size" if step > 0 else "used > 0"
    with connection.cursor() as cur:
        if connection.vendor != "postgresql":
            cur.execute(
                f"UPDATE benefits_quota SET used = used + %s WHERE id = ("
                f"SELECT id FROM benefits_quota WHERE activity_id = %s AND day IS NULL "
                f"AND {room} ORDER BY shard LIMIT 1)",
                [step, activity_id],
            )
            return cur.rowcount == 1
        sql = (
            f"WITH {shard_pick_sql(activity='%s', room=room, step='%s')} "
            "SELECT EXISTS (SELECT FROM claim), EXISTS (SELECT FROM roomy)"
        )
        for _try in range(_MOVE_TRIES):
            cur.execute(sql, [activity_id, step])
            moved, had_room = cur.fetchone()
            if moved or not had_room:
                return bool(moved)
    raise Busy(str(BUSY))


def _claim(activity: Activity, day_quota: Quota | None) -> bool:
    """Take one place of the total and, with per-day quotas, of the day, or none: each UPDATE
    locks its row until commit (the total's shard first, then the day).

    False when there is no room left; the caller's transaction must then roll back.
    """
    if not _move_total(activity.pk, +1):
        return False
    return day_quota is None or bool(
        Quota.objects.filter(pk=day_quota.pk, used__lt=F("size")).update(used=F("used") + 1)
    )


def _release(activity: Activity, day: date | None) -> None:
    _move_total(activity.pk, -1)
    if activity.per_day and day is not None:
        Quota.objects.filter(activity=activity, day=day, used__gt=0).update(used=F("used") - 1)


def _day_quota(activity: Activity, day: date | None) -> Quota | None:
    """The quota of a day of use, read without a lock (only the claim's UPDATE decides)."""
    if not activity.per_day or day is None:
        return None
    return Quota.objects.filter(activity=activity, day=day).first()


# -- activities -----------------------------------------------------------------------------------


def _check_manager(actor: User | None, org: Organisation) -> None:
    if actor is None:
        return
    if actor.role not in MANAGER_ROLES:
        raise Forbidden("forbidden", _("只有工会工作人员可以管理活动"))
    if not org.path.startswith(staff_scope_path(actor)):
        raise Forbidden("forbidden", _("超出本单位管理范围"))


def _check_dates(
    *, opens_at: datetime, closes_at: datetime, valid_from: date, valid_to: date
) -> None:
    bounds.check_moment(opens_at, "opens_at")
    bounds.check_moment(closes_at, "closes_at")
    bounds.parse_date(valid_from, "valid_from")
    bounds.parse_date(valid_to, "valid_to")
    if closes_at <= opens_at:
        raise DomainError("invalid_window", _("截止预约时间须晚于开始时间"), field="closes_at")
    if valid_to < valid_from:
        raise DomainError("invalid_validity", _("使用截止日期须不早于开始日期"), field="valid_to")


# The columns' lengths: longer text is a 400 naming the field, not the database's error.
_TEXT_LIMITS = {"title": 200, "venue": 200, "group": 100, "seed": 200}


def _check_texts(**texts: str | None) -> None:
    for name, text in texts.items():
        if text is not None and len(text) > _TEXT_LIMITS[name]:
            raise DomainError(
                "too_long",
                _("%(field)s 最多 %(max)s 个字符") % {"field": name, "max": _TEXT_LIMITS[name]},
                field=name,
            )


def activity_create(
    *,
    actor: User | None,
    title: str,
    venue: str,
    quota: int,
    opens_at: datetime,
    closes_at: datetime,
    valid_from: date,
    valid_to: date,
    eligible_org: Organisation,
    mode: str = Mode.FCFS,
    group: str | None = None,
    description: str = "",
    day_quotas: Mapping[date, int] | None = None,
    shards: int | None = None,
) -> Activity:
    """A new activity for `eligible_org`'s subtree, organised by the actor's organisation, with
    its own voucher signing key (private half sealed by the PII vault).

    The total quota is spread over `shards` rows (by default as rules.shard_count says).
    """
    _check_manager(actor, eligible_org)
    if mode not in Mode.values:
        raise DomainError("invalid_mode", _("分配方式须为 fcfs 或 lottery"), field="mode")
    quota = bounds.parse_quota(quota, "quota", minimum=1)
    shards = rules.shard_count(quota) if shards is None else shards
    if not 1 <= shards <= min(quota, rules.QUOTA_SHARDS_MAX):
        raise DomainError("invalid_shards", _("名额分片数不合理"), field="shards")
    if not title.strip() or not venue.strip():
        raise DomainError("required", _("名称和场所不能为空"), field="title")
    _check_texts(title=title, venue=venue, group=group)
    _check_dates(opens_at=opens_at, closes_at=closes_at, valid_from=valid_from, valid_to=valid_to)
    for day, size in (day_quotas or {}).items():
        if not valid_from <= day <= valid_to or bounds.quota_problem(size, minimum=1):
            raise DomainError(
                "invalid_day_quota",
                _("按日名额须在有效期内且为正数"),
                field="day_quotas",
                day=day.isoformat(),
                max=bounds.MAX_QUOTA,
            )
    organiser = actor.org if actor is not None and actor.org is not None else eligible_org
    private, public = vouchers.keypair_new()
    with transaction.atomic():
        exclusive = None
        if group and group.strip():
            exclusive, _created = ExclusiveGroup.objects.get_or_create(
                organiser=organiser, name=group.strip()
            )
        activity = Activity.objects.create(
            title=title.strip(),
            venue=venue.strip(),
            description=description,
            organiser=organiser,
            eligible_org=eligible_org,
            group=exclusive,
            mode=mode,
            opens_at=opens_at,
            closes_at=closes_at,
            valid_from=valid_from,
            valid_to=valid_to,
            per_day=bool(day_quotas),
            public_key=base64.b64encode(public).decode(),
            private_key_cipher=vault().encrypt(base64.b64encode(private).decode()),
            created_by=actor,
        )
        Quota.objects.bulk_create(
            [
                Quota(activity=activity, day=None, shard=number, size=size)
                for number, size in enumerate(rules.shard_sizes(quota, shards))
            ]
            + [
                Quota(activity=activity, day=day, size=size)
                for day, size in (day_quotas or {}).items()
            ]
        )
        audit_record(
            actor=actor,
            action="activity.create",
            obj=activity,
            org_path=eligible_org.path,
            quota=quota,
            mode=mode,
        )
    return activity


def activity_update(
    *,
    activity: Activity,
    actor: User | None,
    title: str | None = None,
    venue: str | None = None,
    description: str | None = None,
    quota: int | None = None,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> Activity:
    """Change an activity; the quota may not go below what is already taken."""
    _check_manager(actor, activity.organiser)
    if quota is not None:
        quota = bounds.parse_quota(quota, "quota")
    _check_texts(title=title, venue=venue)
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "title": title,
            "venue": venue,
            "description": description,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "valid_from": valid_from,
            "valid_to": valid_to,
        }.items()
        if v is not None
    }
    with transaction.atomic(), locking.short_locks(BUSY):
        for name, value in changes.items():
            setattr(activity, name, value)
        _check_dates(
            opens_at=activity.opens_at,
            closes_at=activity.closes_at,
            valid_from=activity.valid_from,
            valid_to=activity.valid_to,
        )
        activity.save()
        if quota is not None:
            _resize_total(activity, quota)
            changes["quota"] = quota
        audit_record(
            actor=actor,
            action="activity.update",
            obj=activity,
            org_path=activity.eligible_org.path,
            **{k: str(v) for k, v in changes.items()},
        )
    activity_forget(activity.pk)
    return activity


def _resize_total(activity: Activity, size: int) -> None:
    """Give the total `size` places: each shard keeps what it has given out, the free places are
    shared evenly again. Locks the shards (in order) until commit."""
    shards = locking.locked_rows(
        Quota.objects.filter(activity=activity, day__isnull=True), order_by=("shard",)
    )
    used = sum(q.used for q in shards)
    if size < used:
        raise Conflict("quota_below_used", _("名额不能少于已预约数"), used=used)
    for shard, new_size in zip(
        shards, rules.shards_resized([q.used for q in shards], size), strict=True
    ):
        shard.size = new_size
    Quota.objects.bulk_update(shards, ["size"])


# -- bookings -------------------------------------------------------------------------------------


def _replay(actor: User, key: str, activity: Activity, member: Member) -> Booking | None:
    """The first answer to this key: its booking, or its error raised again. A key sent again
    with another request (another activity, or staff booking for another member) is refused."""
    hit = IdempotencyKey.objects.select_related("booking").filter(user=actor, key=key).first()
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


def _remember_error(
    actor: User, key: str, activity: Activity, member: Member, exc: DomainError
) -> None:
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                user=actor,
                key=key,
                activity=activity,
                error={
                    "code": exc.code,
                    "message": str(exc.message),
                    "status": exc.status,
                    "details": exc.details,
                    "member": member.pk,
                },
            )
    except IntegrityError:
        pass  # a concurrent twin with the same key answered first; the caller replays it


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
    key = (idempotency_key or "").strip()[:128] or None
    if one_statement_booking(activity):
        return _booking_fcfs(activity=activity, member=member, actor=actor, key=key)
    if key and (first := _replay(actor, key, activity, member)) is not None:
        return first
    try:
        return _booking_create(activity=activity, member=member, actor=actor, key=key, day=day)
    except DomainError as exc:
        return _answer_error(actor, key, activity, member, exc)


def _answer_error(
    actor: User, key: str | None, activity: Activity, member: Member, exc: DomainError
) -> Booking:
    """A refusal: with a key, the first answer to it if there is one (a concurrent twin may have
    answered), else this refusal, remembered when it is definitive."""
    if key:
        if (first := _replay(actor, key, activity, member)) is not None:
            return first
        if exc.code in _FINAL_CODES:
            _remember_error(actor, key, activity, member, exc)
            if (first := _replay(actor, key, activity, member)) is not None:
                return first
    raise exc


def _check_may_book(*, activity: Activity, member: Member, actor: User, now: datetime) -> None:
    if actor.role == Role.MEMBER:
        if actor.member_id != member.pk:
            raise Forbidden("forbidden", _("会员只能为本人预约"))
    elif actor.role not in MANAGER_ROLES:
        raise Forbidden("forbidden", _("只有工会工作人员可以管理活动"))
    elif not member.unit.path.startswith(staff_scope_path(actor)):
        raise NotFound("member")
    state = rules.window_state(now, activity.opens_at, activity.closes_at)
    if state is not rules.Window.OPEN:
        raise Conflict(
            "window_closed",
            _("尚未开始预约") if state is rules.Window.BEFORE else _("预约已截止"),
            opens_at=activity.opens_at.isoformat(),
            closes_at=activity.closes_at.isoformat(),
        )
    problem = rules.eligibility_problem(
        member_unit_path=member.unit.path,
        eligible_path=activity.eligible_org.path,
        member_active=member.is_active,
        has_active_card=_has_active_card(member),
    )
    if problem:
        raise Forbidden("not_eligible", _("不符合参加条件：%(why)s") % {"why": problem})


def _has_active_card(member: Member) -> bool:
    known = getattr(member, "has_active_card", None)  # selectors.member_for_booking
    if known is not None:
        return bool(known)
    return member.cards.filter(status=CardStatus.ACTIVE).exists()


def _booking_create(
    *, activity: Activity, member: Member, actor: User, key: str | None, day: date | None
) -> Booking:
    now = timezone.now()
    _check_may_book(activity=activity, member=member, actor=actor, now=now)
    if activity.per_day:
        if day is None:
            raise DomainError("day_required", _("请选择使用日期"), field="day")
    else:
        day = None
    day_quota = _day_quota(activity, day)
    if activity.per_day and day_quota is None:
        raise DomainError("invalid_day", _("该日期不可预约"), field="day")
    lottery = activity.mode == Mode.LOTTERY
    if lottery:
        if activity.drawn_at is not None:
            raise Conflict("window_closed", _("已摇号，报名结束"))
        if (
            activity.group_id
            and Booking.objects.filter(
                member=member, group_id=activity.group_id, status__in=HOLDING
            ).exists()
        ):
            raise Conflict("already_booked_in_group", _("您已预约同组的其他活动"))
    elif quota_remaining(activity) <= 0 or (day_quota is not None and day_quota.remaining <= 0):
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
                action="booking.register" if lottery else "booking.create",
                obj=booking,
                org_path=member.unit.path,
                activity=activity.pk,
            )
            # Last, so the scarce rows stay locked only from here to COMMIT.
            if not lottery and not _claim(activity, day_quota):
                raise Conflict("sold_out", _("名额已约满"))
    except IntegrityError as exc:
        raise _booking_conflict(exc, activity) from None
    return booking


def _booking_conflict(exc: IntegrityError, activity: Activity) -> DomainError:
    text = str(exc)
    if "benefits_one_booking_per_group" in text or (
        "benefits_one_live_booking_per_activity" in text and activity.group_id
    ):
        return Conflict("already_booked_in_group", _("每名会员同组活动只能选取一项"))
    if "benefits_one_live_booking_per_activity" in text:
        return Conflict("already_booked", _("您已预约该活动"))
    if "benefits_idempotency_unique" in text:
        return Busy(_("相同请求正在处理，请稍后重试"))
    if "benefits_quota_not_oversold" in text:
        return Conflict("sold_out", _("名额已约满"))
    if getattr(exc.__cause__, "sqlstate", None) == "23503":
        return NotFound("activity")  # deleted meanwhile (foreign keys are checked at commit)
    # SQLite names no constraint: tell the cases apart by what is in the table.
    return Conflict(
        "already_booked_in_group" if activity.group_id else "already_booked", _("您已预约该活动")
    )


# -- FCFS in one statement (PostgreSQL) ----------------------------------------------------------

# The whole scarce part of an FCFS booking, in one round trip and one short implicit
# transaction (a prepared statement that sets its own lock timeout first): replay detection, the
# claim of a place from one shard of the total quota, the booking, the answer kept for the
# Idempotency-Key (the booking, or `sold_out`) and the audit event. The shard is locked from its
# pick to the COMMIT that ends the statement. A member's second booking in a group, or of the
# activity, fails on the partial unique indexes and rolls it all back; so does a concurrent twin
# with the same key (on the key's unique index).
_FCFS_STATEMENT = """
WITH patience AS MATERIALIZED (
    -- the lock timeout, set before the pick below can wait for a shard: that condition is
    -- evaluated once, before any row is locked
    SELECT set_config('lock_timeout', %(lock_timeout)s::text, true) AS lock_timeout
), prev AS (
    SELECT FROM benefits_idempotencykey
    WHERE user_id = %(user)s::bigint AND key = %(key)s::text
), {shard}, booking AS (
    INSERT INTO benefits_booking (activity_id, member_id, group_id, day, status, created_at,
                                  created_by_id, booked_at, redeemed_gate)
    SELECT %(activity)s::bigint, %(member)s::bigint, %(group)s::bigint, NULL, 'booked',
           %(now)s::timestamptz, %(user)s::bigint, %(now)s::timestamptz, ''
    FROM claim
    RETURNING id
), answer AS (
    INSERT INTO benefits_idempotencykey (user_id, key, activity_id, booking_id, error, created_at)
    SELECT %(user)s::bigint, %(key)s::text, %(activity)s::bigint, booking.id,
           CASE WHEN booking.id IS NULL THEN %(sold_out)s::jsonb END, %(now)s::timestamptz
    FROM (SELECT) AS one LEFT JOIN booking ON true
    WHERE %(key)s::text IS NOT NULL AND NOT EXISTS (SELECT FROM prev)
      -- `sold_out` only when no shard had room: a shard that filled under the pick is retried
      AND (booking.id IS NOT NULL OR NOT EXISTS (SELECT FROM roomy))
), audit AS (
    {audit}
    FROM booking
)
SELECT booking.id, EXISTS (SELECT FROM prev), EXISTS (SELECT FROM roomy),
       -- A refusal changed nothing but its remembered answer: its commit need not wait for the
       -- disk (lost in a crash, the retry is answered afresh). A booking's always does.
       CASE WHEN booking.id IS NULL AND %(relaxed)s::boolean
            THEN set_config('synchronous_commit', 'off', true) END
FROM (SELECT) AS one LEFT JOIN booking ON true
"""


_FCFS_STATEMENT = _FCFS_STATEMENT.replace(
    "{shard}",
    shard_pick_sql(
        activity="%(activity)s::bigint",
        room="used < size",
        step="1",
        # the lock timeout is set before any shard is locked; a replay locks none
        gate="\n      AND NOT EXISTS (SELECT FROM prev)"
        "\n      AND (SELECT lock_timeout FROM patience) IS NOT NULL",
    ),
).replace(
    "{audit}",
    audit_insert_sql(
        at="%(now)s::timestamptz",
        actor="%(user)s::bigint",
        actor_label="%(username)s::text",
        action="'booking.create'",
        object_type=f"'{Booking._meta.label_lower}'",
        object_id="id::text",
        org_path="%(org_path)s::text",
        reason="''",
        data="%(audit)s::jsonb",
    ),
)


def one_statement_booking(activity: Activity) -> bool:
    """FCFS without per-day quotas, on PostgreSQL."""
    return activity.mode == Mode.FCFS and not activity.per_day and connection.vendor == "postgresql"


def _fcfs_statement(params: dict[str, Any]) -> tuple[int | None, bool]:
    """(the new booking's id or None, whether the key was answered before). None with a key
    not answered before means sold out (and remembered so); Busy when the shards kept filling
    up under the statement's pick."""
    for _try in range(_MOVE_TRIES):
        row = prepared.fetchone(_FCFS_STATEMENT, {**params, "lock_timeout": locking.LOCK_TIMEOUT})
        assert row is not None
        booking_id, answered_before, had_room = row[0], row[1], row[2]
        if booking_id is not None or answered_before or not had_room:
            return booking_id, answered_before
    raise Busy(str(BUSY))


def _booking_fcfs(*, activity: Activity, member: Member, actor: User, key: str | None) -> Booking:
    now = timezone.now()
    try:
        _check_may_book(activity=activity, member=member, actor=actor, now=now)
    except DomainError as exc:
        return _answer_error(actor, key, activity, member, exc)
    sold_out = Conflict("sold_out", _("名额已约满"))
    params = {
        "user": actor.pk,
        "key": key,
        "activity": activity.pk,
        "member": member.pk,
        "group": activity.group_id,
        "now": now,
        "username": actor.username,
        "org_path": member.unit.path,
        "audit": json.dumps({"activity": activity.pk}),
        "sold_out": json.dumps(
            {
                "code": sold_out.code,
                "message": str(sold_out.message),
                "status": 409,
                "details": {},
                "member": member.pk,
            }
        ),
        # only when the statement is its own transaction, never for a caller's
        "relaxed": not connection.in_atomic_block,
    }
    try:
        # Inside a caller's transaction, a savepoint keeps a refusal from aborting it.
        with (
            transaction.atomic() if connection.in_atomic_block else nullcontext(),
            locking.busy_on_lock_failure(BUSY),
        ):
            booking_id, answered_before = _fcfs_statement(params)
    except IntegrityError as exc:
        return _answer_error(actor, key, activity, member, _booking_conflict(exc, activity))
    except Busy as exc:
        return _answer_error(actor, key, activity, member, exc)
    if answered_before:
        first = _replay(actor, key or "", activity, member)
        if first is not None:
            return first
    if booking_id is None:
        raise sold_out  # and, with a key, remembered by the statement
    booking = Booking(
        pk=booking_id,
        activity=activity,
        member=member,
        group_id=activity.group_id,
        day=None,
        status=BookingStatus.BOOKED,
        created_at=now,
        created_by=actor,
        booked_at=now,
    )
    booking._state.adding = False
    booking._state.db = connection.alias
    return booking


def booking_cancel(*, booking: Booking, actor: User | None) -> Booking:
    """Cancel before use. A booked unit returns to the quota and, after a lottery, goes to the
    first on the waiting list who can still take it."""
    if actor is not None and actor.role == Role.MEMBER and actor.member_id != booking.member_id:
        raise NotFound("booking")
    with transaction.atomic(), locking.short_locks(BUSY):
        # its activity's row too, which a draw locks first: a cancel and a draw take turns
        booking = locking.locked_row(
            Booking.objects.select_related("activity"), booking.pk, of_self=False
        )
        if booking.status == BookingStatus.REDEEMED:
            raise Conflict(
                "already_redeemed",
                _("凭证已使用，不能取消"),
                redeemed_at=_iso(booking.redeemed_at),
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
            action="booking.cancel",
            obj=booking,
            org_path=booking.member.unit.path,
            returned=held,
        )
        if held:
            activity = booking.activity
            _release(activity, booking.day)
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
                if not _claim(activity, _day_quota(activity, candidate.day)):
                    raise _NoRoom()  # this entry's day is full; the next one may fit
        except IntegrityError:
            # Booked in the same exclusive group meanwhile: this entry can no longer win.
            Booking.objects.filter(pk=candidate.pk).update(status=BookingStatus.LOST)
            continue
        except _NoRoom:
            continue
        candidate.refresh_from_db()
        audit_record(
            actor=None, action="booking.promote", obj=candidate, org_path=activity.eligible_org.path
        )
        return candidate


class _NoRoom(Exception):
    pass


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# -- lottery --------------------------------------------------------------------------------------


def lottery_draw(*, activity: Activity, seed: str, actor: User | None) -> dict[str, Any]:
    """Draw after the window with a published seed. Drawing again with the same seed returns the
    same result; anyone can re-run `rules.lottery_draw` on the published entries to check it."""
    _check_manager(actor, activity.organiser)
    seed = seed.strip()
    if not seed:
        raise DomainError("seed_required", _("请提供摇号种子"), field="seed")
    _check_texts(seed=seed)
    if activity.mode != Mode.LOTTERY:
        raise DomainError("not_lottery", _("该活动不是摇号活动"))
    if timezone.now() < activity.closes_at:
        raise Conflict("window_open", _("报名截止后才能摇号"))
    with transaction.atomic(), locking.short_locks(BUSY):
        # Lock order: the activity, its exclusive group, its quota rows, then its entries.
        activity = locking.locked_row(Activity.objects.all(), activity.pk)
        if activity.drawn_at is not None:
            if activity.draw_seed != seed:
                raise Conflict("already_drawn", _("已用另一个种子摇号"), seed=activity.draw_seed)
            return dict(activity.draw_result or {})
        if activity.group_id:
            locking.locked_row(ExclusiveGroup.objects.all(), activity.group_id)
        quotas = locking.locked_rows(
            Quota.objects.filter(activity=activity), order_by=QUOTA_LOCK_ORDER
        )
        entries = [
            rules.Entry(id=b.pk, member=b.member_id, day=b.day)
            for b in locking.locked_rows(
                Booking.objects.filter(activity=activity, status=BookingStatus.REGISTERED).only(
                    "id", "member_id", "day"
                )
            )
        ]
        excluded: set[int] = set()
        if activity.group_id:
            excluded = set(
                Booking.objects.filter(group_id=activity.group_id, status__in=HOLDING).values_list(
                    "member_id", flat=True
                )
            )
        shards = [q for q in quotas if q.day is None]
        capacity = sum(q.remaining for q in shards)
        draw = rules.lottery_draw(
            seed=seed,
            entries=entries,
            capacity=capacity,
            day_capacity={q.day: q.remaining for q in quotas if q.day is not None},
            excluded_members=excluded,
        )
        now = timezone.now()
        rank = {entry_id: i + 1 for i, entry_id in enumerate(draw.order)}
        by_id = {e.id: e for e in entries}
        updates = []
        for ids, status in (
            (draw.winners, BookingStatus.BOOKED),
            (draw.waiting, BookingStatus.WAITLISTED),
            (draw.excluded, BookingStatus.LOST),
        ):
            for entry_id in ids:
                updates.append(
                    Booking(
                        pk=entry_id,
                        status=status,
                        lottery_rank=rank[entry_id],
                        booked_at=now if status == BookingStatus.BOOKED else None,
                    )
                )
        Booking.objects.bulk_update(
            updates, ["status", "lottery_rank", "booked_at"], batch_size=1000
        )
        taking = rules.shards_taking([q.remaining for q in shards], len(draw.winners))
        for shard, taken in zip(shards, taking, strict=True):
            if taken:
                Quota.objects.filter(pk=shard.pk).update(used=F("used") + taken)
        for quota in quotas[len(shards) :]:
            taken = sum(1 for w in draw.winners if by_id[w].day == quota.day)
            if taken:
                Quota.objects.filter(pk=quota.pk).update(used=F("used") + taken)
        result = {
            "seed": seed,
            "algorithm": rules.DRAW_ALGORITHM,
            "drawn_at": now.isoformat(),
            "capacity": capacity,
            "entries": draw.order,
            "winners": draw.winners,
            "waiting": draw.waiting,
            "excluded": draw.excluded,
        }
        activity.draw_seed, activity.drawn_at, activity.draw_result = seed, now, result
        activity.save(update_fields=["draw_seed", "drawn_at", "draw_result"])
        audit_record(
            actor=actor,
            action="activity.draw",
            obj=activity,
            org_path=activity.eligible_org.path,
            seed=seed,
            entries=len(entries),
            winners=len(draw.winners),
        )
    return result


# -- vouchers -------------------------------------------------------------------------------------


def _private_key(activity: Activity) -> bytes:
    return base64.b64decode(vault().decrypt(activity.private_key_cipher))


def public_key(activity: Activity) -> bytes:
    return base64.b64decode(activity.public_key)


def voucher_code(booking: Booking) -> str:
    """The signed QR content of a booking that holds quota; cancelled or undrawn ones have none."""
    if booking.status not in HOLDING:
        if booking.status == BookingStatus.CANCELLED:
            raise Conflict("voucher_cancelled", _("预约已取消，凭证作废"))
        raise Conflict("no_voucher", _("尚未获得名额"))
    return _signed_code(booking)


def voucher_short_code(booking: Booking) -> str:
    """The voucher's short code (凭证短码, 10 characters a person can read out), given the first
    time the voucher is shown and the same ever after. Only a booking that holds quota has one."""
    voucher_code(booking)  # the same refusals as the QR
    if booking.short_code:
        return booking.short_code
    for _attempt in range(5):
        code = vouchers.short_code_new()
        try:
            with transaction.atomic():
                Booking.objects.filter(pk=booking.pk, short_code__isnull=True).update(
                    short_code=code
                )
        except IntegrityError:
            continue  # another voucher holds it (one chance in 10^9): draw again
        booking.refresh_from_db(fields=["short_code"])
        if booking.short_code:
            return booking.short_code
    raise RuntimeError("no free short code after 5 draws")


def _signed_code(booking: Booking) -> str:
    activity = booking.activity
    data = vouchers.VoucherData(
        activity=activity.pk,
        booking=booking.pk,
        member=member_hash(booking.member),
        valid_from=activity.valid_from,
        valid_to=activity.valid_to,
        day=booking.day,
    )
    return vouchers.encode(data, _private_key(activity))


# -- redemption -----------------------------------------------------------------------------------


@dataclass
class ScanOutcome:
    result: str
    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == ScanResult.REDEEMED


_STATUS = {
    ScanResult.REDEEMED: 200,
    ScanResult.ALREADY_REDEEMED: 409,
    ScanResult.INVALID_CODE: 400,
    ScanResult.CANCELLED: 409,
    ScanResult.NOT_VALID_TODAY: 409,
}
_MESSAGES = {
    ScanResult.REDEEMED: gettext_lazy("核销成功"),
    ScanResult.ALREADY_REDEEMED: gettext_lazy("凭证已使用"),
    ScanResult.INVALID_CODE: gettext_lazy("无效的凭证"),
    ScanResult.CANCELLED: gettext_lazy("预约已取消，凭证作废"),
    ScanResult.NOT_VALID_TODAY: gettext_lazy("凭证不在有效期内"),
}


def _outcome(result: str, **body: Any) -> ScanOutcome:
    return ScanOutcome(
        result=result,
        status=_STATUS[ScanResult(result)],
        body={"result": result, "message": str(_MESSAGES[ScanResult(result)]), **body},
    )


def code_digest(code: str) -> str:
    """What a scan keeps of the code it was sent, to tell a retry from another code under the
    same nonce: 128 bits of its SHA-256."""
    return hashlib.sha256(code.encode()).hexdigest()[:32]


def redemption_scan(
    *,
    code: str,
    gate: str,
    actor: User,
    nonce: str = "",
    scanned_at: datetime | None = None,
    offline: bool = False,
) -> ScanOutcome:
    """Redeem a voucher once. Every scan is logged, failed ones too, and every scan of a booking
    is in the audit log; a retried scan (the same login, code and nonce) gets the first answer.
    Offline scans carry the time the gate saw them."""
    if actor.role not in GATE_ROLES:
        raise Forbidden("forbidden", _("只有核销员可以核销"))
    gate = gate.strip()[:64]
    if not gate:
        raise DomainError("gate_required", _("请填写闸口"), field="gate")
    nonce = nonce.strip()[:64]
    code = _full_code(code.strip())
    digest = code_digest(code)
    if nonce and (first := _first_scan(actor, nonce, digest)) is not None:
        return _replayed(first)
    scanned_at = scanned_at or timezone.now()
    try:
        with transaction.atomic(), locking.short_locks(BUSY):
            outcome, activity, booking = _redeem(
                code=code, gate=gate, actor=actor, scanned_at=scanned_at
            )
            _scan_log(
                actor=actor,
                gate=gate,
                nonce=nonce,
                digest=digest,
                scanned_at=scanned_at,
                offline=offline,
                activity=activity,
                booking=booking,
                outcome=outcome,
            )
    except IntegrityError:
        # A twin of this scan (same login, nonce and code) committed first; its answer is the
        # answer.
        first = _first_scan(actor, nonce, digest) if nonce else None
        if first is None:
            raise
        return _replayed(first)
    return outcome


def _full_code(code: str) -> str:
    """A short code typed at the gate stands for its voucher's full code, and is redeemed
    exactly as that (INTERFACES "Vouchers a person can read out"); any other text is taken as
    a full code. An unknown short code stays as typed, and is refused as an invalid code."""
    short = vouchers.short_code_read(code)
    if short is None:
        return code
    booking = Booking.objects.select_related("activity", "member").filter(short_code=short).first()
    return _signed_code(booking) if booking is not None else short


def _first_scan(actor: User, nonce: str, digest: str) -> Scan | None:
    """The scan this login made of this code under this nonce (one unique-index probe)."""
    return Scan.objects.filter(user=actor, nonce=nonce, code_digest=digest).first()


# The scan's log row and, for a scan of a booking, its audit event, in one statement (one round
# trip on the gate's hot path, as the scan alone took).
_SCAN_STATEMENT = """
WITH scan AS (
    INSERT INTO benefits_scan (at, scanned_at, gate, user_id, nonce, code_digest, offline,
                               activity_id, booking_id, result, response)
    VALUES (%(now)s::timestamptz, %(scanned_at)s::timestamptz, %(gate)s::text,
            %(user)s::bigint, %(nonce)s::text, %(digest)s::text, %(offline)s::boolean,
            %(activity)s::bigint, %(booking)s::bigint, %(result)s::text, %(response)s::jsonb)
    RETURNING id
), audit AS (
    {audit}
    FROM scan
    WHERE %(booking)s::bigint IS NOT NULL
)
SELECT id FROM scan
""".replace(
    "{audit}",
    audit_insert_sql(
        at="%(now)s::timestamptz",
        actor="%(user)s::bigint",
        actor_label="%(username)s::text",
        action="'booking.redeem'",
        object_type=f"'{Booking._meta.label_lower}'",
        object_id="%(booking)s::bigint::text",
        org_path="%(org_path)s::text",
        reason="''",
        data="%(audit)s::jsonb",
    ),
)


def _scan_log(
    *,
    actor: User,
    gate: str,
    nonce: str,
    digest: str,
    scanned_at: datetime,
    offline: bool,
    activity: Activity | None,
    booking: Booking | None,
    outcome: ScanOutcome,
) -> None:
    audit: dict[str, Any] = {"result": outcome.result, "gate": gate, "offline": offline}
    org_path = booking.member.unit.path if booking is not None else ""
    if connection.vendor == "postgresql":
        prepared.fetchone(
            _SCAN_STATEMENT,
            {
                "now": timezone.now(),
                "scanned_at": scanned_at,
                "gate": gate,
                "user": actor.pk,
                "nonce": nonce,
                "digest": digest,
                "offline": offline,
                "activity": activity.pk if activity is not None else None,
                "booking": booking.pk if booking is not None else None,
                "result": outcome.result,
                "response": json.dumps(outcome.body, ensure_ascii=False),
                "username": actor.username,
                "org_path": org_path,
                "audit": json.dumps(audit, ensure_ascii=False),
            },
        )
        return
    Scan.objects.create(
        scanned_at=scanned_at,
        gate=gate,
        user=actor,
        nonce=nonce,
        code_digest=digest,
        offline=offline,
        activity=activity,
        booking=booking,
        result=outcome.result,
        response=outcome.body,
    )
    if booking is not None:
        audit_record(actor=actor, action="booking.redeem", obj=booking, org_path=org_path, **audit)


def _replayed(scan: Scan) -> ScanOutcome:
    return ScanOutcome(
        result=scan.result,
        status=_STATUS[ScanResult(scan.result)],
        body={**scan.response, "replayed": True},
    )


def _redeem(
    *, code: str, gate: str, actor: User, scanned_at: datetime
) -> tuple[ScanOutcome, Activity | None, Booking | None]:
    try:
        # the organiser in the same query: the scope check below reads its path
        activity = (
            Activity.objects.select_related("organiser")
            .filter(pk=vouchers.peek_activity(code))
            .first()
        )
        if activity is None:
            raise vouchers.InvalidVoucher("unknown activity")
        data = vouchers.decode(code, public_key(activity))
    except vouchers.InvalidVoucher as exc:
        return _outcome(ScanResult.INVALID_CODE, reason=str(exc)), None, None
    scope = staff_scope_path(actor)
    if not (activity.organiser.path.startswith(scope) or scope.startswith(activity.organiser.path)):
        return (
            _outcome(ScanResult.INVALID_CODE, reason="another organiser's voucher"),
            activity,
            None,
        )
    booking = (
        Booking.objects.select_related("member__unit")
        .filter(pk=data.booking, activity=activity)
        .first()
    )
    if booking is None or member_hash(booking.member) != data.member:
        return _outcome(ScanResult.INVALID_CODE, reason="no such booking"), activity, None
    about = {
        "booking": booking.pk,
        "activity": activity.pk,
        "title": activity.title,
        "member_name": booking.member.name,
        "day": _iso_date(booking.day),
    }
    if booking.status not in HOLDING:
        return _outcome(ScanResult.CANCELLED, **about), activity, booking
    if booking.status == BookingStatus.REDEEMED:
        # A used voucher says when and where it was used on any day: a second scan outside its
        # validity is a double use too, not merely "not valid today".
        return _already_redeemed(booking, about), activity, booking
    today = timezone.localdate(scanned_at)
    if not rules.valid_on(
        today, valid_from=data.valid_from, valid_to=data.valid_to, booked_day=data.day
    ):
        return (
            _outcome(
                ScanResult.NOT_VALID_TODAY,
                valid_from=_iso_date(data.valid_from),
                valid_to=_iso_date(data.valid_to),
                **about,
            ),
            activity,
            booking,
        )
    redeemed = Booking.objects.filter(pk=booking.pk, status=BookingStatus.BOOKED).update(
        status=BookingStatus.REDEEMED, redeemed_at=scanned_at, redeemed_gate=gate
    )
    if redeemed:
        return (
            _outcome(ScanResult.REDEEMED, redeemed_at=scanned_at.isoformat(), gate=gate, **about),
            activity,
            booking,
        )
    booking.refresh_from_db(fields=["status", "redeemed_at", "redeemed_gate"])
    if booking.status == BookingStatus.REDEEMED:
        return _already_redeemed(booking, about), activity, booking
    return _outcome(ScanResult.CANCELLED, **about), activity, booking


def _already_redeemed(booking: Booking, about: dict[str, Any]) -> ScanOutcome:
    return _outcome(
        ScanResult.ALREADY_REDEEMED,
        redeemed_at=_iso(booking.redeemed_at),
        gate=booking.redeemed_gate,
        **about,
    )


def _iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class OfflineScan:
    code: str
    scanned_at: datetime
    nonce: str = ""


def redemption_upload(*, gate: str, scans: Sequence[OfflineScan], actor: User) -> list[ScanOutcome]:
    """An offline gate's scans, uploaded later: redeemed in the order they were made, each as if
    scanned then, answered in the order given. A voucher used elsewhere first comes back as
    `already_redeemed`, with when and where it was used, and counts as a double use."""
    for i, scan in enumerate(scans):
        bounds.check_moment(scan.scanned_at, f"scans[{i}].scanned_at")
    results: list[ScanOutcome | None] = [None] * len(scans)
    for i in sorted(range(len(scans)), key=lambda i: scans[i].scanned_at):
        s = scans[i]
        results[i] = redemption_scan(
            code=s.code,
            gate=gate,
            actor=actor,
            nonce=s.nonce,
            scanned_at=s.scanned_at,
            offline=True,
        )
    return [r for r in results if r is not None]


def revocations(activity: Activity) -> dict[str, list[int]]:
    """What an offline gate must refuse besides bad signatures: cancelled and used vouchers."""
    rows = (
        Booking.objects.filter(activity=activity)
        .filter(
            Q(status=BookingStatus.REDEEMED)
            | Q(status__in=[BookingStatus.CANCELLED, BookingStatus.LOST], booked_at__isnull=False)
        )
        .values_list("pk", "status")
    )
    return {
        "cancelled": sorted(pk for pk, s in rows if s != BookingStatus.REDEEMED),
        "redeemed": sorted(pk for pk, s in rows if s == BookingStatus.REDEEMED),
    }
