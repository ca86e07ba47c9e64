"""The protection API: plans and versions, unit enrolments and statements, claims with documents,
the reviewer's queue, payment runs, and a member's own claims in plain words."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from huzhu.accounts.models import Role, User
from huzhu.members.services import card_issue
from huzhu.protection.models import Enrollment, LedgerEntry, PaymentItem
from huzhu.settlement.services import settlements_import
from tests.conftest import PASSWORD
from tests.protection.factories import a_stay


def test_plans_and_versions_are_listed_for_any_login(zy, api_as, unit_admin):
    api = api_as(unit_admin)
    plans = api.get("/plans").json()
    assert [(p["code"], p["benefit"]) for p in plans] == [("ZY", "inpatient")]
    version = plans[0]["versions"][0]
    assert version["contribution"] == "60.00" and version["frozen"] is False
    assert version["terms"]["deductible"] == "1000.00"
    got = api.get("/plans/ZY/versions/2026-01-01").json()
    assert got["period_end"] == "2026-12-31"
    assert api.get("/plans/NOPE").status_code == 404


def test_city_staff_patch_a_version_until_it_is_frozen(
    zy, api_as, city_admin, xicheng_admin, insured, approved_claim
):
    body = {
        "contribution": "80.00",
        "terms": {"deductible": "800", "cap": "40000", "bands": [{"ratio": "0.5"}]},
    }
    assert api_as(xicheng_admin).patch("/plans/ZY/versions/2026-01-01", body).status_code == 403
    r = api_as(city_admin).patch("/plans/ZY/versions/2026-01-01", body)
    assert r.status_code == 200, r.content
    assert r.json()["contribution"] == "80.00"
    assert r.json()["terms"]["deductible"] == "800.00"
    bad = api_as(city_admin).patch("/plans/ZY/versions/2026-01-01", {"terms": {"cap": "1"}})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_plan")
    approved_claim(insured, "10.00")  # the first payout freezes the version
    r = api_as(city_admin).patch("/plans/ZY/versions/2026-01-01", {"waiting_days": 30})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "version_frozen")


def test_unit_enrolment_enrols_active_members_not_yet_enrolled(
    tree, zy, make_member, enrol, api_as, unit_admin, make_staff
):
    a, b, gone = (make_member(tree.u1, name=n) for n in ("甲", "乙", "丙"))
    gone.is_active = False
    gone.save()
    enrol(a)
    make_member(tree.u2, name="别的单位")
    api = api_as(unit_admin)
    r = api.post("/units/U1/enrollments", {"plan_code": "ZY", "period_start": "2026-01-01"})
    assert r.status_code == 201, r.content
    assert (r.json()["created"], r.json()["already_enrolled"]) == (1, 1)
    e = Enrollment.objects.get(member=b)
    assert (str(e.amount), e.payer, e.unit_id) == ("60.00", "unit", tree.u1.pk)
    assert not Enrollment.objects.filter(member=gone).exists()
    again = api.post("/units/U1/enrollments", {"plan_code": "ZY", "period_start": "2026-01-01"})
    assert again.json()["created"] == 0
    # other units are out of scope; a district is not a unit
    assert (
        api.post(
            "/units/U2/enrollments", {"plan_code": "ZY", "period_start": "2026-01-01"}
        ).status_code
        == 404
    )
    district = api_as(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    r = district.post("/units/BJ02/enrollments", {"plan_code": "ZY", "period_start": "2026-01-01"})
    assert r.json()["error"]["code"] == "not_a_unit"
    statement = api.get("/units/U1/contributions?year=2026").json()
    assert statement == [
        {
            "plan_code": "ZY",
            "period_start": "2026-01-01",
            "payer": "unit",
            "members": 2,
            "total": "120.00",
        }
    ]


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.GATE, Role.STATION_OPERATOR])
def test_contribution_statements_are_for_the_admins(tree, zy, make_staff, api_as, role):
    api = api_as(make_staff(role, tree.xicheng))
    assert api.get("/units/U1/contributions?year=2026").status_code == 403
    admin = api_as(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    assert admin.get("/units/U1/contributions?year=2026").status_code == 200
    assert admin.get("/units/U3/contributions?year=2026").status_code == 404


def _file(api, member, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {
        "member_id": member.pk,
        "plan_code": "ZY",
        "hospital": "北京市西城区第一医院",
        "admitted_on": "2026-05-10",
        "discharged_on": "2026-05-20",
        "settled_on": "2026-05-21",
        "in_scope_self_pay": "9000.00",  # (9,000 - 1,000 deductible) × 0.50 = 4,000.00
        "out_of_scope_self_pay": "1200.00",
        "requested": "3000.00",
        "description": "住院手术",
        **extra,
    }
    data.setdefault(
        "documents",
        [
            SimpleUploadedFile("发票.pdf", b"%PDF-1", "application/pdf"),
            SimpleUploadedFile("小结.jpg", b"\xff\xd8\xff\xe0 JFIF", "image/jpeg"),
        ],
    )
    return api.client.post("/api/v1/claims", data, **api.headers)


def test_claims_through_the_api(insured, api_as, unit_admin, reviewer, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    r = _file(api_as(unit_admin), insured)
    assert r.status_code == 201, r.content
    claim = r.json()
    assert claim["state"] == "submitted" and claim["requested"] == "3000.00"
    assert [d["title"] for d in claim["documents"]] == ["发票.pdf", "小结.jpg"]
    rev = api_as(reviewer)
    queue = rev.get("/claims").json()
    assert [c["id"] for c in queue["items"]] == [claim["id"]]
    doc = rev.get(f"/claims/{claim['id']}/documents/{claim['documents'][0]['id']}")
    assert b"".join(doc.streaming_content) == b"%PDF-1"
    cid = claim["id"]
    assert rev.post(f"/claims/{cid}/accept").json()["state"] == "accepted"
    # accepted cannot be accepted again: 409 invalid_transition
    r = rev.post(f"/claims/{cid}/accept")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "invalid_transition")
    assert rev.post(f"/claims/{cid}/review", {"note": "核对"}).json()["state"] == "under_review"
    r = rev.post(
        f"/claims/{cid}/approve", {"amount": "2800.00", "reason_code": "partly_meets_terms"}
    )
    assert r.status_code == 200, r.content
    detail = r.json()
    assert detail["approved"] == "2800.00"
    assert [(e["kind"], e["amount"], e["paid"]) for e in detail["entries"]] == [
        ("payout", "2800.00", False)
    ]
    assert [e["to_state"] for e in detail["events"]] == [
        "submitted",
        "accepted",
        "under_review",
        "approved",
    ]
    assert rev.get("/claims").json()["items"] == []  # no longer open
    assert rev.get("/claims?state=approved").json()["count"] == 1


def test_filing_without_enrolment_or_in_another_unit_is_refused(
    tree, insured, make_member, api_as, unit_admin, make_staff
):
    stranger = make_member(tree.u1)
    r = _file(api_as(unit_admin), stranger, documents=[])
    assert r.json()["error"]["code"] == "not_enrolled"
    other_admin = api_as(make_staff(Role.UNIT_ADMIN, tree.u2))
    assert _file(other_admin, insured, documents=[]).status_code == 404


def test_the_queue_is_scoped_to_the_reviewers_subtree(
    tree, insured, file_claim, api_as, make_staff, reviewer
):
    claim = file_claim(insured)
    huairou = api_as(make_staff(Role.REVIEWER, tree.huairou))
    assert huairou.get("/claims").json()["count"] == 0
    assert huairou.get(f"/claims/{claim.pk}").status_code == 404
    r = huairou.post(f"/claims/{claim.pk}/approve", {"amount": "1.00", "fast_track": True})
    assert r.status_code == 404
    gate = api_as(make_staff(Role.GATE, tree.city))
    assert gate.get("/claims").status_code == 403
    r = api_as(reviewer).post(
        f"/claims/{claim.pk}/approve", {"amount": "3000.00", "fast_track": True}
    )
    assert r.json()["state"] == "approved" and r.json()["fast_track"] is True


def test_reject_through_the_api_writes_nothing(insured, file_claim, api_as, reviewer):
    claim = file_claim(insured)
    api = api_as(reviewer)
    r = api.post(f"/claims/{claim.pk}/reject", {"reason_code": "made_up"})
    assert r.json()["error"]["code"] == "invalid_reason_code"
    r = api.post(f"/claims/{claim.pk}/reject", {"reason_code": "insufficient_documents"})
    assert r.json()["state"] == "rejected" and r.json()["entries"] == []
    assert not LedgerEntry.objects.exists()


def test_payment_runs_through_the_api(
    insured, approved_claim, api_as, city_admin, xicheng_admin, make_staff, tree
):
    approved_claim(insured, "500.00")
    assert api_as(xicheng_admin).post("/payment-runs").status_code == 403
    api = api_as(city_admin)
    r = api.post("/payment-runs")
    assert r.status_code == 201, r.content
    run = r.json()
    assert (run["state"], run["total"], run["items"], run["held_no_card"]) == (
        "draft",
        "500.00",
        1,
        0,
    )
    again = api.post("/payment-runs")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "nothing_to_pay")
    # 双人复核: no bank file until another city admin releases the run.
    f = api.get(f"/payment-runs/{run['reference']}/file")
    assert (f.status_code, f.json()["error"]["code"]) == (409, "not_released")
    r = api.post(f"/payment-runs/{run['reference']}/release")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "same_approver")
    assert (
        api_as(xicheng_admin).post(f"/payment-runs/{run['reference']}/release").status_code == 403
    )
    checker = api_as(make_staff(Role.CITY_ADMIN, tree.city))
    r = checker.post(f"/payment-runs/{run['reference']}/release")
    assert (r.status_code, r.json()["state"]) == (200, "released"), r.content
    f = api.get(f"/payment-runs/{run['reference']}/file")
    assert f["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(f.content.decode("utf-8-sig"))))
    assert rows[0] == ["card_no", "name", "amount", "reference"] and rows[1][2] == "500.00"
    ref = rows[1][3]
    detail = api.get(f"/payment-runs/{run['reference']}").json()
    assert [(i["reference"], i["state"]) for i in detail["items"]] == [(ref, "pending")]
    r = api.post(f"/payment-items/{ref}/fail", {"reason": "户名不符"})
    assert r.json()["state"] == "failed"
    second = api.post("/payment-runs").json()
    ref2 = PaymentItem.objects.get(run__reference=second["reference"]).reference
    r = api.post(f"/payment-items/{ref2}/confirm")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_released")
    checker.post(f"/payment-runs/{second['reference']}/release")
    r = api.upload(
        f"/payment-runs/{second['reference']}/confirmations",
        "bank.csv",
        f"reference,status\n{ref2},paid\n".encode(),
    )
    assert r.json()["paid"] == 1, r.content
    assert api.post(f"/payment-items/{ref2}/fail").json()["error"]["code"] == "invalid_transition"
    assert api.get("/payment-runs").json()["count"] == 2


@pytest.fixture
def member_login(insured):
    user = User(username=f"m{insured.pk}", role=Role.MEMBER, member=insured)
    user.set_password(PASSWORD)
    user.save()
    return user


SETTLEMENT_HEADER = (
    "settlement_id,id_number,name,hospital,admitted_on,discharged_on,settled_on,total_cost,"
    "fund_paid,in_scope_self_pay,out_of_scope_self_pay,diagnosis_code,is_accident,reverses"
)


def test_a_member_sees_its_claims_with_reasons_in_plain_words(
    insured,
    member_login,
    approved_claim,
    file_claim,
    reviewer,
    api_as,
    city_admin,
    tree,
    make_member,
):
    from huzhu.members.services import member_reveal_id_number

    number = member_reveal_id_number(member=insured, actor=reviewer, reason="test")
    rows = [
        f"S1,{number},李四,协和医院,2026-06-01,2026-06-05,2026-06-06,0,0,800.00,0,,0,",
        f"S2,{number},李四,协和医院,2026-07-01,2026-07-05,2026-07-06,0,0,3000.00,0,,0,",
    ]
    settlements_import(("\n".join([SETTLEMENT_HEADER, *rows]) + "\n").encode(), file="s.csv")
    # A stay after both settlements: its 6,000.00 lies above the deductible, assessed 3,000.00.
    later = a_stay(date(2026, 8, 1), in_scope_self_pay=Decimal("6000.00"))
    approved_claim(insured, "2000.00", requested="2500.00", stay=later)
    from huzhu.protection.services import claim_reject

    claim_reject(actor=reviewer, claim=file_claim(insured), reason_code="insufficient_documents")
    api_as(city_admin).post("/payment-runs")
    r = api_as(member_login).get("/me/claims")
    assert r.status_code == 200, r.content
    data = r.json()
    reasons = {(c["source"], c["amount"]): c["reason"] for c in data["claims"]}
    assert reasons[("settlement", "0.00")] == "本年度累计自付未超过起付线1000.00元"
    # 800 + 3000 cumulative: 2800 above the deductible at 50%
    assert (
        reasons[("settlement", "1400.00")]
        == "根据医保结算数据按保障条款自动计算，给付1400.00元（免申即享）"
    )
    assert reasons[("application", "2000.00")] == "申请2500.00元，经审核核定给付2000.00元"
    assert reasons[("application", "0.00")] == "申请材料不全，未予批准"
    below = next(c for c in data["claims"] if c["reason_code"] == "BELOW_DEDUCTIBLE")
    assert below["event_date"] == "2026-06-01"
    [payout] = data["payouts"]
    assert payout["amount"] == "3400.00" and payout["state"] == "pending"
    assert payout["card_last4"] == insured.cards.get().card_no[-4:]
    # staff have no /me/claims; other members see only their own
    assert api_as(reviewer).get("/me/claims").status_code == 403
    other = make_member(tree.u1)
    card_issue(member=other, card_no="COTHER01")
    login = User(username="other", role=Role.MEMBER, member=other)
    login.set_password(PASSWORD)
    login.save()
    assert api_as(login).get("/me/claims").json() == {"claims": [], "payouts": []}


def test_openapi_schema_lists_the_protection_endpoints(api_as, city_admin):
    schema = json.loads(api_as(city_admin).get("/openapi.json").content)
    for path in ("/api/v1/claims", "/api/v1/payment-runs", "/api/v1/me/claims", "/api/v1/plans"):
        assert path in schema["paths"]
