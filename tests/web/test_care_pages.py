"""The console's care pages (关爱慰问): a union clerk starts a campaign, allocates its budget to
organisations, records visits whose money is spent from the visiting organisation's allocation,
and cancels a visit recorded by mistake; every refusal says why, with the figures, and changes
nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from huzhu.accounts.models import Role
from huzhu.care.models import CareCampaign, CareLedgerEntry, CareVisit, EntryKind
from huzhu.care.selectors import campaign_summary
from huzhu.care.services import (
    care_allocation_create,
    care_campaign_create,
    labour_model_create,
)
from tests.conftest import new_id_number

pytestmark = pytest.mark.django_db


def _campaign(org, code="LJ2026", budget="1000.00") -> CareCampaign:
    return care_campaign_create(
        actor=None,
        code=code,
        title="2026 年两节慰问",
        org=org,
        budget=Decimal(budget),
        starts_on=timezone.localdate().replace(day=1),
    )


def _allocate(campaign, org, amount) -> None:
    care_allocation_create(
        campaign=campaign, org=org, amount=Decimal(amount), on=timezone.localdate(), actor=None
    )


def _error(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    assert found, "no error shown"
    return found[1]


def _visit(org, **rows) -> dict[str, str]:
    """The visit form: `b0={"kind": ..., "cash": ...}` fills row 0; the other rows stay blank."""
    form = {
        "action": "visit",
        "org": org.code,
        "visited_on": str(timezone.localdate()),
        "place": "白塔寺环卫站",
        "visitors": "王主席",
    }
    for row, values in rows.items():
        form.update({f"{row}_{k}": v for k, v in values.items()})
    return form


def test_a_district_starts_a_campaign_from_the_console(tree, staff, staff_client):
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    form = {"code": "LJ2026", "title": "2026 年两节慰问", "org": tree.xicheng.code,
            "budget": "5000.00", "starts_on": "2026-01-01", "ends_on": "2026-02-28",
            "description": "走访一线职工"}  # fmt: skip
    bad = client.post("/console/care/", {**form, "budget": "5千"})
    assert bad.status_code == 400 and "预算" in _error(bad.content.decode())
    assert 'name="budget" required inputmode="decimal" value="5千" aria-invalid="true"' in (
        bad.content.decode()
    )
    assert not CareCampaign.objects.exists()

    r = client.post("/console/care/", form)
    assert r.status_code == 302 and r["Location"] == "/console/care/LJ2026/?done=created"
    campaign = CareCampaign.objects.get()
    assert campaign.org == tree.xicheng and campaign.budget == Decimal("5000.00")
    listing = client.get("/console/care/").content.decode()
    assert 'href="/console/care/LJ2026/"' in listing and "5000.00" in listing
    page = client.get(r["Location"]).content.decode()
    assert "活动已创建" in page and "2026 年两节慰问" in page


def test_allocating_within_the_budget_and_beyond_it(tree, staff, staff_client):
    campaign = _campaign(tree.xicheng, budget="1000.00")
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    url = "/console/care/LJ2026/"
    today = str(timezone.localdate())
    r = client.post(url, {"action": "allocate", "org": "U1", "amount": "600.00", "date": today})
    assert r.status_code == 302 and r["Location"] == f"{url}?done=allocate"
    assert "已拨付。" in client.get(r["Location"]).content.decode()

    over = client.post(url, {"action": "allocate", "org": "U2", "amount": "500.00", "date": today})
    assert over.status_code == 409
    html = over.content.decode()
    assert "预算只剩 400.00 元未拨付" in _error(html)
    assert 'value="500.00"' in html  # the clerk's figure is kept, to correct
    assert CareLedgerEntry.objects.filter(campaign=campaign).count() == 1
    summary = campaign_summary(campaign=campaign)
    assert summary.allocated == Decimal("600.00") and summary.unallocated == Decimal("400.00")


def test_the_budget_changes_with_a_reason_and_never_below_what_is_allocated(
    tree, staff, staff_client
):
    campaign = _campaign(tree.xicheng, budget="1000.00")
    _allocate(campaign, tree.u1, "600.00")
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    url = "/console/care/LJ2026/"
    low = client.post(url, {"action": "budget", "budget": "500.00", "reason": "压缩开支"})
    assert low.status_code == 409 and "已经拨付了 600.00 元" in _error(low.content.decode())
    silent = client.post(url, {"action": "budget", "budget": "2000.00", "reason": ""})
    assert silent.status_code == 400 and 'aria-invalid="true"' in silent.content.decode()
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("1000.00")
    r = client.post(url, {"action": "budget", "budget": "2000.00", "reason": "追加预算"})
    assert r.status_code == 302 and r["Location"] == f"{url}?done=budget"
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("2000.00")
    html = client.get(r["Location"]).content.decode()
    assert "预算已修改" in html and 'id="unallocated-figure">1400.00' in html


def test_a_visit_spends_from_the_visiting_organisations_allocation(
    tree, staff, staff_client, make_member
):
    campaign = _campaign(tree.xicheng)
    _allocate(campaign, tree.u1, "1000.00")
    number = new_id_number()
    member = make_member(tree.u1, name="李师傅", id_number=number)
    model = labour_model_create(
        actor=None, name="张秉贵", level="national", unit_name="百货大楼", org=tree.u1
    )
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    # The form starts on the organisation that has money to spend.
    assert '<option value="U1" selected>' in client.get("/console/care/LJ2026/").content.decode()
    form = _visit(
        tree.u1,
        b0={"kind": "frontline", "name": "环卫工人", "headcount": "3", "cash": "300.00"},
        b1={"kind": "labour_model", "labour_model": str(model.pk), "name": "别的名字",
            "cash": "100.00"},
        b2={"kind": "member", "id_number": number, "cash": "200.00", "goods": "米面油",
            "goods_quantity": "1", "goods_value": "100.00"},
    )  # fmt: skip
    r = client.post("/console/care/LJ2026/", form)
    assert r.status_code == 302 and r["Location"].endswith("?done=visit")

    visit = CareVisit.objects.get()
    lines = list(visit.beneficiaries.order_by("id"))
    assert [(b.kind, b.name, b.headcount) for b in lines] == [
        ("frontline", "环卫工人", 3),
        ("labour_model", "张秉贵", 1),
        ("member", "李师傅", 1),
    ]
    assert lines[1].labour_model == model and lines[1].unit_name == "百货大楼"
    assert lines[2].member == member and lines[2].unit_name == tree.u1.name
    spent = CareLedgerEntry.objects.filter(kind=EntryKind.SPENDING, org=tree.u1)
    assert sorted(e.amount for e in spent) == [Decimal(a) for a in ("100.00", "300.00", "300.00")]

    html = client.get(r["Location"]).content.decode()
    assert 'id="spent-figure">700.00' in html and 'id="balance-figure">300.00' in html
    assert "环卫工人（一线职工，3 人）" in html and "李师傅（会员" in html
    assert "张秉贵（劳模" in html and 'data-label="合计（元）">700.00' in html


def test_a_visit_beyond_the_balance_is_refused_with_the_figures(tree, staff, staff_client):
    campaign = _campaign(tree.xicheng)
    _allocate(campaign, tree.u1, "100.00")
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    form = _visit(tree.u1, b0={"kind": "frontline", "name": "快递小哥", "cash": "150.00"})
    r = client.post("/console/care/LJ2026/", form)
    assert r.status_code == 409
    html = r.content.decode()
    message = _error(html)
    assert "还剩 100.00 元" in message and "需要 150.00 元" in message
    assert 'value="白塔寺环卫站"' in html and 'value="快递小哥"' in html
    assert not CareVisit.objects.exists()
    assert campaign_summary(campaign=campaign).spent == Decimal("0.00")


def test_an_id_number_outside_the_subtree_is_refused_like_an_unknown_one(
    tree, staff, staff_client, make_member
):
    campaign = _campaign(tree.xicheng)
    _allocate(campaign, tree.u1, "1000.00")
    elsewhere = new_id_number()
    make_member(tree.u3, name="怀柔会员", id_number=elsewhere)  # 怀柔: outside 西城
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))

    def attempt(number: str) -> tuple[int, str]:
        form = _visit(tree.u1, b0={"kind": "member", "id_number": number, "cash": "100.00"})
        r = client.post("/console/care/LJ2026/", form)
        return r.status_code, _error(r.content.decode())

    outside, unknown = attempt(elsewhere), attempt(new_id_number())
    assert outside == unknown
    assert outside[0] == 404 and "没有这个身份证号的会员" in outside[1]
    assert "怀柔" not in outside[1]
    assert not CareVisit.objects.exists()


def test_cancelling_a_visit_returns_its_money(tree, staff, staff_client):
    campaign = _campaign(tree.xicheng)
    _allocate(campaign, tree.u1, "1000.00")
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    form = _visit(tree.u1, b0={"kind": "frontline", "name": "环卫工人", "cash": "300.00"})
    assert client.post("/console/care/LJ2026/", form).status_code == 302
    visit = CareVisit.objects.get()
    assert campaign_summary(campaign=campaign).orgs[0].funds.balance == Decimal("700.00")

    no_reason = client.post(
        "/console/care/LJ2026/", {"action": "cancel_visit", "visit": visit.pk, "reason": " "}
    )
    assert no_reason.status_code == 400 and "请说明为什么取消" in _error(no_reason.content.decode())
    r = client.post(
        "/console/care/LJ2026/", {"action": "cancel_visit", "visit": visit.pk, "reason": "录重了"}
    )
    assert r.status_code == 302 and r["Location"].endswith("?done=cancel_visit")
    visit.refresh_from_db()
    assert visit.cancelled_at is not None
    assert campaign_summary(campaign=campaign).orgs[0].funds.balance == Decimal("1000.00")
    html = client.get(r["Location"]).content.decode()
    assert "已取消：录重了" in html and "已冲销" in html and 'id="spent-figure">0.00' in html


def test_a_unit_sees_only_its_part_of_a_district_campaign(tree, staff, staff_client):
    campaign = _campaign(tree.xicheng)
    _allocate(campaign, tree.u1, "500.00")
    _allocate(campaign, tree.u2, "300.00")
    client = staff_client(staff(Role.UNIT_ADMIN, tree.u1))
    html = client.get("/console/care/LJ2026/").content.decode()
    assert 'id="allocated-figure">500.00' in html and tree.u2.name not in html
    assert "这里只计本组织范围内" in html and 'value="allocate"' not in html
    assert 'value="visit"' in html


def test_a_reviewer_gets_403(tree, staff, staff_client):
    _campaign(tree.xicheng)
    client = staff_client(staff(Role.REVIEWER, tree.xicheng))
    assert client.get("/console/care/").status_code == 403
    assert client.get("/console/care/LJ2026/").status_code == 403
    form = {"action": "allocate", "org": "U1", "amount": "10.00", "date": "2026-01-05"}
    assert client.post("/console/care/LJ2026/", form).status_code == 403
    assert not CareLedgerEntry.objects.exists()


def test_a_campaign_of_another_district_is_404(tree, staff, staff_client):
    _campaign(tree.huairou, code="HR2026")
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    assert client.get("/console/care/HR2026/").status_code == 404
    today = str(timezone.localdate())
    form = {"action": "allocate", "org": "U3", "amount": "10.00", "date": today}
    assert client.post("/console/care/HR2026/", form).status_code == 404
    assert "HR2026" not in client.get("/console/care/").content.decode()
    assert not CareLedgerEntry.objects.exists()
