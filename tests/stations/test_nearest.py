"""The nearest query agrees with a brute-force scan, and reads only a bounding box of rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.stations import geo, rules, selectors
from huzhu.stations.hours import parse_hours
from huzhu.stations.models import Station, StationStatus

HOURS = ("24/7", "Mo-Fr 09:00-17:00", "Fr 22:00-06:00", "off", "Mo-Su 08:00-20:00")
CENTRES = ((39.91, 116.37), (40.32, 116.63), (39.93, 116.42))


def brute_force(lat, lng, mask, open_at, limit, within_m):
    """Every row, exact distance, then sort: the definition the fast query must meet."""
    found = []
    for s in Station.objects.all():
        if s.status != StationStatus.ACTIVE or (s.services & mask) != mask:
            continue
        d = geo.haversine_m(lat, lng, s.lat, s.lng)
        if d > within_m:
            continue
        if open_at is not None and not parse_hours(s.hours, s.hours_exceptions).is_open(open_at):
            continue
        found.append((d, s.pk))
    return [pk for _, pk in sorted(found)[:limit]]


# Degrees from a centre on a log scale, ~10 m to ~30 km: the radii the query widens through.
offsets = st.tuples(st.sampled_from([-1, 1]), st.floats(-4.0, -0.5)).map(
    lambda t: t[0] * 10 ** t[1]
)

station_rows = st.lists(
    st.tuples(
        st.sampled_from(CENTRES),
        offsets,
        offsets,
        st.integers(0, 2 ** len(rules.SERVICES) - 1),
        st.sampled_from(HOURS),
        st.sampled_from(StationStatus.values),
        st.booleans(),  # squeeze close to the centre, to make near ties and dense clusters
    ),
    min_size=0,
    max_size=60,
)


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=station_rows,
    centre=st.sampled_from(CENTRES),
    offset=st.tuples(offsets, offsets),
    service=st.sampled_from([(), ("hot_water",), ("rest", "charging"), ("toilet", "wifi")]),
    # None; Friday 23:00 in Beijing (only night spans and 24/7 open); Monday 11:00.
    when=st.sampled_from(
        [None, datetime(2026, 1, 2, 15, 0, tzinfo=UTC), datetime(2026, 1, 5, 3, 0, tzinfo=UTC)]
    ),
    limit=st.integers(1, 12),
    within_km=st.sampled_from([0.5, 3.0, 20.0, 60.0]),
)
def test_nearest_equals_a_brute_force_scan(
    tree, rows, centre, offset, service, when, limit, within_km
):
    try:
        with transaction.atomic():
            Station.objects.bulk_create(
                [
                    Station(
                        code=f"H{i}",
                        name=f"驿站{i}",
                        org=tree.xicheng,
                        address="北京",
                        lat=c_lat + (d_lat / 50 if tight else d_lat),
                        lng=c_lng + (d_lng / 50 if tight else d_lng),
                        services=mask,
                        hours=hours,
                        status=status,
                    )
                    for i, ((c_lat, c_lng), d_lat, d_lng, mask, hours, status, tight) in enumerate(
                        rows
                    )
                ]
            )
            lat, lng = centre[0] + offset[0], centre[1] + offset[1]
            mask = rules.services_mask(service)
            within_m = within_km * 1000
            fast = selectors.stations_nearest(
                lat=lat, lng=lng, service_mask=mask, open_at=when, limit=limit, within_m=within_m
            )
            assert [n.station_id for n in fast] == brute_force(
                lat, lng, mask, when, limit, within_m
            )
            assert all(n.distance_m <= within_m for n in fast)
            raise _Rollback
    except _Rollback:
        pass


def test_the_query_reads_a_box_of_rows_not_the_table(tree, monkeypatch):
    rng = random.Random(7)
    Station.objects.bulk_create(
        [
            Station(
                code=f"B{i}",
                name="驿站",
                org=tree.xicheng,
                address="北京",
                hours="24/7",
                lat=39.6 + rng.random() * 0.8,
                lng=115.9 + rng.random() * 1.2,
                services=rules.services_mask(["hot_water"]),
            )
            for i in range(3000)
        ]
    )
    seen: list[int] = []
    real = selectors._candidates

    def counting(box, mask):
        rows = real(box, mask)
        seen.append(len(rows))
        return rows

    monkeypatch.setattr(selectors, "_candidates", counting)
    found = selectors.stations_nearest(lat=39.91, lng=116.37, service_mask=0, limit=5)
    assert len(found) == 5
    assert sum(seen) < 300  # of 3000 rows


def test_without_enough_stations_it_stops_at_the_radius(tree):
    Station.objects.create(
        code="FAR", name="远", org=tree.xicheng, address="北京", hours="24/7", lat=40.91, lng=116.37
    )
    assert selectors.stations_nearest(lat=39.91, lng=116.37, within_m=50_000) == []
    found = selectors.stations_nearest(lat=39.91, lng=116.37, within_m=120_000)
    assert [n.station_id for n in found] == list(Station.objects.values_list("pk", flat=True))


def _towards(lat: float, lng: float, metres: float, bearing_deg: float) -> tuple[float, float]:
    """The point `metres` away along a great circle at `bearing_deg` (0 = north, 90 = east)."""
    import math

    d, b = metres / geo.EARTH_RADIUS_M, math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lng)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), math.degrees(l2)


def _place(tree, code: str, point: tuple[float, float]) -> Station:
    return Station.objects.create(
        code=code,
        name=code,
        org=tree.xicheng,
        address="北京",
        hours="24/7",
        lat=point[0],
        lng=point[1],
    )


def test_a_station_due_east_inside_the_first_circle_is_found(tree):
    # The longitude half-width of the box must widen with latitude (1/cos φ), or the station
    # 900 m east falls outside the first box and the one 950 m north wins.
    lat, lng = 39.91, 116.37
    east = _place(tree, "EAST", _towards(lat, lng, 0.9 * selectors.FIRST_RADIUS_M, 90))
    _place(tree, "NORTH", _towards(lat, lng, 0.95 * selectors.FIRST_RADIUS_M, 0))
    found = selectors.stations_nearest(lat=lat, lng=lng, limit=1)
    assert [n.station_id for n in found] == [east.pk]


def test_a_box_corner_does_not_beat_a_nearer_station_outside_the_box(tree):
    # The corner of the first box is 1.41 r away; a station 1.1 r due north is nearer but
    # outside that box, so the corner one must not be taken before the radius grows.
    lat, lng = 39.91, 116.37
    r = selectors.FIRST_RADIUS_M
    _place(tree, "CORNER", _towards(lat, lng, 1.35 * r, 45))
    north = _place(tree, "NORTH", _towards(lat, lng, 1.1 * r, 0))
    found = selectors.stations_nearest(lat=lat, lng=lng, limit=1)
    assert [n.station_id for n in found] == [north.pk]
    assert found[0].distance_m == pytest.approx(1.1 * r, rel=1e-6)
