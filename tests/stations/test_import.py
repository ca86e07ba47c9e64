"""`huzhu import stations FILE`: validated as a whole, row-level report, GCJ-02 by default."""

from __future__ import annotations

import pytest

from huzhu import cli
from huzhu.audit.models import AuditEvent
from huzhu.core.tabular import TableError
from huzhu.members.roster_export import write_rows
from huzhu.stations import geo
from huzhu.stations.importer import stations_import
from huzhu.stations.models import Station
from tests.stations.factories import make_station

HEADER = (
    "驿站编码,驿站名称,所属工会编码,地址,纬度,经度,坐标系,开放时间,"
    "例外日期,服务项目,容纳人数,状态\n"
)
GOOD = (
    "XC-01,白塔寺邮政支行职工暖心驿站,U1,西城区阜成门内大街,39.9249,116.3641,,"
    "周一至周五 08:30-17:30；周六、周日 09:00-16:00,2026-01-01 休息,"
    "热水、充电、WiFi、临时休息,8,正常\n"
    "XC-02,西单邮政支行职工暖心驿站,BJ02,西城区西单北大街,39.9100,116.3700,wgs84,24/7,,hot_water,,\n"
)


def run_cli(tmp_path, text: str, *extra: str, name: str = "stations.csv") -> int:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    return cli.main(["import", "stations", str(path), *extra])


def test_a_good_file_is_imported_with_gcj02_as_the_default_datum(tree, tmp_path, capsys):
    assert run_cli(tmp_path, HEADER + GOOD) == 0
    assert "created=2" in capsys.readouterr().out
    baita = Station.objects.get(code="XC-01")
    assert geo.haversine_m(*geo.wgs84_to_gcj02(baita.lat, baita.lng), 39.9249, 116.3641) < 0.01
    assert baita.hours == "Mo-Fr 08:30-17:30; Sa,Su 09:00-16:00"
    assert baita.hours_exceptions == "2026-01-01 off"
    assert baita.service_codes == ["rest", "hot_water", "wifi", "charging"]
    assert (baita.capacity, baita.status, baita.org.code) == (8, "active", "U1")
    xidan = Station.objects.get(code="XC-02")
    assert (xidan.lat, xidan.lng) == (39.91, 116.37)
    assert AuditEvent.objects.filter(action="stations.import").count() == 1


def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_written(tree, tmp_path, capsys):
    bad = (
        "XC-03,无坐标,U1,地址,north,116.37,,24/7,,,,\n"
        "XC-04,坏时间,U1,地址,39.9,116.37,,Mo 25:00-26:00,,,,\n"
        "XC-05,坏服务,NOPE,地址,39.9,116.37,bd09,24/7,2026-02-30 off,桑拿,-1,开张\n"
        "XC-01,重复,U1,地址,39.9,116.37,,24/7,,,,\n"
    )
    assert run_cli(tmp_path, HEADER + GOOD + bad) == 2
    err = capsys.readouterr().err
    for expected in (
        "第 4 行：纬度 列：不是数字：north",
        "第 5 行：开放时间 列：不是一天中的时间：25:00",
        "第 6 行：所属工会编码 列：未知的组织 NOPE",
        "第 6 行：坐标系 列：crs 只能是 wgs84 或 gcj02：bd09",
        "第 6 行：服务项目 列：未知的服务项目 '桑拿'",
        "第 6 行：容纳人数 列：人数不是整数：-1",
        "第 6 行：状态 列：status 只能是 active、suspended 或 closed：开张",
        "第 7 行：驿站编码 列：code 重复（首次出现在第 2 行）",
    ):
        assert expected in err
    assert not Station.objects.exists()


def test_a_bad_exception_date_is_reported_on_its_column(tree):
    text = HEADER + "XC-06,x,U1,地址,39.9,116.37,,24/7,2026-02-30 off,,,\n"
    with pytest.raises(TableError) as info:
        stations_import(text.encode(), file="s.csv")
    assert [(e.row, e.column) for e in info.value.errors] == [(2, "例外日期")]


def test_keep_valid_writes_the_good_rows(tree, tmp_path, capsys):
    bad = "XC-03,无坐标,U1,地址,,116.37,,24/7,,,,\n"
    assert run_cli(tmp_path, HEADER + GOOD + bad, "--keep-valid") == 0
    captured = capsys.readouterr()
    assert "created=2" in captured.out and "skipped=1" in captured.out
    assert "第 4 行：纬度 列：必填" in captured.err
    assert set(Station.objects.values_list("code", flat=True)) == {"XC-01", "XC-02"}


def test_a_known_code_updates_its_station_and_an_unchanged_row_is_left_alone(
    tree, tmp_path, capsys
):
    assert run_cli(tmp_path, HEADER + GOOD) == 0
    changed = GOOD.replace("24/7", "Mo-Fr 09:00-17:00")
    assert run_cli(tmp_path, HEADER + changed) == 0
    assert "created=0 updated=1 unchanged=1" in capsys.readouterr().out
    assert Station.objects.get(code="XC-02").hours == "Mo-Fr 09:00-17:00"


def test_an_xlsx_file_with_english_headers_is_read(tree, tmp_path, capsys):
    path = tmp_path / "stations.xlsx"
    write_rows(
        path,
        ["code", "name", "org_code", "address", "lat", "lng", "crs", "hours", "services"],
        [["XL-1", "表格驿站", "BJ02", "西城", "39.91", "116.37", "wgs84", "24/7", "toilet"]],
    )
    assert cli.main(["import", "stations", str(path)]) == 0
    assert Station.objects.get(code="XL-1").service_codes == ["toilet"]


def test_staff_import_is_scoped_to_their_subtree(tree, xicheng_admin, api_as):
    make_station(tree.huairou, code="HR-1")
    text = HEADER + (
        "HR-1,抢走怀柔的驿站,U1,地址,39.9,116.37,,24/7,,,,\n"
        "NEW-1,放到怀柔,U3,地址,39.9,116.37,,24/7,,,,\n"
    )
    r = api_as(xicheng_admin).upload("/imports/stations", "s.csv", text.encode())
    assert r.status_code == 400
    reasons = {(e["row"], e["column"]): e["reason"] for e in r.json()["error"]["details"]["errors"]}
    assert reasons == {
        (2, "驿站编码"): "驿站 HR-1 属于您组织范围以外的组织",
        (3, "所属工会编码"): "U3 不在您的组织范围内",
    }
    assert Station.objects.get(code="HR-1").org == tree.huairou
