"""Money that cannot go wrong: a claim filed by hand obeys the plan's rules, one stay is paid once
whichever channel brings it, coverage starts when the member joined, and every attack of issue 14
is refused (INTERFACES: "Coverage start", "Claims filed by hand are hospital stays", "Two people
for large money", "Bounds")."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from huzhu.accounts.models import Role
from huzhu.core.errors import DomainError
from huzhu.members.services import member_reveal_id_number
from huzhu.protection.corrections import claim_correct
from huzhu.protection.models import (
    Claim,
    ClaimEvent,
    ClaimState,
    Enrollment,
    EntryKind,
    LedgerEntry,
    PlanVersion,
)
from huzhu.protection.plans import plan_load_toml
from huzhu.protection.services import claim_approve
from huzhu.protection.stays import claim_assessment
from huzhu.settlement.exports import payout_rows
from huzhu.settlement.services import settlements_import
from tests.protection.factories import a_stay

YW = """
code = "YW"
name = "意外伤害"
benefit = "accident"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "20.00"
waiting_days = 90
[accident]
cap = "20000.00"
""".encode()

HEADER = (
    "settlement_id,id_number,name,hospital,admitted_on,discharged_on,settled_on,total_cost,"
    "fund_paid,in_scope_self_pay,out_of_scope_self_pay,diagnosis_code,is_accident,reverses"
)


@pytest.fixture
def yw(db: Any) -> PlanVersion:
    version, _ = plan_load_toml(YW, file="yw.toml")
    return version


@pytest.fixture
def number(insured: Any, reviewer: Any) -> str:
    return member_reveal_id_number(member=insured, actor=reviewer, reason="test")


@pytest.fixture
def bureau(number: str) -> Any:
    """Import settlement rows of the insured member: (id, admitted, discharged, settled, in
    scope[, out of scope, accident, reverses])."""

    def send(*rows: tuple[Any, ...], file: str = "s.csv") -> Any:
        lines = [HEADER]
        for sid, admitted, discharged, settled, in_scope, *rest in rows:
            out_scope = rest[0] if len(rest) > 0 else "0"
            accident = rest[1] if len(rest) > 1 else "0"
            reverses = rest[2] if len(rest) > 2 else ""
            lines.append(
                f"{sid},{number},李四,协和医院,{admitted},{discharged},{settled},0,0,"
                f"{in_scope},{out_scope},,{accident},{reverses}"
            )
        return settlements_import(("\n".join(lines) + "\n").encode(), file=file)

    return send


@pytest.fixture
def second_reviewer(tree: Any, make_staff: Any) -> Any:
    return make_staff(Role.REVIEWER, tree.xicheng)


def paid(member: Any, version: PlanVersion) -> Decimal:
    """Everything booked for the member under the version, both channels."""
    return sum(
        (
            e.amount
            for e in LedgerEntry.objects.filter(claim__member=member, claim__version=version)
        ),
        Decimal("0.00"),
    )


def approve_twice(claim: Claim, amount: str, first: Any, second: Any) -> Claim:
    claim_approve(actor=first, claim=claim, amount=amount, fast_track=True)
    return claim_approve(actor=second, claim=claim, amount=amount, fast_track=True)


# -- a claim filed by hand is a stay, assessed by the rules ---------------------------------------


def test_a_hand_claim_above_the_accident_cap_is_refused_even_on_fast_track(
    insured, enrol, yw, file_claim, reviewer, second_reviewer
):
    enrol(insured, yw)
    stay = a_stay(date(2026, 6, 1), in_scope_self_pay=Decimal("25000.00"),
                  out_of_scope_self_pay=Decimal("10000.00"), is_accident=True)  # fmt: skip
    claim = file_claim(insured, "30000.00", version=yw, stay=stay)
    assert claim_assessment(claim).assessed == Decimal("20000.00")  # the cap
    with pytest.raises(DomainError) as exc:
        claim_approve(actor=reviewer, claim=claim, amount="30000.00", fast_track=True)
    assert (exc.value.status, exc.value.code) == (409, "exceeds_assessed")
    assert exc.value.details["assessed"] == "20000.00"
    approve_twice(claim, "20000.00", reviewer, second_reviewer)
    assert paid(insured, yw) == Decimal("20000.00")


def test_hand_and_bureau_share_one_cap(insured, file_claim, reviewer, second_reviewer, bureau, zy):
    """40,000.00 by hand, then 50,000.00 worth of stays from the bureau: 50,000.00 in all."""
    big = a_stay(date(2026, 5, 1), in_scope_self_pay=Decimal("90000.00"))
    claim = file_claim(insured, "40000.00", stay=big)
    approve_twice(claim, "40000.00", reviewer, second_reviewer)
    bureau(("B1", "2026-06-01", "2026-06-20", "2026-06-21", "95000.00"))
    assert paid(insured, zy) == Decimal("50000.00")
    row = Claim.objects.get(settlement__settlement_id="B1")
    assert (row.target, row.reason) == (Decimal("10000.00"), "")
    # An earlier bureau stay arriving later takes the cap first: the hand claim gives back.
    bureau(("B0", "2026-04-05", "2026-04-14", "2026-04-15", "95000.00"), file="s2.csv")
    assert paid(insured, zy) == Decimal("50000.00")
    claim.refresh_from_db()
    assert claim.target == Decimal("0.00") and claim.reason == "CAP_REACHED"
    assert LedgerEntry.objects.filter(claim=claim, kind=EntryKind.CLAWBACK).exists()


def test_the_detail_says_what_the_rules_assess_and_why_nothing(
    insured, api_as, unit_admin, reviewer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    api = api_as(unit_admin)
    form = {
        "member_id": insured.pk,
        "plan_code": "ZY",
        "admitted_on": "2026-05-10",
        "discharged_on": "2026-05-12",
        "settled_on": "2026-05-13",
        "in_scope_self_pay": "800.00",
        "requested": "300.00",
    }
    r = api.client.post("/api/v1/claims", form, **api.headers)
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["assessed"], body["assessed_reason"]) == ("0.00", "BELOW_DEDUCTIBLE")
    form.update(admitted_on="2026-06-10", discharged_on="2026-06-12", settled_on="2026-06-12",
                in_scope_self_pay="9000.00", event_date="2026-06-10")  # fmt: skip
    r = api.client.post("/api/v1/claims", form, **api.headers)
    body = r.json()
    # (9,000 - 1,000) × 0.50: the first claim, still under review, is no stay of the member's
    # yet and uses up nothing (its 800.00 would have counted towards the deductible).
    assert (body["assessed"], body["assessed_reason"]) == ("4000.00", None)
    assert (body["admitted_on"], body["in_scope_self_pay"]) == ("2026-06-10", "9000.00")
    rev = api_as(reviewer)
    r = rev.post(f"/claims/{body['id']}/approve", {"amount": "4000.01", "fast_track": True})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "exceeds_assessed")
    r = rev.post(f"/claims/{body['id']}/approve", {"amount": "300.01", "fast_track": True})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "exceeds_assessed")
    r = rev.post(f"/claims/{body['id']}/approve", {"amount": "300.00", "fast_track": True})
    assert (r.status_code, r.json()["state"], r.json()["approved"]) == (200, "approved", "300.00")


def test_event_date_must_equal_the_admission(insured, api_as, unit_admin):
    api = api_as(unit_admin)
    form = {"member_id": insured.pk, "plan_code": "ZY", "admitted_on": "2026-05-10",
            "event_date": "2026-05-11", "requested": "10.00"}  # fmt: skip
    r = api.client.post("/api/v1/claims", form, **api.headers)
    assert r.status_code == 400
    assert (r.json()["error"]["code"], r.json()["error"]["details"]["field"]) == (
        "event_date_mismatch",
        "event_date",
    )


def test_one_stay_is_one_claim_per_version(insured, file_claim):
    stay = a_stay(date(2026, 7, 1), stay_ref="BJ20260701001")
    file_claim(insured, stay=stay)
    with pytest.raises(DomainError) as exc:
        file_claim(insured, stay=a_stay(date(2026, 7, 2), stay_ref="BJ20260701001"))
    assert (exc.value.status, exc.value.code) == (409, "duplicate_stay")
    file_claim(insured, stay=a_stay(date(2026, 8, 1), days=3))
    with pytest.raises(DomainError) as exc:
        file_claim(insured, stay=a_stay(date(2026, 8, 1), days=3))
    assert exc.value.code == "duplicate_stay"


# -- one stay, counted once ------------------------------------------------------------------------


def test_the_bureau_row_takes_over_a_hand_claim_of_the_same_settlement_id(
    insured, file_claim, reviewer, bureau, zy, number
):
    stay = a_stay(date(2026, 5, 1), days=9, in_scope_self_pay=Decimal("5000.00"),
                  stay_ref="S-100")  # fmt: skip
    claim = file_claim(insured, "2000.00", stay=stay)
    claim_approve(actor=reviewer, claim=claim, amount="1500.00", fast_track=True)
    assert paid(insured, zy) == Decimal("1500.00")
    # The bureau's figures stand: (6,000 - 1,000) × 0.50 = 2,500.00; only 1,000.00 more.
    report = bureau(("S-100", "2026-05-01", "2026-05-10", "2026-05-10", "6000.00"))
    assert report.claims_taken_over == 1
    claim.refresh_from_db()
    assert claim.settlement is not None and claim.settlement.settlement_id == "S-100"
    assert (claim.target, claim.payout_limit) == (Decimal("2500.00"), None)
    entries = list(LedgerEntry.objects.filter(claim=claim).order_by("id"))
    assert [(e.kind, e.amount) for e in entries] == [
        (EntryKind.PAYOUT, Decimal("1500.00")),
        (EntryKind.ADJUSTMENT, Decimal("1000.00")),
    ]
    assert Claim.objects.filter(settlement=claim.settlement).count() == 1
    assert ClaimEvent.objects.filter(claim=claim, reason_code="settled_by_bureau").exists()
    rows = [r for r in payout_rows() if r[1] == number]
    assert rows == [["S-100", number, "ZY", "6000.00", "2500.00", ""]]
    # Sent again: nothing changes.
    bureau(("S-100", "2026-05-01", "2026-05-10", "2026-05-10", "6000.00"), file="again.csv")
    assert paid(insured, zy) == Decimal("2500.00")


def test_a_bureau_row_that_gives_less_claws_the_difference_back(
    insured, file_claim, reviewer, bureau, zy
):
    stay = a_stay(date(2026, 5, 1), days=9, in_scope_self_pay=Decimal("9000.00"))
    claim = file_claim(insured, "4000.00", stay=stay)  # no settlement id: matched by dates
    claim_approve(actor=reviewer, claim=claim, amount="4000.00", fast_track=True)
    bureau(("S-7", "2026-05-01", "2026-05-10", "2026-05-11", "3000.00"))
    claim.refresh_from_db()
    assert claim.settlement.settlement_id == "S-7" and claim.target == Decimal("1000.00")
    assert paid(insured, zy) == Decimal("1000.00")
    clawback = LedgerEntry.objects.filter(claim=claim).order_by("-id").first()
    assert (clawback.kind, clawback.amount) == (EntryKind.CLAWBACK, Decimal("-3000.00"))


def test_a_pending_hand_claim_is_decided_by_the_bureau_row_that_arrives(
    insured, file_claim, bureau, zy
):
    claim = file_claim(insured, "999.00", stay=a_stay(date(2026, 5, 1), days=9, stay_ref="S-9"))
    bureau(("S-9", "2026-05-01", "2026-05-10", "2026-05-10", "3000.00"))
    claim.refresh_from_db()
    assert (claim.state, claim.target) == (ClaimState.APPROVED, Decimal("1000.00"))
    assert paid(insured, zy) == Decimal("1000.00")


def test_a_hand_claim_for_a_stay_the_bureau_already_sent_gets_nothing(
    insured, file_claim, reviewer, bureau, zy, number
):
    bureau(("S-1", "2026-05-01", "2026-05-10", "2026-05-10", "3000.00"))
    claim = file_claim(insured, "500.00", stay=a_stay(date(2026, 5, 1), days=9))
    assessment = claim_assessment(claim)
    assert (assessment.assessed, assessment.reason) == (Decimal("0.00"), "DUPLICATE_STAY")
    with pytest.raises(DomainError) as exc:
        claim_approve(actor=reviewer, claim=claim, amount="500.00", fast_track=True)
    assert exc.value.code == "exceeds_assessed"
    assert [r[0] for r in payout_rows() if r[1] == number] == ["S-1"]


def test_the_export_lists_an_approved_hand_claim_under_its_key_until_the_bureau_row_arrives(
    insured, file_claim, reviewer, number
):
    with_ref = file_claim(insured, "100.00", stay=a_stay(date(2026, 5, 1), stay_ref="S-55"))
    without = file_claim(insured, "200.00", stay=a_stay(date(2026, 6, 1)))
    for claim, amount in ((with_ref, "100.00"), (without, "200.00")):
        claim_approve(actor=reviewer, claim=claim, amount=amount, fast_track=True)
    rows = {r[0]: r for r in payout_rows() if r[1] == number}
    assert set(rows) == {"S-55", f"C{without.pk}"}
    assert rows["S-55"][4] == "100.00" and rows[f"C{without.pk}"][4] == "200.00"


# -- coverage start ------------------------------------------------------------------------------


def test_a_member_enrolled_in_december_is_not_paid_for_a_stay_in_june(
    insured, zy, bureau, file_claim
):
    Enrollment.objects.filter(member=insured, version=zy).update(paid_on=date(2026, 12, 1))
    report = bureau(("J1", "2026-06-10", "2026-06-20", "2026-06-21", "9000.00"))
    assert report.reasons == {"NOT_ENROLLED": 1}
    claim = file_claim(insured, "100.00", stay=a_stay(date(2026, 6, 10)))
    assessment = claim_assessment(claim)
    assert (assessment.assessed, assessment.reason) == (Decimal("0.00"), "NOT_ENROLLED")


def test_the_waiting_period_counts_from_coverage_start(insured, zy, bureau):
    Enrollment.objects.filter(member=insured, version=zy).update(paid_on=date(2026, 3, 1))
    # Covered from 2026-03-01; 90 days of waiting end on 2026-05-29.
    report = bureau(
        ("W1", "2026-05-29", "2026-06-02", "2026-06-03", "3000.00"),
        ("W2", "2026-05-30", "2026-06-02", "2026-06-03", "3000.00"),
    )
    reasons = {c.settlement.settlement_id: c.reason for c in Claim.objects.filter(version=zy)}
    assert reasons == {"W1": "WAITING_PERIOD", "W2": ""}
    assert report.paid_by_plan == {"ZY": "1000.00"}


def test_a_renewal_is_covered_from_the_period_start_without_waiting(insured, zy, bureau, enrol):
    last_year = ZY_2025 = plan_load_toml(
        """
code = "ZY"
name = "住院医疗"
benefit = "inpatient"
period_start = 2025-01-01
period_end = 2025-12-31
contribution = "60.00"
waiting_days = 90
[inpatient]
deductible = "1000.00"
cap = "50000.00"
bands = [ { upto = "10000.00", ratio = "0.50" }, { ratio = "0.60" } ]
""".encode(),
        file="zy2025.toml",
    )[0]
    assert ZY_2025.period_end == date(2025, 12, 31)
    enrol(insured, last_year)
    Enrollment.objects.filter(member=insured, version=zy).update(paid_on=date(2026, 3, 1))
    bureau(("R1", "2026-01-05", "2026-01-09", "2026-01-10", "3000.00"))
    assert Claim.objects.get(settlement__settlement_id="R1").target == Decimal("1000.00")


# -- corrections by staff --------------------------------------------------------------------------


def test_staff_correct_within_the_rules_and_two_sign_large_corrections(
    insured, file_claim, reviewer, city_admin, xicheng_admin, zy, settings
):
    claim = file_claim(insured, "3000.00", stay=a_stay(date(2026, 5, 1),
                       in_scope_self_pay=Decimal("9000.00")))  # fmt: skip
    claim_approve(actor=reviewer, claim=claim, amount="3000.00", fast_track=True)  # assessed 4,000
    with pytest.raises(DomainError) as exc:
        claim_correct(actor=reviewer, claim=claim, kind="adjustment", amount="10.00",
                      reason_code="calculation_error", note="漏算")  # fmt: skip
    assert exc.value.status == 403
    with pytest.raises(DomainError) as exc:
        claim_correct(actor=city_admin, claim=claim, kind="adjustment", amount="1000.01",
                      reason_code="calculation_error", note="漏算")  # fmt: skip
    assert exc.value.code == "exceeds_assessed"
    with pytest.raises(DomainError) as exc:
        claim_correct(actor=city_admin, claim=claim, kind="clawback", amount="3000.01",
                      reason_code="fraud", note="虚假发票")  # fmt: skip
    assert exc.value.code == "exceeds_paid"
    with pytest.raises(DomainError) as exc:
        claim_correct(actor=city_admin, claim=claim, kind="clawback", amount="1.00",
                      reason_code="fraud", note=" ")  # fmt: skip
    assert exc.value.code == "note_required"
    fixed = claim_correct(actor=city_admin, claim=claim, kind="adjustment", amount="1000.00",
                          reason_code="calculation_error", note="漏算一张发票")  # fmt: skip
    assert fixed.state == "booked" and fixed.entry.amount == Decimal("1000.00")
    assert paid(insured, zy) == Decimal("4000.00")
    # Above the threshold: a second admin must send the same correction.
    settings.HUZHU_SECOND_APPROVAL_ABOVE = "2000.00"
    first = claim_correct(actor=city_admin, claim=claim, kind="clawback", amount="4000.00",
                          reason_code="fraud", note="虚假发票")  # fmt: skip
    assert first.state == "pending" and paid(insured, zy) == Decimal("4000.00")
    with pytest.raises(DomainError) as exc:
        claim_correct(actor=city_admin, claim=claim, kind="clawback", amount="4000.00",
                      reason_code="fraud", note="虚假发票")  # fmt: skip
    assert (exc.value.status, exc.value.code) == (409, "same_approver")
    with pytest.raises(DomainError) as exc:
        claim_correct(actor=xicheng_admin, claim=claim, kind="clawback", amount="3999.00",
                      reason_code="fraud", note="虚假发票")  # fmt: skip
    assert exc.value.code == "amount_mismatch"
    done = claim_correct(actor=xicheng_admin, claim=claim, kind="clawback", amount="4000.00",
                         reason_code="fraud", note="复核同意")  # fmt: skip
    assert (done.pk, done.state, done.signed_by) == (first.pk, "booked", xicheng_admin)
    assert paid(insured, zy) == Decimal("0.00")
    claim.refresh_from_db()
    assert claim.payout_limit == Decimal("0.00")
    assert ClaimEvent.objects.filter(claim=claim, reason_code="fraud").count() == 1


# -- two people for large money ------------------------------------------------------------------


def test_a_large_approval_takes_two_people(
    insured, api_as, file_claim, reviewer, second_reviewer, zy
):
    claim = file_claim(insured, "12000.00")
    first, second = api_as(reviewer), api_as(second_reviewer)
    r = first.post(f"/claims/{claim.pk}/approve", {"amount": "12000.00", "fast_track": True})
    assert (r.status_code, r.json()["state"]) == (200, "awaiting_second_approval")
    assert r.json()["pending_amount"] == "12000.00" and paid(insured, zy) == 0
    waiting = first.get("/approvals").json()["items"]
    assert [(w["kind"], w["reference"], w["you_may_sign"]) for w in waiting] == [
        ("claim_approval", str(claim.pk), False)
    ]
    assert second_reviewer.username in waiting[0]["who_may_sign"]
    r = first.post(f"/claims/{claim.pk}/approve", {"amount": "12000.00"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "same_approver")
    r = second.post(f"/claims/{claim.pk}/approve", {"amount": "11000.00"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "amount_mismatch")
    r = second.post(f"/claims/{claim.pk}/approve", {"amount": "12000.00"})
    assert (r.status_code, r.json()["state"]) == (200, "approved")
    assert paid(insured, zy) == Decimal("12000.00")
    assert first.get("/approvals").json()["items"] == []


def test_a_second_person_may_refuse_a_large_approval(
    insured, file_claim, reviewer, second_reviewer
):
    claim = file_claim(insured, "12000.00")
    claim_approve(actor=reviewer, claim=claim, amount="12000.00", fast_track=True)
    from huzhu.protection.services import claim_reject

    claim = claim_reject(actor=second_reviewer, claim=claim, reason_code="not_eligible")
    assert claim.state == ClaimState.REJECTED and not LedgerEntry.objects.filter(claim=claim)


# -- bounds --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["99999999999999999999", "1e3", "١٠٠", "９９", "100000000.00", "-5", "NaN", " "]
)
def test_amounts_that_are_not_plain_ascii_yuan_are_refused_naming_the_field(
    insured, api_as, unit_admin, amount
):
    api = api_as(unit_admin)
    form = {"member_id": insured.pk, "plan_code": "ZY", "admitted_on": "2026-05-10",
            "requested": amount}  # fmt: skip
    r = api.client.post("/api/v1/claims", form, **api.headers)
    assert r.status_code in (400, 422), r.content
    assert r.json()["error"]["details"].get("field") == "requested" or "requested" in str(
        r.json()["error"]["details"]
    )


def test_a_huge_fast_track_is_refused_and_a_payment_run_still_works(
    insured, api_as, file_claim, reviewer, city_admin, approved_claim
):
    claim = file_claim(insured, "1000.00")
    r = api_as(reviewer).post(
        f"/claims/{claim.pk}/approve", {"amount": "999999999999.99", "fast_track": True}
    )
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "amount")
    approved_claim(insured, "1100.00")
    api = api_as(city_admin)
    run = api.post("/payment-runs")
    assert (run.status_code, run.json()["total"]) == (201, "1100.00")
    for path in ("/payment-runs", f"/payment-runs/{run.json()['reference']}"):
        assert api.get(path).status_code == 200


def test_dates_out_of_bounds_are_refused(insured, api_as, unit_admin):
    api = api_as(unit_admin)
    for field, value in (("admitted_on", "2100-01-01"), ("admitted_on", "1899-12-31"),
                         ("discharged_on", "2026-02-30"), ("settled_on", "２０２６-01-01")):  # fmt: skip
        form = {"member_id": insured.pk, "plan_code": "ZY", "admitted_on": "2026-05-10",
                "requested": "10.00", field: value}  # fmt: skip
        if field == "admitted_on":
            form["period_start"] = "2026-01-01"
        r = api.client.post("/api/v1/claims", form, **api.headers)
        assert r.status_code == 400, (field, value, r.content)
        assert r.json()["error"]["details"]["field"] == field


# -- the ledger has one writer -------------------------------------------------------------------


def test_only_the_ledger_module_writes_ledger_entries():
    """A newcomer's promise, kept by grep: money moves only through protection.ledger."""
    import re
    from pathlib import Path

    import huzhu

    root = Path(huzhu.__file__).parent
    writes = re.compile(
        r"(?<![A-Za-z])LedgerEntry\.objects\.(create|bulk_create|update)"
        r"|(insert_frame|bulk_insert)\(\s*LedgerEntry|INSERT INTO \"?protection_ledgerentry",
    )
    offenders = []
    for path in root.rglob("*.py"):
        if "migrations" in path.parts or path.name == "ledger.py":
            continue
        text = path.read_text(encoding="utf-8")
        for found in writes.finditer(text):
            offenders.append(f"{path.relative_to(root)}: {found.group(0)}")
        if path.name != "models.py":
            for kind in ('"payout"', '"adjustment"', '"clawback"'):
                if kind in text and "kind" in text:
                    offenders.append(f"{path.relative_to(root)}: {kind} spelled out")
    assert offenders == []


def test_export_rows_read_as_csv(insured, file_claim, reviewer, tmp_path, number):
    from huzhu.settlement.exports import payouts_export

    claim = file_claim(insured, "100.00", stay=a_stay(date(2026, 5, 3)))
    claim_approve(actor=reviewer, claim=claim, amount="100.00", fast_track=True)
    out = tmp_path / "payouts.csv"
    assert payouts_export(out) == 1
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[1] == [f"C{claim.pk}", number, "ZY", "100000.00", "100.00", ""]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('contribution = "1e3"', "contribution"),
        ('contribution = "٦٠"', "contribution"),
        ('contribution = "100000000.00"', "contribution"),
        ("waiting_days = 99999999999", "waiting_days"),
        ("period_end = 2100-12-31", "period_end"),
    ],
)
def test_plan_files_out_of_bounds_are_refused_naming_the_field(db, line, says):
    key = line.split(" =")[0]
    lines = [
        'code = "ZQ"', 'name = "测试"', 'benefit = "accident"', "period_start = 2026-01-01",
        "period_end = 2026-12-31", 'contribution = "60.00"', "waiting_days = 0",
    ]  # fmt: skip
    lines = [line if x.startswith(key + " =") else x for x in lines]
    text = "\n".join([*lines, "[accident]", 'cap = "20000.00"']).encode()
    with pytest.raises(DomainError) as exc:
        plan_load_toml(text, file="bad.toml")
    assert exc.value.code == "invalid_plan" and says in exc.value.message


@pytest.mark.parametrize("ratio", ['"0.5e0"', '"１"', '"1.5"', "1.5", '"0.00001"', "true"])
def test_band_ratios_are_plain_decimals_from_0_to_1(db, ratio):
    text = ZY_WITH_RATIO.replace("RATIO", ratio).encode()
    with pytest.raises(DomainError) as exc:
        plan_load_toml(text, file="bad.toml")
    assert "ratio" in exc.value.message


ZY_WITH_RATIO = """
code = "ZQ"
name = "测试"
benefit = "inpatient"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "60.00"
[inpatient]
deductible = "1000.00"
cap = "50000.00"
bands = [ { upto = "10000.00", ratio = RATIO }, { ratio = "0.60" } ]
"""


def test_a_version_patch_out_of_bounds_answers_400_or_422(zy, api_as, city_admin, unit_admin):
    api = api_as(city_admin)
    url = "/plans/ZY/versions/2026-01-01"
    for body in ({"waiting_days": 10**12}, {"contribution": "1e3"}, {"period_end": "2100-01-01"},
                 {"period_end": 1767225600}):  # fmt: skip
        r = api.patch(url, body)
        assert r.status_code in (400, 422), (body, r.content)
    r = api_as(unit_admin).get("/units/U1/contributions?year=99999999999")
    assert r.status_code == 422
