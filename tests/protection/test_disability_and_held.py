"""The rules the product promised and now has (issue 22): disability lump sums by grade (伤残),
and bureau settlements above a version's `review_above` held for a reviewer
(INTERFACES "Plan versions", "Disability lump sums", `review_above`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.base import ContentFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.core.errors import DomainError
from huzhu.members.services import member_reveal_id_number
from huzhu.protection import rules
from huzhu.protection.filing import claim_file_disability
from huzhu.protection.models import Claim, ClaimState, LedgerEntry, PlanVersion
from huzhu.protection.plans import plan_load_toml
from huzhu.protection.services import claim_approve, claim_reject
from huzhu.protection.stays import claim_assessment
from huzhu.settlement.exports import payout_rows
from huzhu.settlement.services import settlements_import

YW = """
code = "YW"
name = "意外伤害"
benefit = "accident"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "20.00"
waiting_days = 0
[accident]
cap = "20000.00"
disability_sum = "50000.00"
disability_ratios = ["1.00", "0.90", "0.80", "0.70", "0.60", "0.50", "0.40", "0.30", "0.20", "0.10"]
"""
HEADER = (
    "settlement_id,id_number,name,hospital,admitted_on,discharged_on,settled_on,total_cost,"
    "fund_paid,in_scope_self_pay,out_of_scope_self_pay,diagnosis_code,is_accident,reverses"
)


def certificate() -> list[tuple[str, Any]]:
    return [("伤残鉴定书.pdf", ContentFile(b"%PDF-1.4", "cert.pdf"))]


@pytest.fixture
def yw(db: Any) -> PlanVersion:
    version, _ = plan_load_toml(YW.encode(), file="yw.toml")
    return version


@pytest.fixture
def accident_insured(insured: Any, enrol: Any, yw: PlanVersion) -> Any:
    enrol(insured, yw)
    return insured


@pytest.fixture
def disability(accident_insured: Any, unit_admin: Any, yw: PlanVersion) -> Any:
    def file(grade: int, accident: date = date(2026, 3, 5), requested: str = "50000.00") -> Claim:
        return claim_file_disability(
            actor=unit_admin,
            member=accident_insured,
            version=yw,
            grade=str(grade),
            event_date=accident,
            requested=requested,
            documents=certificate(),
        )

    return file


@pytest.fixture
def approve_fully(reviewer: Any, make_staff: Any, tree: Any) -> Any:
    """Approve a claim at what the rules assess (two people when it is large)."""
    from huzhu.accounts.models import Role

    second = make_staff(Role.REVIEWER, tree.xicheng)

    def approve(claim: Claim) -> Claim:
        amount = claim_assessment(claim).assessed
        claim = claim_approve(actor=reviewer, claim=claim, amount=amount, fast_track=True)
        if claim.state == ClaimState.AWAITING_SECOND_APPROVAL:
            claim = claim_approve(actor=second, claim=claim, amount=amount)
        return claim

    return approve


def booked(claim: Claim) -> Decimal:
    return sum(LedgerEntry.objects.filter(claim=claim).values_list("amount", flat=True), Decimal(0))


# -- plan versions -------------------------------------------------------------------------------


def test_a_version_loads_shows_and_freezes_its_disability_terms_and_review_threshold(
    db, api_as, city_admin
):
    text = YW.replace("waiting_days = 0", 'waiting_days = 0\nreview_above = "20000.00"')
    version, _ = plan_load_toml(text.encode(), file="yw.toml")
    assert version.review_above == Decimal("20000.00")
    assert version.terms["disability_sum"] == "50000.00"
    assert version.terms["disability_ratios"][4] == "0.60"
    shown = api_as(city_admin).get("/plans/YW/versions/2026-01-01").json()
    assert (shown["review_above"], shown["terms"]["disability_sum"]) == ("20000.00", "50000.00")
    r = api_as(city_admin).patch("/plans/YW/versions/2026-01-01", {"review_above": "15000.00"})
    assert r.json()["review_above"] == "15000.00"
    r = api_as(city_admin).patch("/plans/YW/versions/2026-01-01", {"review_above": None})
    assert r.json()["review_above"] is None
    PlanVersion.objects.filter(pk=version.pk).update(frozen_at="2026-06-01T00:00:00Z")
    r = api_as(city_admin).patch("/plans/YW/versions/2026-01-01", {"review_above": "1.00"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "version_frozen")


@pytest.mark.parametrize(
    ("ratios", "says"),
    [
        ('["1.00", "0.90"]', "共十个比例"),
        ('["1.00","0.90","0.80","0.70","0.60","0.50","0.40","0.30","0.20","0.30"]', "不能高于"),
        ('["1.00","0.90","0.80","0.70","0.60","0.50","0.40","0.30","0.20","1e-1"]', "比例"),
    ],
)
def test_disability_ratios_are_ten_and_never_rise_with_the_grade(db, ratios, says):
    text = YW.split("disability_ratios")[0] + f"disability_ratios = {ratios}\n"
    with pytest.raises(DomainError) as exc:
        plan_load_toml(text.encode(), file="bad.toml")
    assert exc.value.code == "invalid_plan" and says in exc.value.message


# -- disability lump sums ------------------------------------------------------------------------


def test_a_worse_grade_for_the_same_accident_pays_the_difference(disability, approve_fully):
    first = disability(8)  # 50,000 × 0.30
    assert claim_assessment(first).assessed == Decimal("15000.00")
    approve_fully(first)
    worse = disability(5)  # 50,000 × 0.60 = 30,000, less the 15,000 paid
    assert claim_assessment(worse).assessed == Decimal("15000.00")
    approve_fully(worse)
    better = disability(9)
    assessment = claim_assessment(better)
    assert (assessment.assessed, assessment.reason) == (Decimal("0.00"), "CAP_REACHED")
    # Another accident: what is left of the version's 50,000.
    other = disability(1, accident=date(2026, 9, 1))
    assert claim_assessment(other).assessed == Decimal("20000.00")
    approve_fully(other)
    total = sum(booked(c) for c in Claim.objects.filter(disability_grade__isnull=False))
    assert total == Decimal("50000.00")


def test_disability_does_not_use_up_the_accident_cap(
    accident_insured, disability, approve_fully, reviewer, yw, file_claim
):
    approve_fully(disability(1))  # 50,000.00
    from tests.protection.factories import a_stay

    stay = a_stay(date(2026, 4, 1), in_scope_self_pay=Decimal("25000.00"), is_accident=True)
    medical = file_claim(accident_insured, "20000.00", version=yw, stay=stay)
    assert claim_assessment(medical).assessed == Decimal("20000.00")


def test_a_disability_claim_needs_its_certificate_a_grade_and_a_covered_accident(
    accident_insured, unit_admin, yw, zy, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path

    def file(**kw: Any) -> Any:
        args = {"actor": unit_admin, "member": accident_insured, "version": yw, "grade": "5",
                "event_date": date(2026, 3, 5), "requested": "100.00",
                "documents": certificate(), **kw}  # fmt: skip
        return claim_file_disability(**args)

    for kw, code in (
        ({"documents": []}, "certificate_required"),
        (
            {"documents": [("鉴定书.pdf", ContentFile(b"MZ\x90\x00", "cert.pdf"))]},
            "invalid_document",
        ),
        ({"grade": "11"}, "invalid_grade"),
        ({"grade": "٥"}, "invalid_grade"),
        ({"event_date": date(2025, 12, 31)}, "event_outside_period"),
        ({"version": zy}, "no_disability_benefit"),
    ):
        with pytest.raises(DomainError) as exc:
            file(**kw)
        assert exc.value.code == code, kw
    assert not Claim.objects.exists()
    document = file().documents.get()  # the certificate is sealed like every medical document
    assert document.content_type == "application/pdf" and document.key_cipher
    assert b"%PDF" not in (tmp_path / document.file.name).read_bytes()
    with pytest.raises(DomainError) as exc:
        file()
    assert (exc.value.status, exc.value.code) == (409, "duplicate_claim")


def test_disability_claims_through_the_api_and_the_members_page(
    accident_insured, api_as, unit_admin, reviewer, settings, tmp_path, client
):
    settings.MEDIA_ROOT = tmp_path
    from django.core.files.uploadedfile import SimpleUploadedFile

    api = api_as(unit_admin)
    form = {"member_id": accident_insured.pk, "plan_code": "YW", "disability_grade": "6",
            "event_date": "2026-03-05", "requested": "30000.00",
            "documents": [SimpleUploadedFile("鉴定书.pdf", b"%PDF-1.4", "application/pdf")]}  # fmt: skip
    r = api.client.post("/api/v1/claims", form, **api.headers)
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["disability_grade"], body["assessed"]) == (6, "25000.00")
    r = api_as(reviewer).post(
        f"/claims/{body['id']}/approve", {"amount": "25000.01", "fast_track": True}
    )
    assert r.json()["error"]["code"] == "exceeds_assessed"
    from huzhu.protection.selectors import claim_explanation

    claim = Claim.objects.get(pk=body["id"])
    text = claim_explanation(claim, net=Decimal(0))
    assert "伤残6级" in text and "50000.00" in text and "50%" in text and "25000.00" in text


@settings(max_examples=200, deadline=None)
@given(
    grades=st.lists(
        st.tuples(st.sampled_from([1, 2]), st.integers(1, 10)), min_size=1, max_size=12
    ),
    total=st.sampled_from([Decimal("0.01"), Decimal("100.00"), Decimal("50000.00")]),
)
def test_disability_payouts_never_exceed_the_sum_whatever_the_order_of_grades(grades, total):
    terms = rules.VersionTerms(
        plan_code="YW",
        benefit=rules.Benefit.ACCIDENT,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31),
        waiting_days=0,
        accident=rules.AccidentTerms(cap=Decimal("20000"), disability_sum=total),
    )
    paid: dict[int, Decimal] = {}
    for i, (accident, grade) in enumerate(grades):
        found = rules.disability_assessment(
            terms,
            grade=grade,
            same_accident=paid.get(accident, Decimal(0)),
            in_version=sum(paid.values(), Decimal(0)),
        )
        assert found.assessed >= 0
        paid[accident] = paid.get(accident, Decimal(0)) + found.assessed
        assert sum(paid.values(), Decimal(0)) <= total
        # An accident never gets more than its worst grade so far.
        worst = min(g for a, g in grades[: i + 1] if a == accident)
        full = rules.round_fen(total * rules.STANDARD_DISABILITY_RATIOS[worst - 1])
        assert paid[accident] <= full


# -- held for review -----------------------------------------------------------------------------

ZY_HELD = """
code = "ZH"
name = "住院医疗（大额复核）"
benefit = "inpatient"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "60.00"
waiting_days = 0
review_above = "2000.00"
[inpatient]
deductible = "1000.00"
cap = "50000.00"
bands = [ { upto = "10000.00", ratio = "0.50" }, { ratio = "0.60" } ]
"""


@pytest.fixture
def held_plan(insured: Any, enrol: Any) -> PlanVersion:
    version, _ = plan_load_toml(ZY_HELD.encode(), file="zh.toml")
    enrol(insured, version)
    return version


@pytest.fixture
def bureau(insured: Any, reviewer: Any) -> Any:
    number = member_reveal_id_number(member=insured, actor=reviewer, reason="test")

    def send(*rows: tuple[str, ...], file: str = "s.csv") -> Any:
        lines = [HEADER]
        for sid, admitted, settled, in_scope, *rest in rows:
            lines.append(
                f"{sid},{number},李四,协和医院,{admitted},{settled},{settled},0,0,{in_scope},0,,0,"
                f"{rest[0] if rest else ''}"
            )
        return settlements_import(("\n".join(lines) + "\n").encode(), file=file)

    return send


def test_a_large_bureau_payout_is_held_until_a_reviewer_approves_it(
    held_plan, bureau, approve_fully, api_as, reviewer
):
    bureau(("H1", "2026-05-01", "2026-05-09", "9000.00"))  # (9,000 - 1,000) × 0.50 = 4,000
    held = Claim.objects.get(settlement__settlement_id="H1", version=held_plan)
    assert (held.state, held.reason, held.held_amount) == (
        "held",
        "HELD_FOR_REVIEW",
        Decimal("4000.00"),
    )
    assert booked(held) == 0
    rows = {r[0] + r[2]: r for r in payout_rows()}
    assert rows["H1ZH"][4:] == ["0.00", "HELD_FOR_REVIEW"]
    assert rows["H1ZY"][4:] == ["4000.00", ""]  # the plan without a threshold pays at once
    queue = api_as(reviewer).get("/claims").json()["items"]
    assert held.pk in [c["id"] for c in queue]
    approve_fully(held)
    held.refresh_from_db()
    assert (held.state, held.held_amount, booked(held)) == ("approved", None, Decimal("4000.00"))
    # Sent again, and recomputed: paid once.
    bureau(("H1", "2026-05-01", "2026-05-09", "9000.00"), file="again.csv")
    assert booked(held) == Decimal("4000.00")


def test_a_rejected_held_payout_records_why_and_pays_nothing(held_plan, bureau, reviewer):
    bureau(("H2", "2026-05-01", "2026-05-09", "9000.00"))
    held = Claim.objects.get(settlement__settlement_id="H2", version=held_plan)
    claim_reject(actor=reviewer, claim=held, reason_code="insufficient_documents")
    held.refresh_from_db()
    assert held.state == "rejected" and booked(held) == 0
    assert held.events.filter(reason_code="insufficient_documents").exists()
    bureau(("H3", "2026-06-01", "2026-06-09", "500.00"), file="later.csv")
    assert booked(held) == 0


def test_a_reversal_of_a_held_stay_updates_the_held_claim_instead_of_paying(held_plan, bureau):
    bureau(("H4", "2026-05-01", "2026-05-09", "9000.00"))
    bureau(("R4", "2026-05-01", "2026-05-09", "0", "H4"), file="reversal.csv")
    held = Claim.objects.get(settlement__settlement_id="H4", version=held_plan)
    assert (held.state, held.reason, held.held_amount, booked(held)) == (
        "rejected",
        "REVERSED",
        None,
        0,
    )


def test_a_paid_stay_lifted_above_the_threshold_keeps_its_payout_and_the_rest_waits(
    held_plan, bureau, approve_fully
):
    """P4 is paid 1,800.00 (all that was left of the cap) at once; when P1 is reversed, the
    rules give P4 5,400.00, above `review_above`: what was paid stays paid, the increase waits
    for a reviewer, and approval pays the difference once."""
    bureau(
        ("P1", "2026-02-02", "2026-02-02", "40000.00"),  # 22,400.00, held
        ("P2", "2026-03-03", "2026-03-03", "40000.00"),  # 24,000.00, held
        ("P3", "2026-04-04", "2026-04-04", "3000.00"),  # 1,800.00, paid
        ("P4", "2026-05-05", "2026-05-05", "9000.00"),  # 1,800.00 (the cap), paid
    )
    p4 = Claim.objects.get(settlement__settlement_id="P4", version=held_plan)
    assert (p4.state, booked(p4)) == ("approved", Decimal("1800.00"))
    bureau(("XP1", "2026-02-02", "2026-02-02", "0", "P1"), file="reversal.csv")
    p4.refresh_from_db()
    assert (p4.state, p4.held_amount, booked(p4)) == (
        "held",
        Decimal("5400.00"),
        Decimal("1800.00"),
    )
    row = next(r for r in payout_rows() if r[0] == "P4" and r[2] == "ZH")
    assert row[4:] == ["1800.00", ""]  # what is paid; the reason is empty when something is
    approve_fully(p4)
    p4.refresh_from_db()
    assert (p4.state, booked(p4)) == ("approved", Decimal("5400.00"))


def test_statistics_count_held_amounts_and_disability_payouts_apart(
    held_plan, bureau, api_as, city_admin, disability, approve_fully
):
    bureau(("H5", "2026-05-01", "2026-05-09", "9000.00"))
    held = api_as(city_admin).get("/stats/held").json()
    assert [(r["plan"], r["claims"], r["amount"]) for r in held["rows"]] == [("ZH", 1, "4000.00")]
    approve_fully(disability(8))
    by_benefit = api_as(city_admin).get("/stats/payouts?group_by=benefit").json()["rows"]
    figures = {r[next(iter(r))]: r for r in by_benefit}
    assert "disability" in figures and figures["disability"]["amount"] == "15000.00"
    # The summaries kept as payouts are booked equal a recount from the ledger, which keys a
    # disability lump sum the same way (on PostgreSQL too, whose GROUP BY is strict).
    from huzhu.reports.services import summaries_recounted, summaries_stored

    assert summaries_recounted() == summaries_stored()
    assert any(key[2] == "disability" for key in summaries_recounted()[0])


@settings(
    max_examples=25,
    deadline=None,
    # One member and two plans made once; every example runs in a savepoint rolled back.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stays=st.lists(
        st.tuples(
            st.integers(1, 300), st.sampled_from(["800.00", "3000.00", "9000.00", "40000.00"])
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda s: s[0],
    ),
    reverse_first=st.booleans(),
)
def test_after_approval_the_export_equals_the_export_without_a_threshold(
    stays, reverse_first, insured_world
):
    """Two versions alike but for `review_above`, the member enrolled in both: once every held
    stay is approved at what the rules assess, both plans' payout rows are the same; before,
    a held stay never paid."""
    with insured_world() as (send, approve_fully, plans):
        rows = [(f"P{n}", f"2026-{1 + n % 11:02d}-{1 + n % 27:02d}", amount) for n, amount in stays]
        send(*[(sid, day, day, amount) for sid, day, amount in rows])
        if reverse_first and len(rows) > 1:
            sid, day, _amount = rows[0]
            send(("X" + sid, day, day, "0", sid), file="reversal.csv")
        held = Claim.objects.filter(version=plans["ZH"], state=ClaimState.HELD)
        # Without a reviewer nothing above the threshold is paid: a held stay keeps at most what
        # it was paid before a recomputation lifted it above `review_above`.
        assert all(booked(c) <= Decimal("2000.00") and booked(c) < c.held_amount for c in held)
        for claim in held:
            approve_fully(claim)
        export = payout_rows()
        by_plan = {
            code: sorted((r[0], r[3], r[4], r[5]) for r in export if r[2] == code)
            for code in ("ZH", "ZS")
        }
        assert by_plan["ZH"] == by_plan["ZS"]


@pytest.fixture
def insured_world(db, insured, enrol, reviewer, approve_fully):
    """A context giving (send bureau rows, approve, the plans) inside a savepoint rolled back
    after each Hypothesis example."""
    from contextlib import contextmanager

    from django.db import transaction

    number = member_reveal_id_number(member=insured, actor=reviewer, reason="test")
    plans = {}
    for code, review in (("ZH", 'review_above = "2000.00"\n'), ("ZS", "")):
        text = ZY_HELD.replace('code = "ZH"', f'code = "{code}"').replace(
            'review_above = "2000.00"\n', review
        )
        plans[code], _ = plan_load_toml(text.encode(), file=f"{code}.toml")
        enrol(insured, plans[code])
    files = iter(range(10**6))

    def send(*rows: tuple[str, ...], file: str = "") -> Any:
        lines = [HEADER]
        for sid, admitted, settled, in_scope, *rest in rows:
            lines.append(
                f"{sid},{number},李四,协和医院,{admitted},{settled},{settled},0,0,{in_scope},0,,0,"
                f"{rest[0] if rest else ''}"
            )
        return settlements_import(
            ("\n".join(lines) + "\n").encode(), file=file or f"f{next(files)}.csv"
        )

    @contextmanager
    def world():  # type: ignore[no-untyped-def]
        with transaction.atomic():
            yield send, approve_fully, plans
            transaction.set_rollback(True)

    return world


def test_a_reviewer_releases_a_held_payout_from_the_console(held_plan, bureau, reviewer, client):
    bureau(("H6", "2026-05-01", "2026-05-09", "9000.00"))
    held = Claim.objects.get(settlement__settlement_id="H6", version=held_plan)
    client.force_login(reviewer)
    queue = client.get("/console/claims/").content.decode()
    assert f"/console/claims/{held.pk}/" in queue
    page = client.get(f"/console/claims/{held.pk}/").content.decode()
    assert "4000.00" in page and 'value="approve"' in page
    r = client.post(f"/console/claims/{held.pk}/", {"action": "approve", "amount": "4000.00"})
    assert r.status_code == 302
    held.refresh_from_db()
    assert (held.state, booked(held)) == ("approved", Decimal("4000.00"))


def test_the_console_plan_page_shows_the_disability_terms_and_the_review_threshold(
    yw, city_admin, client
):
    client.force_login(city_admin)
    page = client.get(f"/console/plans/{yw.pk}/").content.decode()
    assert "50000.00" in page and "5级" in page and "不设" in page
    r = client.post(
        f"/console/plans/{yw.pk}/",
        {
            "action": "edit",
            "contribution": "20.00",
            "waiting_days": "0",
            "period_end": "2026-12-31",
            "review_above": "8000.00",
        },
    )
    assert r.status_code == 200
    yw.refresh_from_db()
    assert yw.review_above == Decimal("8000.00")
