"""An FCFS booking in one statement (PostgreSQL): the flash crowd's way.

The whole scarce part of an FCFS booking, in one round trip and one short implicit transaction
(a prepared statement that sets its own lock timeout first): replay detection, the claim of a
place from one shard of the total quota, the booking, the answer kept for the Idempotency-Key
(the booking, or `sold_out`) and the audit event. The shard is locked from its pick to the
COMMIT that ends the statement. A member's second booking in a group, or of the activity, fails
on the partial unique indexes and rolls it all back; so does a concurrent twin with the same key
(on the key's unique index). The answers are those of the ORM way (bookings).
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_insert_sql
from huzhu.benefits import shards
from huzhu.benefits.admission import booking_conflict, check_may_book
from huzhu.benefits.idempotency import answer_error, booking_replay, refusal_kept
from huzhu.benefits.models import Activity, Booking, BookingStatus, Mode
from huzhu.core import locking, prepared
from huzhu.core.errors import Busy, Conflict, DomainError
from huzhu.members.models import Member

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
    shards.shard_pick_sql(
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
        action=f"'{Action.BOOKING_CREATE.value}'",
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
    for _try in range(shards.MOVE_TRIES):
        row = prepared.fetchone(_FCFS_STATEMENT, {**params, "lock_timeout": locking.LOCK_TIMEOUT})
        assert row is not None
        booking_id, answered_before, had_room = row[0], row[1], row[2]
        if booking_id is not None or answered_before or not had_room:
            return booking_id, answered_before
    raise Busy(str(shards.BUSY))


def booking_fcfs(*, activity: Activity, member: Member, actor: User, key: str | None) -> Booking:
    """Book an FCFS activity without per-day quotas in one statement (one_statement_booking)."""
    now = timezone.now()
    try:
        check_may_book(activity=activity, member=member, actor=actor, now=now)
    except DomainError as exc:
        return answer_error(actor=actor, key=key, activity=activity, member=member, exc=exc)
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
        "sold_out": json.dumps(refusal_kept(sold_out, member)),
        # only when the statement is its own transaction, never for a caller's
        "relaxed": not connection.in_atomic_block,
    }
    try:
        # Inside a caller's transaction, a savepoint keeps a refusal from aborting it.
        with (
            transaction.atomic() if connection.in_atomic_block else nullcontext(),
            locking.busy_on_lock_failure(shards.BUSY),
        ):
            booking_id, answered_before = _fcfs_statement(params)
    except IntegrityError as exc:
        refusal = booking_conflict(exc, activity, member)
        return answer_error(actor=actor, key=key, activity=activity, member=member, exc=refusal)
    except Busy as exc:
        return answer_error(actor=actor, key=key, activity=activity, member=member, exc=exc)
    if answered_before:
        first = booking_replay(actor=actor, key=key or "", activity=activity, member=member)
        if first is not None:
            return first
    if booking_id is None:
        raise sold_out  # and, with a key, remembered by the statement
    return _booking_made(booking_id, activity=activity, member=member, actor=actor, now=now)


def _booking_made(
    booking_id: int, *, activity: Activity, member: Member, actor: User, now: datetime
) -> Booking:
    """The booking the statement inserted, as the ORM would have made it (no query)."""
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
