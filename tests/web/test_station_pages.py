"""Warm stations kept on the console (职工暖心驿站): a union clerk adds one with the position
pasted from a map picker (GCJ-02) and the hours set day by day; an operator keeps its own
station's service current; other staff read it; outside the subtree a station does not exist."""

from __future__ import annotations

import pytest

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.stations import geo
from huzhu.stations.models import Station
from huzhu.stations.services import station_operator_add
from tests.stations.factories import make_station

pytestmark = pytest.mark.django_db

# 西单 as 高德's picker gives it: longitude first, GCJ-02.
PICKED = "116.374320,39.913200"


def a_week(**days: object) -> dict[str, str]:
    """The hours grid of the form: every day 08:00–20:00 unless given ("off", "allday", or a
    list of (from, to) spans)."""
    form: dict[str, str] = {}
    for i in range(7):
        spec = days.get(f"d{i}", [("08:00", "20:00")])
        if isinstance(spec, str):
            form[f"day{i}"] = spec
            continue
        form[f"day{i}"] = "open"
        for k, (start, end) in enumerate(spec, start=1):  # type: ignore[attr-defined]
            form[f"day{i}_from{k}"], form[f"day{i}_to{k}"] = start, end
    return form


def new_station_form(tree, **overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "code": "ST0101",
        "name": "西单邮政暖心驿站",
        "org": tree.u1.code,
        "address": "北京市西城区西单北大街 120 号",
        "position": PICKED,
        "crs": "gcj02",
        "services_shown": "1",
        "services": ["hot_water", "charging"],
        "capacity": "12",
        "contact_name": "李姐",
        "contact_phone": "010-66012345",
        "status": "active",
        **a_week(d5=[("09:00", "12:00"), ("14:00", "17:00")], d6="off", d4=[("07:00", "02:00")]),
    }
    form.update(overrides)
    return form


def test_a_district_clerk_adds_a_station_picked_on_a_gcj02_map(tree, staff, staff_client):
    client = staff_client(staff(Role.DISTRICT_ADMIN))
    response = client.post("/console/stations/new/", new_station_form(tree))
    assert (
        response.status_code == 302 and response["Location"] == "/console/stations/ST0101/?saved=1"
    )
    station = Station.objects.get(code="ST0101")
    lat, lng = geo.gcj02_to_wgs84(39.9132, 116.37432)
    assert (station.lat, station.lng) == pytest.approx((lat, lng), abs=1e-9)
    # The map's offset is a few hundred metres: the stored point is not the pasted one.
    assert geo.haversine_m(station.lat, station.lng, 39.9132, 116.37432) > 100
    assert station.hours == "Mo-Th 08:00-20:00; Fr 07:00-02:00; Sa 09:00-12:00,14:00-17:00"
    assert station.capacity == 12 and station.contact_name == "李姐"
    listing = client.get("/console/stations/").content.decode()
    assert "西单邮政暖心驿站" in listing
    assert "周一至周四 08:00–20:00；周五 07:00–次日02:00；周六 09:00–12:00、14:00–17:00" in listing
    assert "热水、手机充电" in listing
    assert AuditEvent.objects.filter(action="station.create").count() == 1


def test_the_form_shows_the_station_as_stored_and_an_untouched_position_stays_put(
    tree, staff, staff_client
):
    client = staff_client(staff(Role.DISTRICT_ADMIN))
    client.post("/console/stations/new/", new_station_form(tree))
    before = Station.objects.get(code="ST0101")
    page = client.get("/console/stations/ST0101/").content.decode()
    assert f'value="{PICKED}"' in page  # shown again in the map's datum
    assert 'name="day5_from2" value="14:00"' in page and 'name="day6"' in page
    form = new_station_form(tree, name="西单暖心驿站")
    form.pop("code")
    assert client.post("/console/stations/ST0101/", form).status_code == 302
    after = Station.objects.get(code="ST0101")
    assert after.name == "西单暖心驿站"
    assert (after.lat, after.lng) == (before.lat, before.lng)
    assert AuditEvent.objects.filter(action="station.update").last().data["fields"] == ["name"]


def test_a_position_given_by_the_phone_is_kept_as_gps(tree, staff, staff_client):
    client = staff_client(staff(Role.DISTRICT_ADMIN))
    form = new_station_form(tree, position="116.3700，39.9100", crs="wgs84")
    assert client.post("/console/stations/new/", form).status_code == 302
    station = Station.objects.get(code="ST0101")
    assert (station.lat, station.lng) == (39.91, 116.37)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"position": "39.913200,116.374320"}, "经度在前、纬度在后"),
        ({"position": "西单"}, "116.397428,39.90923"),
        ({"day2_from1": "", "day2_to1": ""}, "周三：请填写开放时段，或选择休息"),
        ({"day1_to1": "25:00"}, "周二："),
        ({"org": "U3"}, "请选择所属组织"),
        ({"capacity": "很多"}, "capacity"),
    ],
)
def test_a_wrong_field_is_refused_with_what_and_where_and_nothing_is_stored(
    tree, staff, staff_client, changes, says
):
    client = staff_client(staff(Role.DISTRICT_ADMIN))
    response = client.post("/console/stations/new/", new_station_form(tree, **changes))
    assert response.status_code == 400
    page = response.content.decode()
    assert says in page
    assert 'value="西单邮政暖心驿站"' in page  # what was typed is kept
    assert not Station.objects.exists()


def test_a_day_with_more_spans_than_the_grid_is_edited_as_text(tree, staff, staff_client):
    station = make_station(tree.u1, hours="Mo-Fr 06:00-08:00,11:00-13:00,17:00-20:00")
    client = staff_client(staff(Role.DISTRICT_ADMIN))
    page = client.get(f"/console/stations/{station.code}/").content.decode()
    assert 'name="hours_text"' in page and 'name="day0"' not in page
    form = {
        "name": station.name,
        "org": "U1",
        "address": station.address,
        "position": page.split('name="position"')[1].split('value="')[1].split('"')[0],
        "crs": "gcj02",
        "hours_text": "周一至周五 06:00-08:00,11:00-13:00,17:00-21:00",
        "status": "active",
    }
    assert client.post(f"/console/stations/{station.code}/", form).status_code == 302
    station.refresh_from_db()
    assert station.hours == "Mo-Fr 06:00-08:00,11:00-13:00,17:00-21:00"


def test_an_operator_keeps_its_own_station_current_but_not_its_organisation(
    tree, staff, staff_client
):
    station = make_station(tree.u1, host="工商银行西单支行")
    operator = staff(Role.STATION_OPERATOR)
    station_operator_add(station=station, user=operator, actor=None)
    client = staff_client(operator)
    page = client.get(f"/console/stations/{station.code}/").content.decode()
    assert "编码、所属组织和承办单位由管理员修改" in page
    form = new_station_form(tree, org="U2", host="别的银行", services=["wifi"], day6="allday")
    form.pop("code")
    assert client.post(f"/console/stations/{station.code}/", form).status_code == 302
    station.refresh_from_db()
    assert station.org.code == "U1" and station.host == "工商银行西单支行"
    assert station.services == 4  # wifi only
    assert station.hours.endswith("Sa 09:00-12:00,14:00-17:00; Su 00:00-24:00")
    closing = client.post(f"/console/stations/{station.code}/", {**form, "status": "closed"})
    assert closing.status_code == 403
    assert "不能撤销驿站" in closing.content.decode()
    assert Station.objects.get(pk=station.pk).status == "active"


def test_other_staff_read_a_station_and_outside_the_subtree_it_does_not_exist(
    tree, staff, staff_client
):
    station = make_station(tree.u1)
    elsewhere = make_station(tree.u3)
    reviewer = staff_client(staff(Role.REVIEWER))
    page = reviewer.get(f"/console/stations/{station.code}/")
    assert page.status_code == 200 and "disabled" in page.content.decode()
    assert 'type="submit"' not in page.content.decode().split("station-form")[1]
    assert reviewer.post(f"/console/stations/{station.code}/", {"name": "x"}).status_code == 403
    assert reviewer.get("/console/stations/new/").status_code == 403
    admin = staff_client(staff(Role.DISTRICT_ADMIN))
    assert admin.get(f"/console/stations/{elsewhere.code}/").status_code == 404
    assert elsewhere.name not in admin.get("/console/stations/").content.decode()


def test_the_list_finds_a_station_by_name_or_address(tree, staff, staff_client):
    make_station(tree.u1, name="白塔寺驿站", address="阜成门内大街")
    make_station(tree.u2, name="金融街驿站", address="金融大街")
    client = staff_client(staff(Role.DISTRICT_ADMIN))
    found = client.get("/console/stations/", {"q": "阜成门"}).content.decode()
    assert "白塔寺驿站" in found and "金融街驿站" not in found and "共 1 个驿站" in found


def test_a_field_the_form_did_not_send_is_left_as_it_is(tree, staff, staff_client):
    station = make_station(tree.u1, hours="Mo-Fr 08:30-17:30", capacity=8, contact_name="王师傅")
    client = staff_client(staff(Role.DISTRICT_ADMIN))
    assert client.post(f"/console/stations/{station.code}/", {"name": "新名称"}).status_code == 302
    after = Station.objects.get(pk=station.pk)
    assert after.name == "新名称"
    assert (after.hours, after.services, after.capacity, after.contact_name) == (
        station.hours,
        station.services,
        8,
        "王师傅",
    )
    assert (after.lat, after.lng, after.org_id) == (station.lat, station.lng, station.org_id)
