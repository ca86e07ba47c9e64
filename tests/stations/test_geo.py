"""WGS-84 ⇄ GCJ-02 conversion, great-circle distance and bounding boxes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huzhu.stations import geo
from huzhu.stations.rules import parse_position, position_text

# Reference pairs (WGS-84 → GCJ-02) published with googollee/eviltransform's test suite.
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing, 西城
]

# Mainland China, kept away from the edge of the rectangle where GCJ-02 switches off.
china_lat = st.floats(min_value=18.0, max_value=53.0)
china_lng = st.floats(min_value=74.0, max_value=135.0)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_wgs84_to_gcj02_matches_reference_points(wgs, gcj):
    lat, lng = geo.wgs84_to_gcj02(*wgs)
    assert lat == pytest.approx(gcj[0], abs=1e-9)
    assert lng == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_gcj02_to_wgs84_recovers_reference_points_within_a_centimetre(wgs, gcj):
    lat, lng = geo.gcj02_to_wgs84(*gcj)
    assert geo.haversine_m(lat, lng, *wgs) < 0.01


def test_the_offset_in_beijing_is_hundreds_of_metres():
    lat, lng = 39.91, 116.37
    assert 300 < geo.haversine_m(lat, lng, *geo.wgs84_to_gcj02(lat, lng)) < 1000


def test_outside_china_gcj02_is_wgs84():
    assert geo.wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)
    assert geo.gcj02_to_wgs84(48.8566, 2.3522) == (48.8566, 2.3522)


@settings(max_examples=300)
@given(lat=china_lat, lng=china_lng)
def test_wgs84_to_gcj02_and_back_within_a_metre(lat, lng):
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lat, lng))
    assert geo.haversine_m(lat, lng, *back) < 1.0


@settings(max_examples=300)
@given(lat=china_lat, lng=china_lng)
def test_gcj02_to_wgs84_and_back_within_a_metre(lat, lng):
    back = geo.wgs84_to_gcj02(*geo.gcj02_to_wgs84(lat, lng))
    assert geo.haversine_m(lat, lng, *back) < 1.0


def test_to_and_from_wgs84_follow_the_crs():
    point = (39.9, 116.4)
    assert geo.to_wgs84(*point, "wgs84") == point
    assert geo.from_wgs84(*geo.to_wgs84(*point, "gcj02"), "gcj02") == pytest.approx(point, abs=1e-9)
    with pytest.raises(ValueError):
        geo.to_wgs84(*point, "bd09")


def test_haversine_one_degree_of_latitude():
    assert geo.haversine_m(0, 0, 1, 0) == pytest.approx(2 * math.pi * geo.EARTH_RADIUS_M / 360)
    assert geo.haversine_m(39.9, 116.4, 39.9, 116.4) == 0


lat_any = st.floats(min_value=-89.0, max_value=89.0)
lng_any = st.floats(min_value=-179.9, max_value=179.9)


@settings(max_examples=300)
@given(
    lat=lat_any,
    lng=lng_any,
    radius=st.floats(min_value=1.0, max_value=2_000_000.0),
    bearing=st.floats(min_value=0, max_value=2 * math.pi),
    frac=st.floats(min_value=0, max_value=1),
)
def test_bounding_box_contains_every_point_of_the_circle(lat, lng, radius, bearing, frac):
    # Walk `frac * radius` along a great circle from the centre, then check the box holds it.
    d = frac * radius / geo.EARTH_RADIUS_M
    p1, l1 = math.radians(lat), math.radians(lng)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    plat, plng = math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180
    box = geo.bounding_box(lat, lng, radius)
    assert box.min_lat <= plat <= box.max_lat
    assert box.min_lng <= plng <= box.max_lng


# -- a point pasted from a map picker ------------------------------------------------------------


def test_a_pasted_point_is_longitude_first_as_map_pickers_give_it():
    assert parse_position("116.397428,39.90923") == (39.90923, 116.397428)
    assert parse_position(" 116.397428， 39.90923 ") == (39.90923, 116.397428)
    assert parse_position("116.4 39.9") == (39.9, 116.4)
    assert parse_position(position_text(39.90923, 116.397428)) == (39.90923, 116.397428)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("39.90923,116.397428", "经度在前、纬度在后"),
        ("", "经度,纬度"),
        ("116.39", "经度,纬度"),
        ("nan,inf", "经度,纬度"),
        ("1e3,39", "经度,纬度"),
        ("190.0,39.9", "经度应在 -180 至 180 之间"),
        ("116.3,39.9,0", "经度,纬度"),
    ],
)
def test_a_pasted_point_that_is_not_one_says_why(text, says):
    with pytest.raises(ValueError, match=says):
        parse_position(text)
