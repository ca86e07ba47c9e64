"""Stations through the API: the public search, coordinates in either datum, scoping of every
staff endpoint to the caller's subtree, operators, and visits counted by QR."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.stations import geo
from huzhu.stations.models import Station, StationVisit
from huzhu.stations.services import station_operator_add, station_qr_content
from tests.conftest import ApiClient
from tests.stations.factories import make_station


@pytest.fixture
def stations(tree):
    """Two in 西城 (one open, one closed today by an exception), one in 怀柔."""
    today = timezone.localdate().isoformat()
    return {
        "open": make_station(
            tree.u1,
            code="XC1",
            lat=39.9100,
            lng=116.3700,
            services=("rest", "hot_water", "charging"),
        ),
        "closed": make_station(
            tree.xicheng,
            code="XC2",
            lat=39.9101,
            lng=116.3701,
            hours_exceptions=f"{today} off",
            services=("hot_water",),
        ),
        "huairou": make_station(tree.huairou, code="HR1", lat=40.32, lng=116.63),
    }


def test_nearest_is_public_and_names_its_datum(stations):
    r = ApiClient().get("/stations/nearest?lat=39.91&lng=116.37&open_now=false")
    assert r.status_code == 200
    body = r.json()
    assert body["crs"] == "wgs84"
    assert [s["code"] for s in body["items"]] == ["XC1", "XC2"]
    assert body["items"][0]["distance_m"] == pytest.approx(0, abs=0.1)


def test_nearest_leaves_out_stations_closed_now(stations):
    body = ApiClient().get("/stations/nearest?lat=39.91&lng=116.37").json()
    assert [s["code"] for s in body["items"]] == ["XC1"]
    assert body["items"][0]["open_now"] is True


def test_nearest_filters_by_every_service_asked(stations):
    url = "/stations/nearest?lat=39.91&lng=116.37&open_now=false"
    assert [s["code"] for s in ApiClient().get(url + "&service=charging").json()["items"]] == [
        "XC1"
    ]
    both = ApiClient().get(url + "&service=hot_water&service=rest").json()["items"]
    assert [s["code"] for s in both] == ["XC1"]
    r = ApiClient().get(url + "&service=sauna")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_service"


def test_a_gcj02_query_finds_the_station_under_it_and_answers_in_gcj02(stations):
    g_lat, g_lng = geo.wgs84_to_gcj02(39.91, 116.37)
    body = ApiClient().get(f"/stations/nearest?lat={g_lat}&lng={g_lng}&crs=gcj02&limit=1").json()
    assert body["crs"] == "gcj02"
    item = body["items"][0]
    assert item["code"] == "XC1"
    assert item["distance_m"] < 0.1
    assert (item["lat"], item["lng"]) == pytest.approx((g_lat, g_lng), abs=1e-7)


def test_an_unknown_datum_is_refused(stations):
    r = ApiClient().get("/stations/nearest?lat=39.91&lng=116.37&crs=bd09")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"


def test_staff_list_get_and_edit_only_their_subtree(stations, xicheng_admin, api_as):
    api = api_as(xicheng_admin)
    assert [s["code"] for s in api.get("/stations").json()["items"]] == ["XC1", "XC2"]
    assert api.get("/stations/XC1").status_code == 200
    for call in (
        lambda: api.get("/stations/HR1"),
        lambda: api.patch("/stations/HR1", {"name": "改名"}),
        lambda: api.get("/stations/HR1/qr"),
        lambda: api.post("/stations/HR1/qr/rotate"),
        lambda: api.get("/stations/HR1/visits"),
        lambda: api.post("/stations/HR1/visits", {"date": "2026-01-01", "people": 3}),
        lambda: api.post("/stations/HR1/operators", {"username": "x"}),
    ):
        r = call()
        assert r.status_code == 404, r.content
        assert r.json()["error"]["code"] == "not_found"
    assert Station.objects.get(code="HR1").name != "改名"


def test_staff_cannot_create_a_station_outside_their_subtree(tree, xicheng_admin, api_as):
    body = {
        "code": "NEW1",
        "name": "新驿站",
        "org_code": "BJ16",
        "address": "怀柔",
        "lat": 40.3,
        "lng": 116.6,
        "crs": "wgs84",
        "hours": "24/7",
    }
    r = api_as(xicheng_admin).post("/stations", body)
    assert r.status_code == 404
    r = api_as(xicheng_admin).post("/stations", {**body, "org_code": "U1"})
    assert r.status_code == 201
    assert r.json()["org_code"] == "U1"


def test_a_station_created_in_gcj02_is_stored_in_wgs84(tree, xicheng_admin, api_as):
    g_lat, g_lng = geo.wgs84_to_gcj02(39.92, 116.36)
    r = api_as(xicheng_admin).post(
        "/stations",
        {
            "code": "G1",
            "name": "高德选点",
            "org_code": "BJ02",
            "address": "西城",
            "lat": g_lat,
            "lng": g_lng,
            "crs": "gcj02",
            "hours": "周一至周五 8:00-18:00",
            "services": ["热水", "wifi"],
        },
    )
    assert r.status_code == 201, r.content
    station = Station.objects.get(code="G1")
    assert geo.haversine_m(station.lat, station.lng, 39.92, 116.36) < 0.01
    assert r.json()["hours"] == "Mo-Fr 08:00-18:00"
    assert r.json()["services"] == ["hot_water", "wifi"]
    assert AuditEvent.objects.filter(action="station.create", object_id=str(station.pk)).exists()


def test_bad_hours_are_a_400_naming_the_problem(tree, xicheng_admin, api_as):
    r = api_as(xicheng_admin).post(
        "/stations",
        {
            "code": "BAD",
            "name": "x",
            "org_code": "BJ02",
            "address": "x",
            "lat": 39.9,
            "lng": 116.4,
            "crs": "wgs84",
            "hours": "Mo 25:00-26:00",
        },
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_hours"


def test_other_staff_roles_may_read_but_not_create(tree, make_staff, api_as):
    gate = make_staff(Role.GATE, tree.xicheng)
    r = api_as(gate).post(
        "/stations",
        {
            "code": "GT1",
            "name": "x",
            "org_code": "BJ02",
            "address": "x",
            "lat": 39.9,
            "lng": 116.4,
            "crs": "wgs84",
            "hours": "24/7",
        },
    )
    assert r.status_code == 403


def test_members_and_anonymous_callers_get_no_staff_endpoints(stations, api_as):
    assert ApiClient().get("/stations").status_code == 401
    assert ApiClient().get("/stations/XC1").status_code == 401


@pytest.fixture
def operator(tree, make_staff, stations):
    user = make_staff(Role.STATION_OPERATOR, tree.xicheng)
    station_operator_add(station=stations["open"], user=user, actor=None)
    return user


def test_an_operator_sees_and_updates_only_its_own_station(operator, api_as):
    api = api_as(operator)
    assert [s["code"] for s in api.get("/stations").json()["items"]] == ["XC1"]
    assert api.get("/stations/XC2").status_code == 404
    assert api.patch("/stations/XC2", {"hours": "24/7"}).status_code == 404
    r = api.patch(
        "/stations/XC1",
        {
            "hours": "Mo-Fr 07:00-19:00",
            "services": ["toilet"],
            "capacity": 12,
            "status": "suspended",
        },
    )
    assert r.status_code == 200, r.content
    station = Station.objects.get(code="XC1")
    assert (station.hours, station.capacity, station.status) == (
        "Mo-Fr 07:00-19:00",
        12,
        "suspended",
    )
    event = AuditEvent.objects.filter(action="station.update").latest("id")
    assert event.actor == operator
    assert event.data["fields"] == ["capacity", "hours", "services", "status"]


def test_an_operator_may_not_move_or_close_its_station(operator, api_as):
    api = api_as(operator)
    assert api.patch("/stations/XC1", {"org_code": "U2"}).status_code == 403
    assert api.patch("/stations/XC1", {"status": "closed"}).status_code == 403
    assert Station.objects.get(code="XC1").status == "active"


def test_a_suspended_station_is_not_offered(operator, api_as):
    api_as(operator).patch("/stations/XC1", {"status": "suspended"})
    body = ApiClient().get("/stations/nearest?lat=39.91&lng=116.37&open_now=false").json()
    assert [s["code"] for s in body["items"]] == ["XC2"]


def test_a_scan_counts_once_a_day_per_device(stations):
    content = station_qr_content(stations["open"])
    first = ApiClient().post("/stations/visits", {"code": content, "visitor": "phone-1"})
    again = ApiClient().post("/stations/visits", {"code": content, "visitor": "phone-1"})
    other = ApiClient().post("/stations/visits", {"code": content, "visitor": "phone-2"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json()["counted"] is True and again.json()["counted"] is False
    assert StationVisit.objects.filter(station=stations["open"]).count() == 2


def test_a_signed_in_scan_counts_once_a_day_per_login(stations, xicheng_admin, api_as):
    content = station_qr_content(stations["open"])
    api = api_as(xicheng_admin)
    assert api.post("/stations/visits", {"code": content}).status_code == 201
    assert api.post("/stations/visits", {"code": content, "visitor": "other"}).status_code == 200
    assert StationVisit.objects.get().user == xicheng_admin


def test_forged_and_retired_codes_are_refused(stations, xicheng_admin, api_as):
    content = station_qr_content(stations["open"])
    forged = content[:-2] + ("AA" if not content.endswith("AA") else "BB")
    r = ApiClient().post("/stations/visits", {"code": forged})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_code"
    other_station = content.replace(":XC1:", ":XC2:")
    assert ApiClient().post("/stations/visits", {"code": other_station}).status_code == 400
    new = api_as(xicheng_admin).post("/stations/XC1/qr/rotate").json()
    assert new["content"] != content and new["svg"].startswith("<svg")
    assert ApiClient().post("/stations/visits", {"code": content}).status_code == 400
    assert ApiClient().post("/stations/visits", {"code": new["content"]}).status_code == 201


def test_operator_tallies_add_to_the_days_count(operator, stations, api_as):
    api = api_as(operator)
    ApiClient().post(
        "/stations/visits", {"code": station_qr_content(stations["open"]), "visitor": "p"}
    )
    today = timezone.localdate().isoformat()
    assert api.post("/stations/XC1/visits", {"date": today, "people": 5}).status_code == 201
    assert api.get("/stations/XC1/visits").json() == [{"date": today, "people": 6}]
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    r = api.post("/stations/XC1/visits", {"date": tomorrow, "people": 5})
    assert r.status_code == 400
