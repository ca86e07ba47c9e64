"""Figures by unit are a ranked table (huzhu.reports.ranking): largest amount first, ties by
unit code; paged (`limit` 20 by default, at most 500, `offset`) with `total` units matching;
searched by name or code; scoped to the viewer's subtree; the Excel export holds every unit in
ranking order; the console's statistics page shows a page of it without JavaScript."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from huzhu.accounts.models import Role
from huzhu.members.services import org_create
from huzhu.reports.models import PayoutYearSummary
from huzhu.reports.ranking import payouts_by_unit
from huzhu.reports.selectors import contributions, payouts
from tests.conftest import refused_naming

XLSX_ROWS_FROM = 2  # a header row, then the units


@pytest.fixture
def units(tree):
    """Nine more unions: six in 西城 (X1…X6), three in 怀柔 (H1…H3)."""
    made = [
        org_create(code=f"X{i}", name=f"西城第{i}工会", kind="unit", parent=tree.xicheng)
        for i in range(1, 7)
    ]
    made += [
        org_create(code=f"H{i}", name=f"怀柔第{i}工会", kind="unit", parent=tree.huairou)
        for i in range(1, 4)
    ]
    return made


def _paid(unit, fen: int, year: int = 2026, plan: str = "ZY", persons: int = 1) -> None:
    PayoutYearSummary.objects.create(
        year=year,
        unit=unit,
        benefit="inpatient",
        plan_code=plan,
        amount_fen=fen,
        entries=1,
        persons=persons,
    )


def _expected(user, year=None):
    """The unranked figure by unit (payouts by unit, every unit), in ranking order."""
    rows = payouts(user=user, group_by="unit", year=year).as_dicts()
    return [r["key"] for r in sorted(rows, key=lambda r: (-r["amount"], r["key"]))]


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.sampled_from([0, 100, 250, 250_00, 99_999]), min_size=9, max_size=9),
    second_plan=st.lists(st.booleans(), min_size=9, max_size=9),
    limit=st.integers(1, 4),
)
def test_pages_of_the_ranking_hold_every_unit_once_largest_first_ties_by_code(
    units, make_staff, tree, amounts, second_plan, limit
):
    sid = transaction.savepoint()
    try:
        for unit, fen, both in zip(units, amounts, second_plan, strict=True):
            _paid(unit, fen)
            if both:
                _paid(unit, 1, plan="JT")  # two summary rows of one unit are one place
            _paid(unit, 7, year=2025)
        for org in (tree.city, tree.xicheng):
            user = make_staff(Role.DISTRICT_ADMIN, org)
            for year in (2026, None):
                expected = _expected(user, year)
                seen, offset = [], 0
                while True:
                    page = payouts_by_unit(user=user, year=year, limit=limit, offset=offset)
                    assert page.total == len(expected)
                    if not page.rows:
                        break
                    seen += [r[0] for r in page.rows]
                    offset += limit
                assert seen == expected
                if org == tree.xicheng:
                    assert not any(code.startswith("H") for code in seen)
    finally:
        transaction.savepoint_rollback(sid)


def test_the_api_pages_searches_and_counts(units, make_staff, api_as):
    for i, unit in enumerate(units):
        _paid(unit, 1000 * (i % 3), persons=i)
    api = api_as(make_staff(Role.CITY_ADMIN, units[0].parent.parent))
    first = api.get("/stats/payouts?group_by=unit&year=2026&limit=4").json()
    assert (first["total"], first["offset"], first["limit"]) == (9, 0, 4)
    # 20.00 yuan: X3, X6, H3; 10.00: X2, X5, H2; nothing: X1, X4, H1.
    assert [r["key"] for r in first["rows"]] == ["H3", "X3", "X6", "H2"]
    assert first["rows"][0] == {
        "key": "H3",
        "label": "怀柔第3工会",
        "amount": "20.00",
        "persons": 8,
        "entries": 1,
    }
    second = api.get("/stats/payouts?group_by=unit&year=2026&limit=4&offset=4").json()
    assert [r["key"] for r in second["rows"]] == ["X2", "X5", "H1", "X1"]
    default = api.get("/stats/payouts?group_by=unit&year=2026").json()
    assert default["limit"] == 20 and len(default["rows"]) == 9
    found = api.get("/stats/payouts?group_by=unit&year=2026&q=怀柔").json()
    assert [r["key"] for r in found["rows"]] == ["H3", "H2", "H1"] and found["total"] == 3
    by_code = api.get("/stats/payouts?group_by=unit&year=2026&q=x5").json()
    assert [r["key"] for r in by_code["rows"]] == ["X5"]
    for param, value in (("limit", 501), ("limit", 0), ("offset", -1), ("q", "长" * 101)):
        answer = api.get(f"/stats/payouts?group_by=unit&{param}={value}")
        assert refused_naming(answer, param)


def test_other_groupings_answer_as_before(units, make_staff, api_as):
    _paid(units[0], 500)
    api = api_as(make_staff(Role.CITY_ADMIN, units[0].parent.parent))
    for group in ("month", "year", "benefit", "district"):
        answer = api.get(f"/stats/payouts?group_by={group}&year=2026&limit=1").json()
        assert (answer["total"], answer["offset"], answer["limit"]) == (None, None, None)
    plans = api.get("/stats/contributions?group_by=plan&limit=1").json()
    assert plans["total"] is None


def test_a_district_never_sees_another_districts_units(units, make_staff, api_as):
    for unit in units:
        _paid(unit, 100)
    api = api_as(make_staff(Role.DISTRICT_ADMIN, units[0].parent))
    answer = api.get("/stats/payouts?group_by=unit&q=怀柔").json()
    assert (answer["rows"], answer["total"]) == ([], 0)
    answer = api.get("/stats/payouts?group_by=unit&limit=500").json()
    assert answer["total"] == 6 and {r["key"][0] for r in answer["rows"]} == {"X"}


def test_the_export_holds_every_unit_in_ranking_order(units, make_staff, api_as):
    for i, unit in enumerate(units):
        _paid(unit, 100 * i)
    user = make_staff(Role.CITY_ADMIN, units[0].parent.parent)
    response = api_as(user).get("/stats/payouts.xlsx?group_by=unit&year=2026")
    sheet = load_workbook(BytesIO(response.content)).active
    codes = [row[0] for row in sheet.iter_rows(min_row=XLSX_ROWS_FROM, values_only=True)]
    assert codes == _expected(user, 2026) and len(codes) == 9


def test_contributions_by_unit_are_ranked_by_the_amount_paid(world, make_staff, api_as):
    city = make_staff(Role.CITY_ADMIN, world.city)
    answer = api_as(city).get("/stats/contributions?group_by=unit&year=2026&limit=2").json()
    unranked = contributions(user=city, group_by="unit", year=2026).as_dicts()
    order = sorted(unranked, key=lambda r: (-r["amount"], r["unit_code"]))
    assert [r["unit_code"] for r in answer["rows"]] == [r["unit_code"] for r in order][:2]
    assert answer["total"] == len(unranked) == 3
    assert answer["rows"][0]["members"] == order[0]["members"]


@pytest.fixture
def world(tree, people):
    return tree


def test_the_statistics_page_shows_a_page_of_the_ranking_without_javascript(
    units, make_staff, tree
):
    for i, unit in enumerate(units):
        _paid(unit, 100 * (i + 1))
    client = Client()
    client.force_login(make_staff(Role.CITY_ADMIN, tree.city))
    page = client.get("/console/stats/", {"year": 2026}).content.decode()
    table = page[page.index('id="ranking"') :]
    names = re.findall(r'<th scope="row">([^<]+)</th>', table)
    assert names[:3] == ["怀柔第3工会", "怀柔第2工会", "怀柔第1工会"] and len(names) == 9
    assert "/api/v1/stats/payouts.xlsx?group_by=unit&amp;year=2026" in table
    found = client.get("/console/stats/", {"year": 2026, "q": "西城第6"}).content.decode()
    found = found[found.index('id="ranking"') :]
    assert re.findall(r'<th scope="row">([^<]+)</th>', found) == ["西城第6工会"]
    assert "q=%E8%A5%BF%E5%9F%8E%E7%AC%AC6" in found  # the export keeps the search


def test_the_statistics_page_pages_the_ranking(units, make_staff, tree, monkeypatch):
    monkeypatch.setattr("huzhu.web.unit_ranking.UNIT_PAGE", 4)
    for i, unit in enumerate(units):
        _paid(unit, 100 * (i + 1))
    client = Client()
    client.force_login(make_staff(Role.CITY_ADMIN, tree.city))
    seen: list[str] = []
    query = "year=2026&rank=payouts"
    while query:
        table = client.get(f"/console/stats/?{query}").content.decode()
        table = table[table.index('id="ranking"') :]
        seen += re.findall(r'<th scope="row">([^<]+)</th>', table)
        found = re.search(r'href="\?([^"#]+)#ranking" rel="next"', table)
        query = found.group(1).replace("&amp;", "&") if found else ""
    assert len(seen) == 9 and seen[0] == "怀柔第3工会" and seen[-1] == "西城第1工会"
    last = client.get("/console/stats/?year=2026&offset=8").content.decode()
    assert 'rel="prev"' in last and "第 9–9 名，共 9 个单位" in last
    ignored = client.get("/console/stats/?year=2026&offset=١٢&rank=nope").content.decode()
    assert "第 1–4 名，共 9 个单位" in ignored
