"""Reads of member benefits: what a caller may see or book, and the figures of an activity."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import date
from typing import cast

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import Permission, roles
from huzhu.accounts.selectors import staff_scope_path
from huzhu.benefits.models import (
    HOLDING,
    Activity,
    Booking,
    BookingStatus,
    IdempotencyKey,
    Mode,
    Quota,
    Scan,
    ScanResult,
)
from huzhu.core.errors import Forbidden, NotFound
from huzhu.members.models import Card, CardStatus, Member

# Staff who run activities (create, change, draw, book for members of their subtree).
MANAGER_ROLES = roles(Permission.ACTIVITY_MANAGE)
# Staff who may scan vouchers at a gate.
GATE_ROLES = roles(Permission.VOUCHER_REDEEM)


def path_prefixes(path: str) -> list[str]:
    """`/1/5/23/` → [`/1/`, `/1/5/`, `/1/5/23/`]: the organisations whose subtree holds `path`."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def activities_for_member(member: Member) -> QuerySet[Activity]:
    """Activities open to the member's organisation (closed ones too: booking them says so)."""
    return Activity.objects.filter(eligible_org__path__in=path_prefixes(member.unit.path))


def activities_for_staff(user: User) -> QuerySet[Activity]:
    """Activities organised in, or open to, the staff user's subtree."""
    scope = staff_scope_path(user)
    return Activity.objects.filter(
        Q(organiser__path__startswith=scope) | Q(eligible_org__path__startswith=scope)
    )


def activities_visible_to(user: User, *, current_only: bool = False) -> QuerySet[Activity]:
    """What the user may see; `current_only` leaves out, for members, what has closed."""
    if user.role == Role.MEMBER:
        if user.member is None:
            return Activity.objects.none()
        qs = activities_for_member(user.member)
        return qs.filter(closes_at__gt=timezone.now()) if current_only else qs
    return activities_for_staff(user)


def _total_of(field: str) -> Subquery:
    """The sum of `field` over the activity's total-quota shards."""
    return Subquery(
        Quota.objects.filter(activity=OuterRef("pk"), day__isnull=True)
        .values("activity")
        .annotate(total=Sum(field))
        .values("total"),
        output_field=IntegerField(),
    )


def with_total_quota(qs: QuerySet[Activity]) -> QuerySet[Activity]:
    """Annotate the total quota (`quota_size`, `quota_used`, summed over its shards): lists show
    what remains, and a booking's unlocked sold-out check needs no query of its own."""
    return qs.select_related("eligible_org", "organiser", "group").annotate(
        quota_size=_total_of("size"), quota_used=_total_of("used")
    )


def member_for_booking(user: User) -> Member:
    """The member login's member with its unit and whether it holds an active card: as the
    bearer-token lookup loaded it with the login, else in one query."""
    loaded = user.member if User.member.is_cached(user) else None
    if loaded is not None and hasattr(loaded, "has_active_card"):
        return loaded
    if user.member_id is None:
        raise NotFound(pgettext("未找到", "会员"))
    return (
        Member.objects.select_related("unit")
        .annotate(
            has_active_card=Exists(
                Card.objects.filter(member=OuterRef("pk"), status=CardStatus.ACTIVE)
            )
        )
        .get(pk=user.member_id)
    )


def activity_get(*, user: User, activity_id: int, member: Member | None = None) -> Activity:
    """An activity the user may see (`member`: the member login's record, already loaded)."""
    qs = activities_for_member(member) if member is not None else activities_visible_to(user)
    activity = with_total_quota(qs).filter(pk=activity_id).first()
    if activity is None:
        raise NotFound(pgettext("未找到", "活动"))
    return activity


# What a booking reads of an FCFS activity (its window, eligible organisation, group, mode) is
# read 40,000 times in a flash crowd and changes rarely: each process keeps it this long. An
# edit is seen at once by the process that made it (activity_forget), by others within this.
ACTIVITY_CACHE_SECONDS = 2.0
_activity_cache: dict[int, tuple[float, Activity]] = {}


def activity_forget(activity_id: int | None = None) -> None:
    """Drop an activity (or all) from this process's booking cache."""
    if activity_id is None:
        _activity_cache.clear()
    else:
        _activity_cache.pop(activity_id, None)


def activity_for_booking(*, user: User, activity_id: int, member: Member) -> Activity:
    """The activity a member login books: `activity_get`, but an FCFS activity without day
    quotas comes from the short per-process cache. Its quota is not part of it: the booking's
    conditional UPDATE reads that. Lotteries are always read fresh (a draw closes them)."""
    now = time.monotonic()
    hit = _activity_cache.get(activity_id)
    if hit is not None and hit[0] > now:
        activity = hit[1]
    else:
        found = (
            Activity.objects.select_related("eligible_org", "organiser", "group")
            .filter(pk=activity_id)
            .first()
        )
        if found is None:
            raise NotFound(pgettext("未找到", "活动"))
        activity = found
        if activity.mode != Mode.FCFS or activity.per_day:
            return activity_get(user=user, activity_id=activity_id, member=member)
        if len(_activity_cache) > 1000:
            _activity_cache.clear()
        _activity_cache[activity_id] = (now + ACTIVITY_CACHE_SECONDS, activity)
    if not member.unit.path.startswith(activity.eligible_org.path):
        # as activities_for_member: not offered to this member
        raise NotFound(pgettext("未找到", "活动"))
    return activity


def activity_managed_by(*, user: User, activity_id: int) -> Activity:
    """An activity the staff user may manage: organised within the user's subtree."""
    if user.role not in MANAGER_ROLES:
        raise Forbidden("forbidden", _("只有工会工作人员可以管理活动"))
    activity = (
        Activity.objects.select_related("eligible_org", "organiser", "group")
        .filter(pk=activity_id, organiser__path__startswith=staff_scope_path(user))
        .first()
    )
    if activity is None:
        raise NotFound(pgettext("未找到", "活动"))
    return activity


@dataclass(frozen=True)
class TotalQuota:
    """An activity's total quota: the sum of its shards."""

    size: int
    used: int

    @property
    def remaining(self) -> int:
        return self.size - self.used


def _summed(shards: list[Quota]) -> TotalQuota:
    return TotalQuota(size=sum(q.size for q in shards), used=sum(q.used for q in shards))


def total_quota(activity: Activity) -> TotalQuota:
    return _summed(list(Quota.objects.filter(activity=activity, day__isnull=True)))


def quota_remaining(activity: Activity) -> int:
    """Places left in the total, read without a lock: as annotated by with_total_quota (no
    query), else summed from the shards."""
    size, used = getattr(activity, "quota_size", None), getattr(activity, "quota_used", None)
    if size is None or used is None:
        return total_quota(activity).remaining
    return int(size) - int(used)


def day_quota(activity: Activity, day: date | None) -> Quota | None:
    """The quota of a day of use, read without a lock (only the claim's UPDATE decides)."""
    if not activity.per_day or day is None:
        return None
    return Quota.objects.filter(activity=activity, day=day).first()


def remaining_by_activity(ids: list[int]) -> dict[int, int]:
    rows = (
        Quota.objects.filter(activity_id__in=ids, day__isnull=True)
        .values("activity_id")
        .annotate(size=Sum("size"), used=Sum("used"))
        .values_list("activity_id", "size", "used")
    )
    return {a: size - used for a, size, used in rows}


PLACES_CACHE_SECONDS = 1


def places_left() -> dict[int, dict[str, int]]:
    """Places left (`remaining`) of the `quota` of every activity still taking bookings, by id,
    as the benefits page polls them. The same for every member, so read at most once a second
    per app server (Django's cache, in the process by default): a crowd of phones waiting for
    the opening costs one query a second, not one a phone. Not for deciding a booking: the
    booking's own statement decides."""
    cached = cache.get("benefits:places_left")
    if cached is not None:
        return cast(dict[int, dict[str, int]], cached)
    rows = (
        Quota.objects.filter(day__isnull=True, activity__closes_at__gt=timezone.now())
        .values("activity_id")
        .annotate(size=Sum("size"), used=Sum("used"))
        .values_list("activity_id", "size", "used")
    )
    places = {a: {"remaining": size - used, "quota": size} for a, size, used in rows}
    cache.set("benefits:places_left", places, PLACES_CACHE_SECONDS)
    return places


def _booking_scope_path(user: User) -> str:
    """Staff who run activities see the bookings of their subtree's members. Other staff see
    none: a voucher read by a gate or a station operator could be redeemed by them."""
    scope = staff_scope_path(user)
    if user.role not in MANAGER_ROLES:
        raise Forbidden("forbidden", _("只有工会工作人员可以查看会员的预约"))
    return scope


def booking_visible(*, user: User, booking_id: int) -> Booking:
    """A member's own booking, or (activity staff) one of a member in the user's subtree."""
    qs = Booking.objects.select_related("activity", "member", "member__unit")
    if user.role == Role.MEMBER:
        qs = qs.filter(member_id=user.member_id or -1)
    else:
        qs = qs.filter(member__unit__path__startswith=_booking_scope_path(user))
    booking = qs.filter(pk=booking_id).first()
    if booking is None:
        raise NotFound(pgettext("未找到", "预约"))
    return booking


def bookings_visible(user: User) -> QuerySet[Booking]:
    qs = Booking.objects.select_related("activity", "member")
    if user.role == Role.MEMBER:
        return qs.filter(member_id=user.member_id or -1)
    return qs.filter(member__unit__path__startswith=_booking_scope_path(user))


def member_has_active_card(member: Member) -> bool:
    """As member_for_booking annotated it (no query), else asked."""
    known = getattr(member, "has_active_card", None)
    if known is not None:
        return bool(known)
    return member.cards.filter(status=CardStatus.ACTIVE).exists()


def member_holds_in_group(member: Member, group_id: int) -> bool:
    """Whether the member holds (or is registered for) a place in the exclusive group."""
    return Booking.objects.filter(member=member, group_id=group_id, status__in=HOLDING).exists()


def members_holding_in_group(group_id: int) -> set[int]:
    """The members holding (or registered for) a place in the exclusive group."""
    return set(
        Booking.objects.filter(group_id=group_id, status__in=HOLDING).values_list(
            "member_id", flat=True
        )
    )


def idempotency_key_find(*, user: User, key: str) -> IdempotencyKey | None:
    """The first answer given to this login's Idempotency-Key, with its booking."""
    return IdempotencyKey.objects.select_related("booking").filter(user=user, key=key).first()


def booking_by_short_code(short_code: str) -> Booking | None:
    """The booking of a voucher's short code, with what its signed code needs."""
    return (
        Booking.objects.select_related("activity", "member").filter(short_code=short_code).first()
    )


def scan_first(*, user: User, nonce: str, digest: str) -> Scan | None:
    """The scan this login made of this code under this nonce (one unique-index probe)."""
    return Scan.objects.filter(user=user, nonce=nonce, code_digest=digest).first()


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


def member_hash(member: Member) -> str:
    """The member as a voucher names it: a keyed hash of the member's record, independent of
    the personal-data key so that rotating that key leaves issued vouchers valid."""
    key = hashlib.sha256(b"huzhu-voucher-member:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, str(member.pk).encode(), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class ActivityStats:
    quota: int
    booked: int  # holding quota now: booked and not yet used, or redeemed
    redeemed: int
    remaining: int
    registered: int
    waitlisted: int
    cancelled: int
    no_shows: int  # booked, never redeemed, and the validity period is over
    scans: int
    double_uses: int
    days: list[dict[str, object]]


def activity_stats(activity: Activity, *, today: date | None = None) -> ActivityStats:
    today = today or timezone.localdate()
    counts = dict(
        Booking.objects.filter(activity=activity)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    quotas = list(Quota.objects.filter(activity=activity).order_by("day", "shard"))
    total = _summed([q for q in quotas if q.day is None])
    # A no-show holds a voucher whose day (or whole validity period) is over, never used.
    over = Q(day__lt=today)
    if activity.valid_to < today:
        over |= Q(day__isnull=True)
    no_shows = Booking.objects.filter(activity=activity, status=BookingStatus.BOOKED).filter(over)
    scans = Scan.objects.filter(activity=activity).aggregate(
        n=Count("id"), double=Count("id", filter=Q(result=ScanResult.ALREADY_REDEEMED))
    )
    return ActivityStats(
        quota=total.size,
        booked=sum(counts.get(s, 0) for s in HOLDING),
        redeemed=counts.get(BookingStatus.REDEEMED, 0),
        remaining=total.remaining,
        registered=counts.get(BookingStatus.REGISTERED, 0),
        waitlisted=counts.get(BookingStatus.WAITLISTED, 0),
        cancelled=counts.get(BookingStatus.CANCELLED, 0),
        no_shows=no_shows.count(),
        scans=scans["n"],
        double_uses=scans["double"],
        days=[
            {"day": q.day, "quota": q.size, "booked": q.used, "remaining": q.remaining}
            for q in quotas
            if q.day is not None
        ],
    )
