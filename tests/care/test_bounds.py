"""INTERFACES "Bounds" for care: budgets, allocations, cash and goods values are strings of ASCII
digits with at most two decimals, at most 99,999,999.99; dates lie from 1900-01-01 to
2099-12-31; headcounts and quantities from 0 to 1,000,000. Anything else is a 400/422 naming
the field, and nothing is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from huzhu.care.models import CareBeneficiary, CareCampaign, CareLedgerEntry, CareVisit
from huzhu.care.services import (
    BeneficiaryIn,
    care_allocation_create,
    care_campaign_create,
    care_visit_record,
)
from huzhu.core.errors import DomainError
from tests.conftest import refused_naming

# The amounts of the attacks: too large, another script or notation, a number, a fraction of fen.
BAD_AMOUNTS = [
    "100000000",
    "99999999999999999999",
    "1e3",
    "١٠٠",
    "９９",
    "NaN",
    "-1",
    "0.005",
    1000,
    1000.5,
    True,
]


@pytest.fixture
def campaign(tree):
    return care_campaign_create(
        actor=None,
        code="XC-HDSN",
        title="寒冬送暖",
        org=tree.xicheng,
        budget=Decimal("99999999.99"),
        starts_on=date(2026, 1, 1),
    )


def _campaign_body(**changes: Any) -> dict[str, Any]:
    return {
        "code": "XC-1",
        "title": "寒冬送暖",
        "org_code": "BJ02",
        "budget": "300000",
        "starts_on": "2026-01-01",
        **changes,
    }


def _visit_body(**line: Any) -> dict[str, Any]:
    return {
        "org_code": "U1",
        "visited_on": "2026-01-08",
        "place": "白塔寺邮政支行",
        "beneficiaries": [{"kind": "frontline", "name": "环卫工人", **line}],
    }


@pytest.mark.parametrize("budget", BAD_AMOUNTS)
def test_a_budget_that_is_not_an_amount_within_bounds_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, budget
):
    r = api_as(xicheng_admin).post("/care/campaigns", _campaign_body(budget=budget))
    assert refused_naming(r, "budget"), r.content
    assert not CareCampaign.objects.exists()


@pytest.mark.parametrize("budget", ["0", "0.01", "99999999.99"])
def test_a_budget_from_zero_to_99999999_99_is_accepted(tree, xicheng_admin, api_as, budget):
    r = api_as(xicheng_admin).post("/care/campaigns", _campaign_body(budget=budget))
    assert r.status_code == 201, r.content
    assert r.json()["budget"] == f"{Decimal(budget):.2f}"


@pytest.mark.parametrize("budget", ["100000000.00", "1e3", 5])
def test_a_changed_budget_out_of_bounds_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, campaign, budget
):
    api = api_as(xicheng_admin)
    r = api._call("put", "/care/campaigns/XC-HDSN/budget", {"budget": budget, "reason": "x"})
    assert refused_naming(r, "budget"), r.content
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("99999999.99")


@pytest.mark.parametrize("amount", [*BAD_AMOUNTS, "0", "0.00"])
def test_an_allocation_that_is_not_an_amount_within_bounds_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, campaign, amount
):
    r = api_as(xicheng_admin).post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": amount, "date": "2026-01-02"},
    )
    assert refused_naming(r, "amount"), r.content
    assert not CareLedgerEntry.objects.exists()


@pytest.mark.parametrize("amount", ["0.01", "99999999.98"])
def test_an_allocation_from_a_fen_to_the_bound_is_accepted(
    tree, xicheng_admin, api_as, campaign, amount
):
    r = api_as(xicheng_admin).post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": amount, "date": "2026-01-02"},
    )
    assert r.status_code == 201, r.content
    assert r.json()["amount"] == amount


BAD_DAYS = ["0001-01-01", "1899-12-31", "2100-01-01", "٢٠٢٦-01-02", "２０２６-01-02", 1700000000]


@pytest.mark.parametrize("day", BAD_DAYS)
def test_an_allocation_date_outside_1900_to_2099_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, campaign, day
):
    r = api_as(xicheng_admin).post(
        "/care/campaigns/XC-HDSN/allocations", {"org_code": "U1", "amount": "1", "date": day}
    )
    assert refused_naming(r, "date"), r.content
    assert not CareLedgerEntry.objects.exists()


@pytest.mark.parametrize("field", ["starts_on", "ends_on"])
@pytest.mark.parametrize("day", BAD_DAYS)
def test_campaign_dates_outside_1900_to_2099_are_refused_naming_the_field(
    tree, xicheng_admin, api_as, field, day
):
    r = api_as(xicheng_admin).post("/care/campaigns", _campaign_body(**{field: day}))
    assert refused_naming(r, field), r.content
    assert not CareCampaign.objects.exists()


def test_campaign_dates_on_the_bounds_are_accepted(tree, xicheng_admin, api_as):
    body = _campaign_body(starts_on="1900-01-01", ends_on="2099-12-31")
    r = api_as(xicheng_admin).post("/care/campaigns", body)
    assert r.status_code == 201, r.content
    assert (r.json()["starts_on"], r.json()["ends_on"]) == ("1900-01-01", "2099-12-31")


@pytest.fixture
def funded(tree, campaign):
    care_allocation_create(
        campaign=campaign,
        org=tree.u1,
        amount=Decimal("99999999.99"),
        on=date(2026, 1, 2),
        actor=None,
    )
    return campaign


@pytest.mark.parametrize("field", ["cash", "goods_value"])
@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_visit_with_cash_or_goods_out_of_bounds_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, funded, field, amount
):
    body = _visit_body(goods="棉衣", **{field: amount})
    r = api_as(xicheng_admin).post("/care/campaigns/XC-HDSN/visits", body)
    assert refused_naming(r, field), r.content
    assert not CareVisit.objects.exists()


def test_a_visit_handing_out_up_to_the_bound_is_accepted(tree, xicheng_admin, api_as, funded):
    body = _visit_body(cash="0.01", goods="棉衣", goods_value="99999999.98")
    r = api_as(xicheng_admin).post("/care/campaigns/XC-HDSN/visits", body)
    assert r.status_code == 201, r.content
    assert r.json()["total"] == "99999999.99"


@pytest.mark.parametrize("field", ["headcount", "goods_quantity"])
@pytest.mark.parametrize("count", [1_000_001, 2**31, 2**63, -1, 1.5, "1e3", "١٠"])
def test_a_headcount_or_quantity_out_of_bounds_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, funded, field, count
):
    body = _visit_body(cash="1", **{field: count})
    r = api_as(xicheng_admin).post("/care/campaigns/XC-HDSN/visits", body)
    assert refused_naming(r, field), r.content
    assert not CareBeneficiary.objects.exists()


def test_a_headcount_and_quantity_of_a_million_are_accepted(tree, xicheng_admin, api_as, funded):
    body = _visit_body(headcount=1_000_000, goods="口罩", goods_quantity=1_000_000, goods_value="1")
    r = api_as(xicheng_admin).post("/care/campaigns/XC-HDSN/visits", body)
    assert r.status_code == 201, r.content
    line = r.json()["beneficiaries"][0]
    assert (line["headcount"], line["goods_quantity"]) == (1_000_000, 1_000_000)


@pytest.mark.parametrize("day", BAD_DAYS)
def test_a_visit_dated_outside_1900_to_2099_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, funded, day
):
    body = {**_visit_body(cash="1"), "visited_on": day}
    r = api_as(xicheng_admin).post("/care/campaigns/XC-HDSN/visits", body)
    assert refused_naming(r, "visited_on"), r.content
    assert not CareVisit.objects.exists()


def test_a_visit_on_the_first_day_of_1900_is_accepted(tree, xicheng_admin, api_as, funded):
    body = {**_visit_body(cash="1"), "visited_on": "1900-01-01"}
    r = api_as(xicheng_admin).post("/care/campaigns/XC-HDSN/visits", body)
    assert r.status_code == 201, r.content


@pytest.mark.parametrize("year", [99999999999, 1899, 2100, "١٩٩٠", "1e3"])
def test_a_labour_model_year_out_of_bounds_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, year
):
    api = api_as(xicheng_admin)
    r = api.post(
        "/care/labour-models",
        {
            "name": "李素丽",
            "level": "national",
            "unit_name": "公交",
            "org_code": "BJ02",
            "year": year,
        },
    )
    assert refused_naming(r, "year"), r.content
    assert refused_naming(api.get(f"/care/labour-models?year={year}"), "year")


def test_the_services_refuse_what_the_api_refuses(tree, campaign):
    with pytest.raises(DomainError) as exc:
        care_campaign_create(
            actor=None,
            code="X2",
            title="t",
            org=tree.xicheng,
            budget=Decimal("1E+12"),
            starts_on=date(2026, 1, 1),
        )
    assert exc.value.details["field"] == "budget"
    with pytest.raises(DomainError) as exc:
        care_allocation_create(
            campaign=campaign, org=tree.u1, amount=Decimal("1"), on=date(1, 1, 1), actor=None
        )
    assert exc.value.details["field"] == "date"
    line = BeneficiaryIn(kind="frontline", name="x", headcount=2**63, cash=Decimal("1"))
    with pytest.raises(DomainError) as exc:
        care_visit_record(
            campaign=campaign,
            org=tree.u1,
            visited_on=date(2026, 1, 8),
            place="p",
            beneficiaries=[line],
            actor=None,
        )
    assert exc.value.details["field"] == "beneficiaries[0].headcount"
