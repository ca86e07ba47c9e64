"""An activity's scarce rows: the shards of its total quota and the quotas of its days, taken
and given back.

Concurrency, pretix-style: only these rows are locked (one shard of the total, then the day),
as late and as briefly as possible, under the short lock timeout of core.locking; a timeout or
deadlock becomes `Busy` ("busy, try again"), never a 500. A CHECK keeps `used <= size` whatever
the code does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from django.db import connection
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huzhu.benefits import rules
from huzhu.benefits.models import Activity, Quota
from huzhu.core import locking
from huzhu.core.errors import Busy, Conflict

# What benefits answers when a scarce row (a quota shard, a booking at the gate) stays locked
# past the short timeout, or keeps filling up under a booking.
BUSY = gettext_lazy("系统繁忙，请稍后重试")

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
MOVE_TRIES = 16  # fresh snapshots before a busy shard is answered as Busy


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
        for _try in range(MOVE_TRIES):
            cur.execute(sql, [activity_id, step])
            moved, had_room = cur.fetchone()
            if moved or not had_room:
                return bool(moved)
    raise Busy(str(BUSY))


def quota_claim(*, activity: Activity, day_quota: Quota | None) -> bool:
    """Take one place of the total and, with per-day quotas, of the day, or none: each UPDATE
    locks its row until commit (the total's shard first, then the day).

    False when there is no room left; the caller's transaction must then roll back.
    """
    if not _move_total(activity.pk, +1):
        return False
    return day_quota is None or bool(
        Quota.objects.filter(pk=day_quota.pk, used__lt=F("size")).update(used=F("used") + 1)
    )


def quota_release(*, activity: Activity, day: date | None) -> None:
    """Give one place back to the total and, with per-day quotas, to the day."""
    _move_total(activity.pk, -1)
    if activity.per_day and day is not None:
        Quota.objects.filter(activity=activity, day=day, used__gt=0).update(used=F("used") - 1)


def quotas_create(
    *, activity: Activity, size: int, shards: int, day_quotas: Mapping[date, int]
) -> None:
    """A new activity's quota rows: `size` places spread over `shards` shards of the total
    (rules.shard_sizes), and a row for each day with its own quota."""
    Quota.objects.bulk_create(
        [
            Quota(activity=activity, day=None, shard=number, size=places)
            for number, places in enumerate(rules.shard_sizes(size, shards))
        ]
        + [Quota(activity=activity, day=day, size=places) for day, places in day_quotas.items()]
    )


def quota_resize(*, activity: Activity, size: int) -> None:
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


def quotas_take(
    *, quotas: Sequence[Quota], places: int, day_places: Mapping[date | None, int]
) -> None:
    """A draw's winners take their places at once: `places` from the shards of the total,
    filling them in order, and `day_places` from the days (`quotas` locked, in lock order)."""
    shards = [q for q in quotas if q.day is None]
    for shard, taken in zip(
        shards, rules.shards_taking([q.remaining for q in shards], places), strict=True
    ):
        if taken:
            Quota.objects.filter(pk=shard.pk).update(used=F("used") + taken)
    for quota in quotas[len(shards) :]:
        taken = day_places.get(quota.day, 0)
        if taken:
            Quota.objects.filter(pk=quota.pk).update(used=F("used") + taken)
