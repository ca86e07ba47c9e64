"""Claims: filing, the transitions and who may make them, fast track, money on approval only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.core.errors import DomainError
from huzhu.protection.documents import document_read
from huzhu.protection.filing import claim_document_add
from huzhu.protection.models import ClaimEvent, ClaimState, LedgerEntry, PlanVersion
from huzhu.protection.services import claim_accept, claim_approve, claim_reject, claim_review


def test_a_filed_claim_is_submitted_with_its_documents_and_an_event(
    insured, file_claim, unit_admin, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    claim = file_claim(
        insured, "3000.50", documents=[("发票.pdf", ContentFile(b"%PDF-1.4", "i.pdf"))]
    )
    assert claim.state == ClaimState.SUBMITTED
    assert claim.requested == Decimal("3000.50")
    assert claim.plan_code == "ZY" and claim.filed_by == unit_admin
    doc = claim.documents.get()
    assert doc.title == "发票.pdf" and doc.file.name.startswith(f"claims/{claim.pk}/")
    assert b"".join(document_read(doc)) == b"%PDF-1.4"  # stored encrypted, read back whole
    event = ClaimEvent.objects.get(claim=claim)
    assert (event.from_state, event.to_state, event.reason_code) == ("", "submitted", "filed")
    assert AuditEvent.objects.filter(action="claim.submitted", object_id=str(claim.pk)).exists()
    assert not LedgerEntry.objects.exists()


def test_filing_needs_an_enrolment_covering_the_event_date(
    tree, make_member, file_claim, zy, enrol
):
    stranger = make_member(tree.u1)
    with pytest.raises(DomainError) as exc:
        file_claim(stranger)
    assert exc.value.code == "not_enrolled"
    enrol(stranger)
    with pytest.raises(DomainError) as exc:
        file_claim(stranger, event_date=date(2025, 12, 31))
    assert exc.value.code == "event_outside_period"


@pytest.mark.parametrize("amount", ["0", "-5.00", "10.001", "abc", "NaN"])
def test_requested_amount_is_positive_yuan_with_two_decimals(insured, file_claim, amount):
    with pytest.raises(DomainError) as exc:
        file_claim(insured, amount)
    assert exc.value.code == "invalid_amount"


def test_only_unit_admins_file_and_only_for_their_subtree(
    tree, make_member, enrol, file_claim, make_staff, insured
):
    for role in (Role.REVIEWER, Role.DISTRICT_ADMIN, Role.CITY_ADMIN):
        with pytest.raises(DomainError) as exc:
            file_claim(insured, actor=make_staff(role, tree.city))
        assert exc.value.status == 403
    other_unit = make_staff(Role.UNIT_ADMIN, tree.u2)
    with pytest.raises(DomainError) as exc:
        file_claim(insured, actor=other_unit)
    assert exc.value.status == 404


def test_the_full_path_writes_one_payout_of_the_approved_amount(insured, file_claim, reviewer, zy):
    claim = file_claim(insured, "3000.00")
    claim = claim_accept(actor=reviewer, claim=claim)
    assert claim.state == ClaimState.ACCEPTED
    claim = claim_review(actor=reviewer, claim=claim, note="核对发票")
    assert claim.state == ClaimState.UNDER_REVIEW
    assert not LedgerEntry.objects.exists()
    claim = claim_approve(
        actor=reviewer, claim=claim, amount="2500.00", reason_code="partly_meets_terms"
    )
    assert claim.state == ClaimState.APPROVED and claim.target == Decimal("2500.00")
    entry = LedgerEntry.objects.get(claim=claim)
    assert (entry.kind, entry.amount, entry.member_id) == ("payout", Decimal("2500.00"), insured.pk)
    path = list(claim.events.values_list("from_state", "to_state", "reason_code", "actor"))
    assert path == [
        ("", "submitted", "filed", claim.filed_by_id),
        ("submitted", "accepted", "documents_complete", reviewer.pk),
        ("accepted", "under_review", "review_started", reviewer.pk),
        ("under_review", "approved", "partly_meets_terms", reviewer.pk),
    ]
    assert list(
        AuditEvent.objects.filter(object_type="protection.claim", object_id=str(claim.pk))
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["claim.submitted", "claim.accepted", "claim.under_review", "claim.approved"]


def test_approval_freezes_the_version(insured, approved_claim, zy):
    assert zy.frozen_at is None
    approved_claim(insured)
    assert PlanVersion.objects.get(pk=zy.pk).frozen_at is not None


def test_approved_amount_is_at_most_the_requested(insured, file_claim, reviewer):
    claim = claim_review(
        actor=reviewer, claim=claim_accept(actor=reviewer, claim=file_claim(insured, "100.00"))
    )
    with pytest.raises(DomainError) as exc:
        claim_approve(actor=reviewer, claim=claim, amount="100.01")
    assert (exc.value.code, exc.value.status) == ("exceeds_assessed", 409)
    with pytest.raises(DomainError) as exc:
        claim_approve(actor=reviewer, claim=claim, amount="99.999")
    assert exc.value.code == "invalid_amount"
    claim.refresh_from_db()
    assert claim.state == ClaimState.UNDER_REVIEW and not LedgerEntry.objects.exists()


def test_a_rejection_writes_nothing_to_the_ledger(insured, file_claim, reviewer):
    claim = claim_reject(
        actor=reviewer, claim=file_claim(insured), reason_code="insufficient_documents"
    )
    assert claim.state == ClaimState.REJECTED
    assert not LedgerEntry.objects.exists()
    assert claim.events.last().reason_code == "insufficient_documents"


def test_a_rejection_needs_a_known_reason_code(insured, file_claim, reviewer):
    claim = file_claim(insured)
    for code in ("", "because"):
        with pytest.raises(DomainError) as exc:
            claim_reject(actor=reviewer, claim=claim, reason_code=code)
        assert exc.value.code in ("reason_required", "invalid_reason_code")
    claim_reject(actor=reviewer, claim=claim, reason_code="WAITING_PERIOD")


def test_fast_track_approves_a_submitted_claim_at_once(insured, file_claim, reviewer):
    claim = claim_approve(
        actor=reviewer, claim=file_claim(insured), amount="3000.00", fast_track=True
    )
    assert claim.state == ClaimState.APPROVED and claim.fast_track
    assert claim.events.last().reason_code == "fast_track"
    assert LedgerEntry.objects.get(claim=claim).amount == Decimal("3000.00")


@pytest.mark.parametrize(
    ("steps", "then"),
    [
        ([], "review"),  # submitted cannot go to review
        ([], "approve"),  # nor be approved without fast track
        (["accept"], "accept"),
        (["accept", "review"], "fast_track"),
        (["accept", "review", "approve"], "reject"),
        (["accept", "review", "approve"], "approve"),
        (["reject"], "accept"),
        (["reject"], "fast_track"),
    ],
)
def test_invalid_transitions_are_refused_with_409(insured, file_claim, reviewer, steps, then):
    do = {
        "accept": lambda c: claim_accept(actor=reviewer, claim=c),
        "review": lambda c: claim_review(actor=reviewer, claim=c),
        "approve": lambda c: claim_approve(actor=reviewer, claim=c, amount="10.00"),
        "fast_track": lambda c: claim_approve(
            actor=reviewer, claim=c, amount="10.00", fast_track=True
        ),
        "reject": lambda c: claim_reject(actor=reviewer, claim=c, reason_code="not_eligible"),
    }
    claim = file_claim(insured)
    for step in steps:
        claim = do[step](claim)
    entries = LedgerEntry.objects.count()
    with pytest.raises(DomainError) as exc:
        do[then](claim)
    assert (exc.value.code, exc.value.status) == ("invalid_transition", 409)
    assert LedgerEntry.objects.count() == entries


def test_settlement_claims_are_not_decided_by_reviewers(insured, reviewer, zy):
    from huzhu.protection.models import Claim

    claim = Claim.objects.create(
        source="settlement", state="approved", member=insured, version=zy, plan_code="ZY"
    )
    with pytest.raises(DomainError) as exc:
        claim_reject(actor=reviewer, claim=claim, reason_code="not_eligible")
    assert exc.value.code == "invalid_transition"


def test_reviewers_and_admins_decide_within_their_subtree_only(
    tree, make_staff, insured, file_claim, unit_admin
):
    claim = file_claim(insured)
    huairou_reviewer = make_staff(Role.REVIEWER, tree.huairou)
    with pytest.raises(DomainError) as exc:
        claim_accept(actor=huairou_reviewer, claim=claim)
    assert exc.value.status == 404
    for outsider in (unit_admin, make_staff(Role.GATE, tree.city)):
        with pytest.raises(DomainError) as exc:
            claim_accept(actor=outsider, claim=claim)
        assert exc.value.status == 403
    for role, org in (
        (Role.REVIEWER, tree.town),
        (Role.DISTRICT_ADMIN, tree.xicheng),
        (Role.CITY_ADMIN, tree.city),
    ):
        claim = claim_accept(actor=make_staff(role, org), claim=file_claim(insured))
        assert claim.state == ClaimState.ACCEPTED


def test_documents_can_be_added_until_the_decision(
    insured, file_claim, unit_admin, reviewer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    claim = file_claim(insured)
    claim_document_add(
        actor=unit_admin, claim=claim, title="出院小结", content=ContentFile(b"%PDF-1.4 x", "a.pdf")
    )
    claim = claim_reject(actor=reviewer, claim=claim, reason_code="duplicate_claim")
    with pytest.raises(DomainError) as exc:
        claim_document_add(
            actor=unit_admin, claim=claim, title="late", content=ContentFile(b"%PDF-1.4 y", "b.pdf")
        )
    assert exc.value.code == "invalid_transition"
    assert claim.documents.count() == 1
