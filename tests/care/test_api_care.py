"""Care through the API: campaigns, allocations, visits and labour models, each scoped to the
caller's subtree; amounts as exact yuan strings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.care.models import CareLedgerEntry
from huzhu.care.services import care_campaign_create, labour_model_create


@pytest.fixture
def campaign(tree):
    return care_campaign_create(
        actor=None,
        code="XC-HDSN",
        title="寒冬送暖",
        org=tree.xicheng,
        budget=Decimal("300000.00"),
        starts_on=date(2026, 1, 1),
    )


@pytest.fixture
def city_campaign(tree):
    return care_campaign_create(
        actor=None,
        code="BJ-LJWW",
        title="两节慰问",
        org=tree.city,
        budget=Decimal("60000.00"),
        starts_on=date(2026, 1, 1),
    )


@pytest.fixture
def huairou_admin(tree, make_staff):
    return make_staff(Role.DISTRICT_ADMIN, tree.huairou)


def test_a_district_creates_a_campaign_allocates_and_sees_it_against_the_budget(
    tree, xicheng_admin, api_as
):
    api = api_as(xicheng_admin)
    r = api.post(
        "/care/campaigns",
        {
            "code": "XC-1",
            "title": "寒冬送暖",
            "org_code": "BJ02",
            "budget": "300000",
            "starts_on": "2026-01-01",
        },
    )
    assert r.status_code == 201, r.content
    r = api.post(
        "/care/campaigns/XC-1/allocations",
        {"org_code": "BJ02", "amount": "300000.00", "date": "2026-01-08", "payee": "西城区卫健委"},
    )
    assert r.status_code == 201, r.content
    assert r.json()["amount"] == "300000.00"
    body = api.get("/care/campaigns/XC-1").json()
    assert (body["budget"], body["allocated"], body["unallocated"], body["spent"]) == (
        "300000.00",
        "300000.00",
        "0.00",
        "0.00",
    )
    assert AuditEvent.objects.filter(action="care.allocate", actor=xicheng_admin).count() == 1


def test_over_budget_is_a_409_with_what_is_left(tree, xicheng_admin, api_as, campaign):
    api = api_as(xicheng_admin)
    api.post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": "299000", "date": "2026-01-02"},
    )
    r = api.post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U2", "amount": "1000.01", "date": "2026-01-02"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "over_budget"
    assert r.json()["error"]["details"]["unallocated"] == "1000.00"


@pytest.mark.parametrize("amount", ["0.005", 0.005])
def test_fractions_of_a_fen_are_refused(tree, xicheng_admin, api_as, campaign, amount):
    r = api_as(xicheng_admin).post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": amount, "date": "2026-01-02"},
    )
    assert r.status_code == 422
    [error] = r.json()["error"]["details"]["errors"]
    assert error["loc"][-1] == "amount"
    assert not CareLedgerEntry.objects.exists()


def test_a_visit_spends_from_the_visiting_organisations_allocation(
    tree, xicheng_admin, make_member, api_as, campaign
):
    member = make_member(tree.u1, name="张师傅")
    api = api_as(xicheng_admin)
    api.post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": "2000", "date": "2026-01-02"},
    )
    r = api.post(
        "/care/campaigns/XC-HDSN/visits",
        {
            "org_code": "U1",
            "visited_on": "2026-01-08",
            "place": "白塔寺邮政支行",
            "beneficiaries": [
                {"kind": "member", "member_id": member.pk, "cash": "500.00"},
                {
                    "kind": "frontline",
                    "name": "疫苗接种点医护人员",
                    "headcount": 40,
                    "goods": "冬季保暖物资",
                    "goods_quantity": 40,
                    "goods_value": "1200.00",
                },
            ],
        },
    )
    assert r.status_code == 201, r.content
    assert r.json()["total"] == "1700.00"
    assert r.json()["beneficiaries"][0]["name"] == "张师傅"
    body = api.get("/care/campaigns/XC-HDSN").json()
    assert (body["spent"], body["balance"]) == ("1700.00", "300.00")
    assert body["orgs"] == [
        {
            "org_code": "U1",
            "org_name": "西城邮政分公司工会",
            "allocated": "2000.00",
            "spent": "1700.00",
            "balance": "300.00",
        }
    ]
    r = api.post(
        "/care/campaigns/XC-HDSN/visits",
        {
            "org_code": "U1",
            "visited_on": "2026-01-09",
            "place": "x",
            "beneficiaries": [{"kind": "frontline", "name": "环卫工人", "cash": "300.01"}],
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_funds"


def test_cancelling_a_visit_returns_its_money(tree, xicheng_admin, api_as, campaign):
    api = api_as(xicheng_admin)
    api.post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": "100", "date": "2026-01-02"},
    )
    visit = api.post(
        "/care/campaigns/XC-HDSN/visits",
        {
            "org_code": "U1",
            "visited_on": "2026-01-08",
            "place": "x",
            "beneficiaries": [{"kind": "frontline", "name": "快递小哥", "cash": "100"}],
        },
    ).json()
    r = api.post(f"/care/visits/{visit['id']}/cancel", {"reason": "登记错了"})
    assert r.status_code == 200 and r.json()["cancelled"] is True
    assert api.get("/care/campaigns/XC-HDSN").json()["spent"] == "0.00"
    entries = api.get("/care/campaigns/XC-HDSN/entries").json()["items"]
    spend, reversal = [e for e in entries if e["kind"] == "spending"]
    assert (spend["amount"], reversal["amount"]) == ("100.00", "-100.00")
    assert spend["reversed_by"] == reversal["id"] and reversal["reverses"] == spend["id"]


def test_other_districts_do_not_see_or_touch_a_campaign(
    tree, huairou_admin, xicheng_admin, api_as, campaign
):
    api = api_as(huairou_admin)
    assert api.get("/care/campaigns").json() == {"items": [], "count": 0}
    for r in (
        api.get("/care/campaigns/XC-HDSN"),
        api.post(
            "/care/campaigns/XC-HDSN/allocations",
            {"org_code": "U3", "amount": "1", "date": "2026-01-02"},
        ),
        api.get("/care/campaigns/XC-HDSN/entries"),
        api.get("/care/campaigns/XC-HDSN/visits"),
        api._call("put", "/care/campaigns/XC-HDSN/budget", {"budget": "1", "reason": "x"}),
    ):
        assert r.status_code == 404, r.content
    x = api_as(xicheng_admin)
    x.post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": "10", "date": "2026-01-02"},
    )
    entry = CareLedgerEntry.objects.get()
    assert api.post(f"/care/entries/{entry.pk}/reverse", {"reason": "x"}).status_code == 404
    visit = x.post(
        "/care/campaigns/XC-HDSN/visits",
        {
            "org_code": "U1",
            "visited_on": "2026-01-08",
            "place": "x",
            "beneficiaries": [{"kind": "frontline", "name": "环卫工人", "cash": "1"}],
        },
    ).json()
    assert api.get(f"/care/visits/{visit['id']}").status_code == 404
    assert api.post(f"/care/visits/{visit['id']}/cancel", {"reason": "x"}).status_code == 404


def test_a_campaign_cannot_fund_organisations_outside_its_own(
    tree, xicheng_admin, city_admin, api_as, campaign
):
    r = api_as(city_admin).post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U3", "amount": "1", "date": "2026-01-02"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_org"
    r = api_as(xicheng_admin).post(
        "/care/campaigns",
        {
            "code": "HR-X",
            "title": "x",
            "org_code": "BJ16",
            "budget": "1",
            "starts_on": "2026-01-01",
        },
    )
    assert r.status_code == 404


def test_a_funded_unit_sees_the_campaign_but_only_its_own_lines(
    tree, make_staff, city_admin, api_as, city_campaign
):
    city = api_as(city_admin)
    city.post(
        "/care/campaigns/BJ-LJWW/allocations",
        {"org_code": "U1", "amount": "100", "date": "2026-01-02"},
    )
    city.post(
        "/care/campaigns/BJ-LJWW/allocations",
        {"org_code": "U3", "amount": "200", "date": "2026-01-02"},
    )
    unit = api_as(make_staff(Role.UNIT_ADMIN, tree.u1))
    body = unit.get("/care/campaigns/BJ-LJWW").json()
    assert body["partial"] is True
    assert body["allocated"] == "100.00"
    assert [o["org_code"] for o in body["orgs"]] == ["U1"]
    entries = unit.get("/care/campaigns/BJ-LJWW/entries").json()["items"]
    assert [e["org_code"] for e in entries] == ["U1"]
    assert (
        unit.post(
            "/care/campaigns/BJ-LJWW/allocations",
            {"org_code": "U1", "amount": "1", "date": "2026-01-02"},
        ).status_code
        == 403
    )
    full = city.get("/care/campaigns/BJ-LJWW").json()
    assert (full["partial"], full["allocated"]) == (False, "300.00")


def test_staff_outside_the_care_roles_are_refused(tree, make_staff, api_as, campaign):
    for role in (Role.GATE, Role.REVIEWER, Role.STATION_OPERATOR):
        r = api_as(make_staff(role, tree.xicheng)).get("/care/campaigns")
        assert r.status_code == 403, role


def test_a_visit_cannot_name_a_member_outside_the_callers_subtree(
    tree, xicheng_admin, make_member, api_as, campaign
):
    outsider = make_member(tree.u3)
    api = api_as(xicheng_admin)
    api.post(
        "/care/campaigns/XC-HDSN/allocations",
        {"org_code": "U1", "amount": "10", "date": "2026-01-02"},
    )
    r = api.post(
        "/care/campaigns/XC-HDSN/visits",
        {
            "org_code": "U1",
            "visited_on": "2026-01-08",
            "place": "x",
            "beneficiaries": [{"kind": "member", "member_id": outsider.pk, "cash": "1"}],
        },
    )
    assert r.status_code == 404


def test_labour_models_are_scoped_and_carry_their_visit_history(
    tree, city_admin, xicheng_admin, huairou_admin, api_as, city_campaign
):
    city = api_as(city_admin)
    r = city.post(
        "/care/labour-models",
        {
            "name": "蔡凤辉",
            "level": "national",
            "year": 2015,
            "unit_name": "北京环卫集团",
            "org_code": "BJ02",
        },
    )
    assert r.status_code == 201, r.content
    lm_id = r.json()["id"]
    labour_model_create(
        actor=None,
        name="马永民",
        level="provincial",
        unit_name="怀柔环卫",
        org=tree.huairou,
        year=2019,
    )
    assert [
        m["name"] for m in api_as(xicheng_admin).get("/care/labour-models").json()["items"]
    ] == ["蔡凤辉"]
    assert api_as(huairou_admin).get(f"/care/labour-models/{lm_id}").status_code == 404
    city.post(
        "/care/campaigns/BJ-LJWW/allocations",
        {"org_code": "BJ", "amount": "5000", "date": "2026-01-02"},
    )
    r = city.post(
        "/care/campaigns/BJ-LJWW/visits",
        {
            "org_code": "BJ",
            "visited_on": "2026-01-20",
            "place": "北京环卫集团",
            "beneficiaries": [
                {
                    "kind": "labour_model",
                    "labour_model_id": lm_id,
                    "cash": "1000",
                    "goods": "生活日用品",
                    "goods_quantity": 1,
                    "goods_value": "300",
                }
            ],
        },
    )
    assert r.status_code == 201, r.content
    history = api_as(xicheng_admin).get(f"/care/labour-models/{lm_id}").json()["visits"]
    assert [(v["campaign"], v["cash"], v["goods_value"]) for v in history] == [
        ("BJ-LJWW", "1000.00", "300.00")
    ]
    r = api_as(huairou_admin).post(
        "/care/labour-models",
        {"name": "x", "level": "national", "unit_name": "y", "org_code": "BJ02"},
    )
    assert r.status_code == 404
