"""INTERFACES "Bounds" for stations: a capacity is a count from 0 to 1,000,000, the dates of
hours exceptions and visit counts lie from 1900-01-01 to 2099-12-31 in ASCII digits, and
coordinates stay on the globe. Anything else is a 400/422 naming the field (exit 2 naming row
and column for files), never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from huzhu import cli
from huzhu.accounts.models import Role
from huzhu.core.errors import DomainError
from huzhu.stations.hours import parse_hours
from huzhu.stations.models import Station, StationVisit
from huzhu.stations.services import station_operator_add, station_update
from tests.conftest import ApiClient, refused_naming
from tests.stations.factories import make_station


def _body(**changes: Any) -> dict[str, Any]:
    return {
        "code": "NEW1",
        "name": "新驿站",
        "org_code": "U1",
        "address": "西城",
        "lat": 39.91,
        "lng": 116.37,
        "crs": "wgs84",
        "hours": "24/7",
        **changes,
    }


@pytest.mark.parametrize("capacity", [1_000_001, 2**31, 2**63, -1, 1.5, "1e3", "١٠", True])
def test_a_capacity_that_is_not_a_count_up_to_a_million_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, capacity
):
    api = api_as(xicheng_admin)
    assert refused_naming(api.post("/stations", _body(capacity=capacity)), "capacity")
    assert not Station.objects.exists()
    make_station(tree.u1, code="XC1")
    assert refused_naming(api.patch("/stations/XC1", {"capacity": capacity}), "capacity")
    assert Station.objects.get(code="XC1").capacity is None


@pytest.mark.parametrize("capacity", [0, 1_000_000, None])
def test_a_capacity_from_0_to_a_million_or_none_is_accepted(tree, xicheng_admin, api_as, capacity):
    r = api_as(xicheng_admin).post("/stations", _body(capacity=capacity))
    assert r.status_code == 201, r.content
    assert r.json()["capacity"] == capacity


def test_the_service_refuses_a_capacity_out_of_bounds(tree):
    station = make_station(tree.u1)
    with pytest.raises(DomainError) as exc:
        station_update(station=station, actor=None, capacity=2**63)
    assert exc.value.details["field"] == "capacity"
    with pytest.raises(DomainError) as exc:
        make_station(tree.u1, capacity=1_000_001)
    assert exc.value.details["field"] == "capacity"


@pytest.mark.parametrize(
    "exceptions",
    [
        "0001-01-01 off",
        "1899-12-31 off",
        "2100-01-01 off",
        "2026-01-01..9999-12-31 off",
        "٢٠٢٦-01-01 off",
        "2026-01-01 ١٠:00-12:00",
    ],
)
def test_hours_exceptions_outside_1900_to_2099_or_in_other_digits_are_refused(
    tree, xicheng_admin, api_as, exceptions
):
    r = api_as(xicheng_admin).post("/stations", _body(hours_exceptions=exceptions))
    assert refused_naming(r, "hours"), r.content
    assert not Station.objects.exists()


def test_hours_exceptions_on_the_bounds_are_accepted(tree, xicheng_admin, api_as):
    body = _body(hours_exceptions="1900-01-01 off; 2099-12-31 10:00-12:00")
    r = api_as(xicheng_admin).post("/stations", body)
    assert r.status_code == 201, r.content
    assert r.json()["hours_exceptions"] == "1900-01-01 off; 2099-12-31 10:00-12:00"


def test_a_time_in_another_script_is_not_a_time():
    with pytest.raises(ValueError, match="不是时间"):
        parse_hours("Mo-Fr ٠٨:٠٠-17:00")


@pytest.mark.parametrize(("lat", "lng"), [(90.5, 116.0), (39.9, -180.5), (1e308, 0)])
def test_coordinates_off_the_globe_are_refused_naming_the_field(
    tree, xicheng_admin, api_as, lat, lng
):
    r = api_as(xicheng_admin).post("/stations", _body(lat=lat, lng=lng))
    assert refused_naming(r, "lat"), r.content


@pytest.mark.parametrize(
    "query",
    ["lat=NaN&lng=116", "lat=39.9&lng=inf", "lat=١٠&lng=116", "lat=39.9&lng=116&within_km=nan"],
)
def test_the_nearest_search_refuses_a_point_that_is_no_point(query):
    r = ApiClient().get(f"/stations/nearest?{query}")
    assert r.status_code == 422, r.content


@pytest.fixture
def operator(tree, make_staff):
    station = make_station(tree.u1, code="XC1")
    user = make_staff(Role.STATION_OPERATOR, tree.xicheng)
    station_operator_add(station=station, user=user, actor=None)
    return user


@pytest.mark.parametrize(
    "day", ["0001-01-01", "1899-12-31", "2100-01-01", "٢٠٢٦-01-01", 1700000000]
)
def test_a_visit_count_dated_outside_1900_to_2099_is_refused_naming_the_field(
    operator, api_as, day
):
    r = api_as(operator).post("/stations/XC1/visits", {"date": day, "people": 3})
    assert refused_naming(r, "date"), r.content
    assert not StationVisit.objects.exists()


@pytest.mark.parametrize("people", [0, 100_001, 2**63, "1e3"])
def test_a_visit_count_out_of_bounds_is_refused_naming_the_field(operator, api_as, people):
    r = api_as(operator).post("/stations/XC1/visits", {"date": "2026-01-01", "people": people})
    assert refused_naming(r, "people"), r.content


def test_a_visit_count_on_the_first_day_of_1900_is_accepted(operator, api_as):
    r = api_as(operator).post("/stations/XC1/visits", {"date": "1900-01-01", "people": 100_000})
    assert r.status_code == 201, r.content


@pytest.mark.parametrize(("param", "day"), [("from", "0001-01-01"), ("to", "9999-12-31")])
def test_visit_days_asked_outside_1900_to_2099_are_refused_naming_the_parameter(
    operator, api_as, param, day
):
    r = api_as(operator).get(f"/stations/XC1/visits?{param}={day}")
    assert refused_naming(r, param), r.content
    today = timezone.localdate().isoformat()
    ok = api_as(operator).get(f"/stations/XC1/visits?from=1900-01-01&to={today}")
    assert ok.status_code == 200


HEADER = "驿站编码,驿站名称,所属工会编码,地址,纬度,经度,坐标系,开放时间,例外日期,容纳人数\n"


def test_a_station_file_with_values_out_of_bounds_exits_2_naming_row_and_column(
    tree, tmp_path, capsys
):
    rows = (
        "A1,驿站一,U1,地址,39.9,116.37,wgs84,24/7,1900-01-01 off,1000000\n"
        "A2,驿站二,U1,地址,39.9,116.37,wgs84,24/7,,1000001\n"
        "A3,驿站三,U1,地址,39.9,116.37,wgs84,24/7,,99999999999999999999\n"
        "A4,驿站四,U1,地址,39.9,116.37,wgs84,24/7,,١٠\n"
        "A5,驿站五,U1,地址,39.9,116.37,wgs84,24/7,2100-01-01 off,\n"
        "A6,驿站六,U1,地址,91,116.37,wgs84,24/7,,\n"
    )
    path = tmp_path / "stations.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    assert cli.main(["import", "stations", str(path)]) == 2
    err = capsys.readouterr().err
    for expected in (
        "第 3 行：容纳人数 列：最多 1,000,000 人：1000001",
        "第 4 行：容纳人数 列：最多 1,000,000 人：99999999999999999999",
        "第 5 行：容纳人数 列：人数不是整数：١٠",
        "第 6 行：例外日期 列：日期应在 1900-01-01 至 2099-12-31 之间",
        "第 7 行：纬度 列：超出范围",
    ):
        assert expected in err, err
    assert "第 2 行" not in err
    assert not Station.objects.exists()
    path.write_text(HEADER + rows.splitlines()[0] + "\n", encoding="utf-8")
    assert cli.main(["import", "stations", str(path)]) == 0
    assert Station.objects.get(code="A1").capacity == 1_000_000


def test_opening_hours_longer_than_their_column_written_out_are_refused_naming_the_field(
    tree, xicheng_admin, api_as, tmp_path, capsys
):
    spans = [f"{h:02d}:{m:02d}-{h:02d}:{m + 10:02d}" for h in range(23) for m in (0, 20, 40)]
    hours = "Mo-Su " + ",".join(spans)  # 69 spans: 830 characters written out
    r = api_as(xicheng_admin).post("/stations", _body(hours=hours))
    assert refused_naming(r, "hours"), r.content
    path = tmp_path / "stations.csv"
    path.write_text(HEADER + f'A1,驿站一,U1,地址,39.9,116.37,wgs84,"{hours}",,\n', encoding="utf-8")
    assert cli.main(["import", "stations", str(path)]) == 2
    assert "第 2 行：开放时间 列：开放时间写出来最多 500 个字符" in capsys.readouterr().err
    assert not Station.objects.exists()
