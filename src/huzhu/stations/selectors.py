"""Reads of stations: who sees which, the nearest open stations to a point, the stations of a
district or a typed place (for a worker who gives no position), visit counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Trim
from django.utils.translation import pgettext

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import Permission, roles
from huzhu.accounts.selectors import staff_scope_path
from huzhu.core.errors import NotFound
from huzhu.stations import geo, rules
from huzhu.stations.hours import parse_hours
from huzhu.stations.models import Station, StationStatus, StationVisit

# Staff roles that manage the stations of their subtree (create, edit every field, operators).
STATION_ADMIN_ROLES = roles(Permission.STATION_MANAGE)

# The nearest query starts with this radius and doubles it until it has enough stations.
FIRST_RADIUS_M = 1_000.0

# The finder without a position lists at most this many stations, and says when there were more.
SEARCH_LIMIT = 50


def stations_visible_to(user: User) -> QuerySet[Station]:
    """Staff see the stations of their subtree; a station operator only the ones it runs."""
    qs = Station.objects.filter(org__path__startswith=staff_scope_path(user))
    if user.role == Role.STATION_OPERATOR:
        qs = qs.filter(operators=user)
    return qs


def station_get_visible(*, user: User, code: str) -> Station:
    station = stations_visible_to(user).select_related("org").filter(code=code).first()
    if station is None:
        raise NotFound(pgettext("未找到", "驿站 %(code)s") % {"code": code})
    return station


@dataclass(frozen=True)
class Nearby:
    station_id: int
    distance_m: float
    is_open: bool | None  # None when the caller did not ask for a time


def _candidates(box: geo.Box, service_mask: int) -> list[tuple[int, float, float, str, str]]:
    qs = Station.objects.filter(
        status=StationStatus.ACTIVE,
        lat__gte=box.min_lat,
        lat__lte=box.max_lat,
        lng__gte=box.min_lng,
        lng__lte=box.max_lng,
    )
    if service_mask:
        qs = qs.alias(has=F("services").bitand(service_mask)).filter(has=service_mask)
    # No ORDER BY: the caller sorts the few it keeps by distance.
    return list(qs.order_by().values_list("id", "lat", "lng", "hours", "hours_exceptions"))


def stations_nearest(
    *,
    lat: float,
    lng: float,
    service_mask: int = 0,
    open_at: datetime | None = None,
    limit: int = 10,
    within_m: float = 20_000.0,
) -> list[Nearby]:
    """The `limit` active stations nearest to the WGS-84 point (lat, lng) within `within_m`
    metres by great-circle distance, offering every service in `service_mask` and, when
    `open_at` is given, open at that instant. Ties go to the lower id.

    Only stations inside a bounding box reach Python: the box of a circle of radius r (served
    by the (lat, lng) index), doubled until the circle holds `limit` matches or r reaches
    `within_m`. Every station within r lies in the box, and every station not yet kept is
    farther than r, so the first `limit` kept are the true nearest.
    """
    radius = min(FIRST_RADIUS_M, within_m)
    while True:
        box = geo.bounding_box(lat, lng, radius)
        kept: list[Nearby] = []
        for station_id, s_lat, s_lng, weekly, exceptions in _candidates(box, service_mask):
            distance = geo.haversine_m(lat, lng, s_lat, s_lng)
            if distance > radius:
                continue
            is_open = None
            if open_at is not None:
                try:
                    is_open = parse_hours(weekly, exceptions).is_open(open_at)
                except ValueError:
                    is_open = False  # unreadable hours (written around the services): not open
                if not is_open:
                    continue
            kept.append(Nearby(station_id, distance, is_open))
        if len(kept) >= limit or radius >= within_m:
            kept.sort(key=lambda n: (n.distance_m, n.station_id))
            return kept[:limit]
        radius = min(radius * 2, within_m)


def _open_at(weekly: str, exceptions: str, at: datetime) -> bool:
    try:
        return parse_hours(weekly, exceptions).is_open(at)
    except ValueError:
        return False  # unreadable hours (written around the services): not open


def station_districts() -> list[str]:
    """The districts a worker can choose on the finder: those of active stations, sorted."""
    qs = Station.objects.filter(status=StationStatus.ACTIVE).annotate(d=Trim("district"))
    return sorted(set(qs.exclude(d="").values_list("d", flat=True)))


@dataclass(frozen=True)
class Found:
    station: Station
    is_open: bool


@dataclass(frozen=True)
class Search:
    found: list[Found]  # at most the limit asked for
    total: int  # every match


def stations_search(
    *,
    at: datetime,
    district: str = "",
    place: str = "",
    service_mask: int = 0,
    open_only: bool = False,
    limit: int = SEARCH_LIMIT,
) -> Search:
    """Active stations of `district` (when given) whose name, address or district contains every
    word of `place` (case-insensitive), offering every service in `service_mask`; with
    `open_only`, only those open at `at`. Open ones first, then by name (ties to the lower id);
    the first `limit`, and how many matched in all.

    Opening hours are read in Python (as for the nearest), so every match's hours are read:
    a district holds tens of stations, the whole city a few thousand."""
    qs = Station.objects.filter(status=StationStatus.ACTIVE)
    if district:
        qs = qs.annotate(d=Trim("district")).filter(d=district.strip())
    for word in rules.place_terms(place):
        qs = qs.filter(
            Q(name__icontains=word) | Q(address__icontains=word) | Q(district__icontains=word)
        )
    if service_mask:
        qs = qs.alias(has=F("services").bitand(service_mask)).filter(has=service_mask)
    rows = [
        (station_id, name, _open_at(weekly, exceptions, at))
        for station_id, name, weekly, exceptions in qs.order_by().values_list(
            "id", "name", "hours", "hours_exceptions"
        )
    ]
    if open_only:
        rows = [row for row in rows if row[2]]
    rows.sort(key=lambda row: (not row[2], row[1], row[0]))
    kept = rows[:limit]
    by_id = Station.objects.in_bulk([row[0] for row in kept])
    return Search([Found(by_id[i], is_open) for i, _name, is_open in kept], len(rows))


def station_visit_days(
    *, station: Station, first: date | None = None, last: date | None = None
) -> list[tuple[date, int]]:
    """People per day at a station, oldest first."""
    qs = StationVisit.objects.filter(station=station)
    if first:
        qs = qs.filter(visited_on__gte=first)
    if last:
        qs = qs.filter(visited_on__lte=last)
    rows = qs.values("visited_on").annotate(people=Sum("people")).order_by("visited_on")
    return [(r["visited_on"], int(r["people"])) for r in rows]
