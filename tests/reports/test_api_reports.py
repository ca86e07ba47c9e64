"""The statistics API and Excel exports: every figure scoped to the viewer's subtree, payouts
from the summaries equal to a recount, money as strings and as formatted Excel numbers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from unittest import mock

import pytest
from django.test import Client
from openpyxl import load_workbook

from huzhu.accounts.models import Role
from huzhu.benefits.models import Booking, BookingStatus
from huzhu.care.services import (
    BeneficiaryIn,
    care_allocation_create,
    care_campaign_create,
    care_visit_record,
)
from huzhu.members.models import Member
from huzhu.reports.selectors import (
    PAYOUT_GROUPS,
    members_covered,
    payouts,
    payouts_recounted,
    station_visits,
    years_with_data,
)
from huzhu.settlement.services import settlements_import
from huzhu.stations.services import station_visit_tally
from tests.benefits.conftest import make_activity
from tests.conftest import refused_naming
from tests.settlement.test_import import file, row
from tests.stations.factories import make_station

MARCH = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
MAY = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def world(tree, people):
    """Payouts, bookings, station visits and care money in 西城 (U1, U2) and 怀柔 (U3)."""
    u1, u2, u3 = (Member.objects.get(unit=u) for u in (tree.u1, tree.u2, tree.u3))
    with mock.patch("django.utils.timezone.now", return_value=MARCH):
        settlements_import(
            file(
                row("S1", people[0], "2026-03-01", "12000.00"),  # U1: ZY 5600.00, JT 50.00
                row("S2", people[2], "2026-03-01", "5000.00"),  # U3: ZY 2000.00, JT 50.00
            ),
            file="a.csv",
        )
    with mock.patch("django.utils.timezone.now", return_value=MAY):
        settlements_import(
            file(row("S3", people[1], "2026-04-01", "3000.00")),  # U2: ZY 1000.00, JT 50.00
            file="b.csv",
        )
    ski, skate = make_activity(tree.city, title="滑雪票"), make_activity(tree.city, title="冰场")
    now = datetime(2026, 2, 1, tzinfo=UTC)
    for activity, member, status in (
        (ski, u1, "booked"),
        (ski, u2, "cancelled"),
        (ski, u3, "redeemed"),
        (skate, u3, "booked"),
    ):
        Booking.objects.create(
            activity=activity,
            member=member,
            status=status,
            booked_at=now,
            redeemed_at=now if status == BookingStatus.REDEEMED else None,
        )
    for org, people_count in ((tree.u1, 5), (tree.u3, 7)):
        station = make_station(org)
        station_visit_tally(station=station, actor=None, on=date(2026, 3, 5), people=people_count)
    campaign = care_campaign_create(
        actor=None,
        code="C1",
        title="寒冬送暖",
        org=tree.city,
        budget=Decimal("1000.00"),
        starts_on=date(2026, 1, 1),
    )
    for org, amount in ((tree.u1, "300.00"), (tree.u3, "200.00")):
        care_allocation_create(
            campaign=campaign, org=org, amount=Decimal(amount), on=date(2026, 1, 2), actor=None
        )
    care_visit_record(
        campaign=campaign,
        org=tree.u1,
        visited_on=date(2026, 1, 3),
        place="邮政支行",
        beneficiaries=[
            BeneficiaryIn(kind="frontline", name="投递员", headcount=3, cash=Decimal("120.50"))
        ],
        actor=None,
    )
    return tree


@pytest.fixture
def city(world, make_staff):
    return make_staff(Role.CITY_ADMIN, world.city)


@pytest.fixture
def xicheng(world, make_staff):
    return make_staff(Role.DISTRICT_ADMIN, world.xicheng)


@pytest.fixture
def unit1(world, make_staff):
    return make_staff(Role.UNIT_ADMIN, world.u1)


def rows(api, path):
    response = api.get(path)
    assert response.status_code == 200, response.content
    return response.json()["rows"]


def test_payouts_by_district_unit_benefit_and_month(city, api_as):
    api = api_as(city)
    by_district = {
        r["label"]: (r["amount"], r["persons"])
        for r in rows(api, "/stats/payouts?group_by=district&year=2026")
    }
    assert by_district == {"西城区总工会": ("6700.00", 4), "怀柔区总工会": ("2050.00", 2)}
    by_unit = {r["key"]: r["amount"] for r in rows(api, "/stats/payouts?group_by=unit")}
    assert by_unit == {"U1": "5650.00", "U2": "1050.00", "U3": "2050.00"}
    by_benefit = {
        r["key"]: (r["label"], r["amount"]) for r in rows(api, "/stats/payouts?group_by=benefit")
    }
    assert by_benefit == {"inpatient": ("住院医疗", "8600.00"), "allowance": ("住院津贴", "150.00")}
    by_month = {
        r["key"]: (r["amount"], r["persons"], r["entries"])
        for r in rows(api, "/stats/payouts?year=2026")
    }
    assert by_month == {"2026-03": ("7700.00", 4, 4), "2026-05": ("1050.00", 2, 2)}
    assert rows(api, "/stats/payouts?year=2025") == []
    by_year = {
        r["key"]: (r["amount"], r["persons"]) for r in rows(api, "/stats/payouts?group_by=year")
    }
    assert by_year == {"2026": ("8750.00", 6)}


SCOPED_FIGURES = [  # path, column, total for the city, 西城 and U1
    ("/stats/payouts?group_by=unit", "amount", "8750.00", "6700.00", "5650.00"),
    ("/stats/payouts?group_by=month", "persons", 6, 4, 2),
    ("/stats/members?year=2026", "members", 6, 4, 2),
    ("/stats/contributions?group_by=plan", "amount", "450.00", "300.00", "150.00"),
    ("/stats/contributions?group_by=unit", "members", 9, 6, 3),
    ("/stats/bookings", "booked", 4, 2, 1),
    ("/stats/bookings", "redeemed", 1, 0, 0),
    ("/stats/stations?group_by=station", "people", 12, 5, 5),
    ("/stats/stations?year=2026", "visits", 2, 1, 1),
    ("/stats/care", "allocated", "500.00", "300.00", "300.00"),
    ("/stats/care", "spent", "120.50", "120.50", "120.50"),
]


def test_every_figure_is_scoped_to_the_viewers_subtree(city, xicheng, unit1, api_as):
    apis = [api_as(user) for user in (city, xicheng, unit1)]

    def total(api, path, column):
        values = [r[column] for r in rows(api, path)]
        if values and isinstance(values[0], str):
            return f"{sum(Decimal(v) for v in values):.2f}"
        return sum(values)

    for path, column, *expected in SCOPED_FIGURES:
        assert [total(api, path, column) for api in apis] == expected, (path, column)


def test_payouts_from_summaries_equal_the_recount(city, xicheng, unit1):
    for user in (city, xicheng, unit1):
        for group_by in PAYOUT_GROUPS:
            for year in (None, 2026, 2025):
                kwargs = {"user": user, "group_by": group_by, "year": year}
                assert payouts(**kwargs).rows == payouts_recounted(**kwargs).rows, kwargs


def test_care_shows_budget_and_the_share_spent(xicheng, api_as):
    (line,) = rows(api_as(xicheng), "/stats/care")
    assert (line["budget"], line["spent_share"], line["partial"]) == ("1000.00", "0.1205", "是")


def test_excel_export_has_chinese_headers_number_formats_and_a_frozen_header(xicheng, api_as):
    response = api_as(xicheng).get("/stats/payouts.xlsx?group_by=unit&year=2026")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="stats-payouts-2026.xlsx"'
    ws = load_workbook(BytesIO(response.content)).active
    assert [c.value for c in ws[1]] == [
        "单位编码",
        "基层工会",
        "给付金额（元）",
        "给付人次",
        "账目笔数",
    ]
    assert ws.freeze_panes == "A2"
    body = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    assert body == [["U1", "西城邮政分公司工会", 5650, 2, 2], ["U2", "西城环卫工会", 1050, 2, 2]]
    assert ws["C2"].number_format == "#,##0.00"
    assert ws["D2"].number_format == "#,##0"


def test_every_statistic_exports(city, api_as):
    api = api_as(city)
    for name in ("members", "contributions", "bookings", "stations", "care"):
        response = api.get(f"/stats/{name}.xlsx")
        assert response.status_code == 200, name
        ws = load_workbook(BytesIO(response.content)).active
        assert (ws.max_row >= 2, ws.freeze_panes) == (True, "A2"), name


def test_refusals(world, city, api_as, make_member):
    from tests.benefits.conftest import login_for

    api = api_as(city)
    assert api.get("/stats/nothing.xlsx").status_code == 404
    assert api.get("/stats/payouts?group_by=planet").status_code == 400
    assert refused_naming(api.get("/stats/payouts?year=1066"), "year")
    assert api_as(None).get("/stats/payouts").status_code == 401
    client = api_as(None).client
    client.force_login(login_for(make_member(world.u1)))
    assert client.get("/api/v1/stats/payouts").status_code == 403


MONTHS_2026 = [f"2026-{m:02d}" for m in range(1, 13)]


def test_a_figure_by_month_lists_all_twelve_months_of_its_year(city, api_as):
    api = api_as(city)
    for path, key in (
        ("/stats/payouts?group_by=month&year=2026", "key"),
        ("/stats/stations?group_by=month&year=2026", "month"),
    ):
        answer = api.get(path).json()
        assert answer["periods"] == MONTHS_2026, path
        # The rows keep only the months with figures (the Excel export is built from them).
        assert [r[key] for r in answer["rows"]] == ["2026-03"] + (["2026-05"] * (key == "key"))
    empty = api.get("/stats/payouts?year=2025").json()
    assert (empty["rows"], empty["periods"]) == ([], [f"2025-{m:02d}" for m in range(1, 13)])
    with mock.patch("django.utils.timezone.now", return_value=MAY):
        assert api.get("/stats/payouts").json()["periods"] == MONTHS_2026  # this year's


def test_months_without_a_year_span_the_first_to_the_last_and_years_likewise(world, city):
    station = make_station(world.u2)
    for on in (date(2025, 11, 30), date(2026, 2, 1)):
        station_visit_tally(station=station, actor=None, on=on, people=1)
    assert station_visits(user=city, group_by="month").periods == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    assert payouts(user=city, group_by="year").periods == ["2026"]
    for figure in (
        payouts(user=city, group_by="district"),
        payouts(user=city, group_by="benefit"),
        station_visits(user=city, group_by="station"),
        members_covered(user=city),
    ):
        assert figure.periods is None, figure.name


def test_month_export_keeps_its_rows(city, api_as):
    response = api_as(city).get("/stats/payouts.xlsx?group_by=month&year=2026")
    ws = load_workbook(BytesIO(response.content)).active
    assert [r[0].value for r in ws.iter_rows(min_row=2)] == ["2026-03", "2026-05"]


def test_the_years_offered_are_those_with_figures_in_the_viewers_subtree(world, city, xicheng):
    # 2026: payouts, enrolments, visits, care; 2025: the ZY 2025 enrolments; bookings now.
    assert years_with_data(user=city) == [2026, 2025]
    station = make_station(world.u3)  # 怀柔, outside 西城
    station_visit_tally(station=station, actor=None, on=date(2019, 6, 1), people=3)
    assert years_with_data(user=city) == [2026, 2025, 2019]
    assert years_with_data(user=xicheng) == [2026, 2025]
    later = datetime(2031, 1, 1, 2, 0, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert years_with_data(user=xicheng) == [2031, 2026, 2025]  # the current year always


def test_roles_without_care_get_the_years_of_the_other_figures(world, make_staff):
    care_campaign_create(
        actor=None, code="C2019", title="两节慰问", org=world.u1, budget=Decimal("1.00"),
        starts_on=date(2019, 1, 1),
    )  # fmt: skip
    city = make_staff(Role.CITY_ADMIN, world.city)
    assert years_with_data(user=city) == [2026, 2025, 2019]
    for role in (Role.REVIEWER, Role.GATE, Role.STATION_OPERATOR):
        staff = make_staff(role, world.city)
        assert years_with_data(user=staff) == [2026, 2025], role
        client = Client()
        client.force_login(staff)
        assert client.get("/console/stats/").status_code == 200, role


def test_the_statistics_page_offers_the_years_with_figures_most_recent_first(xicheng):
    client = Client()
    client.force_login(xicheng)
    html = client.get("/console/stats/?year=2026").content.decode()
    offered = re.findall(r'<option value="(\d+)"( selected)?>', html)
    assert offered == [("2026", " selected"), ("2025", "")]
    html = client.get("/console/stats/?year=2011").content.decode()
    offered = re.findall(r'<option value="(\d+)"( selected)?>', html)
    assert offered == [("2026", ""), ("2025", ""), ("2011", " selected")]  # the year asked for
