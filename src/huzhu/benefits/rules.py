"""Pure rules of member benefits: booking windows, eligibility, validity, quota shards and the
lottery draw.

No ORM and no I/O: typed values in, typed values out, so that anyone can re-run a draw from the
published seed and list of entries and get the same winners.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from django.utils.translation import gettext as _

DRAW_ALGORITHM = "hmac-sha256(seed, str(entry_id)), ascending; then entry_id"


class Window(StrEnum):
    BEFORE = "before"
    OPEN = "open"
    CLOSED = "closed"


def window_state(now: datetime, opens_at: datetime, closes_at: datetime) -> Window:
    """Bookings are taken from `opens_at` (inclusive) to `closes_at` (exclusive)."""
    if now < opens_at:
        return Window.BEFORE
    if now >= closes_at:
        return Window.CLOSED
    return Window.OPEN


def eligibility_problem(
    *, member_unit_path: str, eligible_path: str, member_active: bool, has_active_card: bool
) -> str | None:
    """Why a member may not take part, or None: members of the subtree holding an active card."""
    if not member_active:
        return _("该会员已不在册")
    if not member_unit_path.startswith(eligible_path):
        return _("活动不面向该会员所在的组织")
    if not has_active_card:
        return _("需要一张正常使用的互助服务卡")
    return None


def valid_on(day: date, *, valid_from: date, valid_to: date, booked_day: date | None) -> bool:
    """A voucher is good on its booked day, or on any day of the validity period without one."""
    if booked_day is not None:
        return day == booked_day
    return valid_from <= day <= valid_to


def iso(value: date | None) -> str | None:
    """A day or a moment (a datetime is a date) as the answers give it; None for none."""
    return value.isoformat() if value else None


def draw_key(seed: str, entry_id: int) -> str:
    """An entry's place in the draw: HMAC-SHA256 keyed by the seed, over the entry's id."""
    return hmac.new(seed.encode(), str(entry_id).encode(), hashlib.sha256).hexdigest()


def draw_order(seed: str, entry_ids: Iterable[int]) -> list[int]:
    """The entries in draw order. Depends only on the seed and the set of ids."""
    return sorted(entry_ids, key=lambda i: (draw_key(seed, i), i))


@dataclass(frozen=True)
class Entry:
    id: int
    member: int
    day: date | None = None


@dataclass
class Draw:
    order: list[int]  # every entry id, in draw order
    winners: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)  # in the order they move up
    excluded: list[int] = field(default_factory=list)  # may not win (already won in the group)


def lottery_draw(
    *,
    seed: str,
    entries: Sequence[Entry],
    capacity: int,
    day_capacity: Mapping[date, int] | None = None,
    excluded_members: Iterable[int] = (),
) -> Draw:
    """Allocate `capacity` among `entries` in draw order.

    An entry wins when its member has not won (or booked) in the exclusive group already and both
    the total and its day (when days have quotas) have room left; the other eligible entries form
    the waiting list in draw order.
    """
    if not seed:
        raise ValueError("the seed must not be empty")
    by_id = {e.id: e for e in entries}
    if len(by_id) != len(entries):
        raise ValueError("entry ids must be unique")
    excluded = set(excluded_members)
    days = dict(day_capacity or {})
    left = capacity
    draw = Draw(order=draw_order(seed, by_id))
    for entry_id in draw.order:
        entry = by_id[entry_id]
        if entry.member in excluded:
            draw.excluded.append(entry_id)
            continue
        day_ok = entry.day is None or entry.day not in days or days[entry.day] > 0
        if left > 0 and day_ok:
            draw.winners.append(entry_id)
            excluded.add(entry.member)
            left -= 1
            if entry.day is not None and entry.day in days:
                days[entry.day] -= 1
        else:
            draw.waiting.append(entry_id)
    return draw


# -- quota shards ---------------------------------------------------------------------------------

# An activity's total quota is spread over several rows (shards) so that a flash crowd's bookings
# take places from different rows at once instead of queueing on one: each booking holds its row
# from its claim to its COMMIT, and the commit's flush to disk is the longest part of that.
QUOTA_SHARDS_MAX = 8
QUOTA_PLACES_PER_SHARD = 500  # smaller quotas sell out in moments: one row is enough


def shard_count(size: int) -> int:
    """How many rows a total quota of `size` places is spread over (1 to QUOTA_SHARDS_MAX)."""
    return max(1, min(QUOTA_SHARDS_MAX, size // QUOTA_PLACES_PER_SHARD))


def shard_sizes(size: int, count: int) -> list[int]:
    """`size` places over `count` shards as evenly as possible, the first ones taking the rest."""
    if count < 1 or size < 0:
        raise ValueError("a quota has at least one shard and no negative size")
    each, rest = divmod(size, count)
    return [each + (1 if i < rest else 0) for i in range(count)]


def shards_resized(used: Sequence[int], size: int) -> list[int]:
    """The shards' new sizes when the total becomes `size`: each keeps the places it has given
    out and the free places are shared evenly again."""
    free = size - sum(used)
    if free < 0:
        raise ValueError("the quota cannot go below what is already taken")
    return [u + extra for u, extra in zip(used, shard_sizes(free, len(used)), strict=True)]


def shards_taking(remaining: Sequence[int], places: int) -> list[int]:
    """How many of `places` each shard gives, filling the shards in order (a lottery's winners
    take their places all at once)."""
    if places > sum(remaining):
        raise ValueError("more places taken than the shards have left")
    taken = []
    for left in remaining:
        take = min(max(left, 0), places)
        taken.append(take)
        places -= take
    return taken
