"""The console's claim pages and payment runs through Django's test client: scoping by subtree,
roles, decisions through the protection services, refusals shown on the page, payment runs and
their bank files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from huzhu.accounts.models import Role
from huzhu.members.services import card_issue
from huzhu.protection.filing import claim_file
from huzhu.protection.models import (
    Claim,
    ClaimState,
    Enrollment,
    EntryKind,
    LedgerEntry,
    PaymentItem,
    PaymentItemState,
    PaymentRun,
    PlanVersion,
)
from huzhu.protection.payments import payment_run_release
from huzhu.protection.plans import plan_load_toml
from huzhu.protection.services import claim_accept, claim_review
from tests.conftest import new_id_number
from tests.protection.conftest import ZY
from tests.protection.factories import a_stay


@pytest.fixture(autouse=True)
def _media_and_sms(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.MemoryBackend"


@pytest.fixture
def zy(db: Any) -> PlanVersion:
    version, _ = plan_load_toml(ZY, file="zy.toml")
    return version


@pytest.fixture
def claimant(tree: Any, make_member: Any, zy: PlanVersion) -> Any:
    """A member of U1 (西城) enrolled in ZY 2026 with an active card, and its ID number."""
    number = new_id_number()
    member = make_member(tree.u1, name="王五", id_number=number, phone="13812345678")
    Enrollment.objects.create(
        member=member, version=zy, unit=member.unit, amount=zy.contribution, payer=zy.payer
    )
    card_issue(member=member, card_no="6222000000009999")
    member.number = number
    return member


@pytest.fixture
def filed(claimant: Any, zy: PlanVersion, make_staff: Any, tree: Any) -> Claim:
    unit_admin = make_staff(Role.UNIT_ADMIN, tree.u1)
    return claim_file(
        actor=unit_admin,
        member=claimant,
        version=zy,
        stay=a_stay(date(2026, 5, 1)),
        requested="5000.00",
        description="住院治疗",
    )


def _under_review(claim: Claim, reviewer: Any) -> Claim:
    claim_accept(actor=reviewer, claim=claim)
    return claim_review(actor=reviewer, claim=claim)


def test_queue_and_detail_are_scoped_to_the_subtree(filed, tree, staff, staff_client):
    html = staff_client(staff(Role.REVIEWER)).get("/console/claims/").content.decode()
    assert "王五" in html and f"/console/claims/{filed.pk}/" in html
    other = staff_client(staff(Role.DISTRICT_ADMIN, tree.huairou))
    assert "王五" not in other.get("/console/claims/").content.decode()
    assert other.get(f"/console/claims/{filed.pk}/").status_code == 404
    assert other.post(f"/console/claims/{filed.pk}/", {"action": "accept"}).status_code == 404
    assert Claim.objects.get(pk=filed.pk).state == ClaimState.SUBMITTED


def test_gate_and_member_logins_are_refused(filed, staff, staff_client, member_client):
    gate = staff_client(staff(Role.GATE))
    for url in ("/console/claims/", f"/console/claims/{filed.pk}/", "/console/payments/"):
        assert gate.get(url).status_code == 403, url
        assert member_client.get(url).status_code == 403, url


def test_detail_shows_masked_id_plan_and_documents(claimant, zy, tree, make_staff, staff_client):
    unit_admin = make_staff(Role.UNIT_ADMIN, tree.u1)
    claim = claim_file(
        actor=unit_admin,
        member=claimant,
        version=zy,
        stay=a_stay(date(2026, 5, 1)),
        requested="5000.00",
        documents=[("发票.pdf", SimpleUploadedFile("invoice.pdf", b"%PDF-1.4"))],
    )
    client = staff_client(make_staff(Role.REVIEWER, tree.xicheng))
    html = client.get(f"/console/claims/{claim.pk}/").content.decode()
    assert claimant.id_masked in html and claimant.number not in html
    assert "住院医疗" in html and "2026-05-01" in html and "5000.00" in html
    assert 'id="assessed">50000.00' in html  # 100,000.00 in scope: the cap
    doc = claim.documents.get()
    assert f"/console/claims/{claim.pk}/documents/{doc.pk}/" in html
    r = client.get(f"/console/claims/{claim.pk}/documents/{doc.pk}/")
    assert r.status_code == 200 and b"".join(r.streaming_content) == b"%PDF-1.4"


def test_accept_review_approve_by_post_writes_a_payout(filed, staff, staff_client):
    reviewer = staff(Role.REVIEWER)
    client = staff_client(reviewer)
    url = f"/console/claims/{filed.pk}/"
    assert client.post(url, {"action": "accept"}).status_code == 302
    assert client.post(url, {"action": "review", "note": "开始"}).status_code == 302
    r = client.post(
        url, {"action": "approve", "amount": "4000.00", "reason_code": "partly_meets_terms"}
    )
    assert r.status_code == 302 and r["Location"] == url
    claim = Claim.objects.get(pk=filed.pk)
    assert claim.state == ClaimState.APPROVED and claim.target == Decimal("4000.00")
    entry = LedgerEntry.objects.get(claim=claim)
    assert (entry.kind, entry.amount) == (EntryKind.PAYOUT, Decimal("4000.00"))
    html = client.get(url).content.decode()
    assert "已批准" in html and "4000.00" in html
    assert list(claim.events.values_list("to_state", flat=True)) == [
        "submitted",
        "accepted",
        "under_review",
        "approved",
    ]


def test_refusals_are_shown_on_the_page(filed, staff, staff_client):
    reviewer = staff(Role.REVIEWER)
    _under_review(filed, reviewer)
    client = staff_client(reviewer)
    url = f"/console/claims/{filed.pk}/"
    r = client.post(url, {"action": "approve", "amount": "9000.00", "reason_code": "meets_terms"})
    assert r.status_code == 409 and "申请的 5000.00 元" in r.content.decode()
    r = client.post(url, {"action": "accept"})
    assert r.status_code == 409 and 'role="alert"' in r.content.decode()
    r = client.post(url, {"action": "reject", "reason_code": "bogus"})
    assert r.status_code == 400 and "原因代码只能是" in r.content.decode()
    assert not LedgerEntry.objects.filter(claim=filed).exists()
    r = client.post(url, {"action": "reject", "reason_code": "duplicate_claim", "note": "重复"})
    assert r.status_code == 302
    assert Claim.objects.get(pk=filed.pk).state == ClaimState.REJECTED


def test_fast_track_approves_a_submitted_claim(filed, staff, staff_client, tree):
    client = staff_client(staff(Role.CITY_ADMIN, tree.city))
    r = client.post(f"/console/claims/{filed.pk}/", {"action": "fast_track", "amount": "5000"})
    assert r.status_code == 302
    claim = Claim.objects.get(pk=filed.pk)
    assert claim.state == ClaimState.APPROVED and claim.fast_track


def test_unit_admin_files_a_claim_with_documents(claimant, zy, tree, make_staff, staff_client):
    client = staff_client(make_staff(Role.UNIT_ADMIN, tree.u1))
    assert client.get("/console/claims/new/").status_code == 200
    r = client.post(
        "/console/claims/new/",
        {
            "id_number": claimant.number,
            "version": str(zy.pk),
            "event_date": "2026-04-02",
            "requested": "1200.50",
            "description": "骨折住院",
            "documents": [
                SimpleUploadedFile("a.jpg", b"\xff\xd8\xff\xe0 JFIF"),
                SimpleUploadedFile("b.pdf", b"%PDF-1.4"),
            ],
        },
    )
    claim = Claim.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/console/claims/{claim.pk}/"
    assert claim.member_id == claimant.pk and claim.requested == Decimal("1200.50")
    assert claim.documents.count() == 2
    # A reviewer may not file; a bad date or a member outside the unit is refused on the page.
    assert (
        staff_client(make_staff(Role.REVIEWER, tree.xicheng))
        .get("/console/claims/new/")
        .status_code
        == 403
    )
    r = client.post(
        "/console/claims/new/",
        {
            "id_number": claimant.number,
            "version": str(zy.pk),
            "event_date": "2025-04-02",
            "requested": "100",
        },
    )
    assert r.status_code == 400 and "不在 2026-01-01~2026-12-31 之内" in r.content.decode()
    r = client.post(
        "/console/claims/new/",
        {"id_number": new_id_number(), "version": str(zy.pk), "event_date": "2026-04-02"},
    )
    assert r.status_code == 404 and 'role="alert"' in r.content.decode()
    assert Claim.objects.count() == 1


def test_payment_run_page_creates_a_run_and_returns_the_bank_file(filed, staff, staff_client, tree):
    _under_review(filed, staff(Role.REVIEWER))
    city = staff(Role.CITY_ADMIN, tree.city)
    client = staff_client(city)
    client.post(f"/console/claims/{filed.pk}/", {"action": "approve", "amount": "3000.00"})
    assert staff_client(staff(Role.DISTRICT_ADMIN)).get("/console/payments/").status_code == 403

    r = client.post("/console/payments/")
    run = PaymentRun.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/console/payments/{run.reference}/"
    html = client.get("/console/payments/").content.decode()
    assert run.reference in html
    item = PaymentItem.objects.get(run=run)
    assert item.reference in client.get(r["Location"]).content.decode()
    # 双人复核: no bank file before a second city admin releases the run; not its maker.
    assert client.get(f"/console/payments/{run.reference}/bank.csv").status_code == 409
    r = client.post(f"/console/payments/{run.reference}/", {"action": "release"})
    assert r.status_code == 409 and 'role="alert"' in r.content.decode()
    checker = staff_client(staff(Role.CITY_ADMIN, tree.city))
    waiting = checker.get("/console/approvals/").content.decode()
    assert run.reference in waiting and "您可复核" in waiting
    r = checker.post(f"/console/payments/{run.reference}/", {"action": "release"})
    assert r.status_code == 302
    r = client.get(f"/console/payments/{run.reference}/bank.csv")
    body = r.content.decode("utf-8-sig")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert body.splitlines()[0] == "card_no,name,amount,reference"
    assert f"6222000000009999,王五,3000.00,{item.reference}" in body

    # Nothing more to pay: the refusal is on the page.
    r = client.post("/console/payments/")
    assert r.status_code == 409 and 'role="alert"' in r.content.decode()

    # A bad answer file is refused whole; a good one marks the item paid and the claim paid.
    url = f"/console/payments/{run.reference}/"
    bad = SimpleUploadedFile("answer.csv", b"reference,status\nPR-NOPE,paid\n")
    r = client.post(url, {"action": "upload", "file": bad})
    assert r.status_code == 400 and "没有转账 PR-NOPE" in r.content.decode()
    good = SimpleUploadedFile("answer.csv", f"reference,status\n{item.reference},成功\n".encode())
    r = client.post(url, {"action": "upload", "file": good})
    assert r.status_code == 200 and 'role="status"' in r.content.decode()
    assert PaymentItem.objects.get(pk=item.pk).state == PaymentItemState.PAID
    assert Claim.objects.get(pk=filed.pk).state == ClaimState.PAID


def release(run: PaymentRun) -> None:
    payment_run_release(actor=None, run=run)


def test_payment_items_confirmed_or_failed_by_hand(filed, staff, staff_client, tree):
    city = staff(Role.CITY_ADMIN, tree.city)
    client = staff_client(city)
    client.post(f"/console/claims/{filed.pk}/", {"action": "fast_track", "amount": "100"})
    client.post("/console/payments/")
    run = PaymentRun.objects.get()
    release(run)
    item = PaymentItem.objects.get(run=run)
    url = f"/console/payments/{run.reference}/"
    r = client.post(url, {"action": "fail", "reference": item.reference, "reason": "卡号错误"})
    assert r.status_code == 302
    assert PaymentItem.objects.get(pk=item.pk).state == PaymentItemState.FAILED
    r = client.post(url, {"action": "confirm", "reference": item.reference})
    assert r.status_code == 409 and "当前的状态是“转账失败”" in r.content.decode()
    # The freed entry goes into the next run, confirmed by hand.
    client.post("/console/payments/")
    second = PaymentRun.objects.exclude(pk=run.pk).get()
    release(second)
    again = PaymentItem.objects.get(run=second)
    r = client.post(
        f"/console/payments/{second.reference}/",
        {"action": "confirm", "reference": again.reference},
    )
    assert r.status_code == 302
    assert Claim.objects.get(pk=filed.pk).state == ClaimState.PAID
