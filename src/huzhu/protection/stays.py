"""A member's hospital stays from both channels, and what the rules give each of them (核定).

The rules (`protection.rules.adjudicate_member`) see stays, not claims. This module reads one
member's stays into their terms — every bureau settlement (reversed ones too, with the limits
staff set on their claims), and every claim filed by hand that a reviewer approved (with its
approved amount as its limit) — runs the rules, and maps each row back to its claim:

- `claim_assessment(claim)`: what the rules give one claim's stay, computed together with every
  other stay of the member (a claim still under review is added to them for the purpose);
- `member_rows(member_id)`: every row with its claim, for `ledger.member_rebook`.

One stay is counted once: a claim filed by hand for a stay the bureau already sent (its
`stay_ref` is a settlement's id, or, without one, the same admission and discharge dates) is a
duplicate and gets nothing (`DUPLICATE_STAY`); a bureau settlement that arrives for a stay filed
by hand takes the claim over (settlement import). The settlement import computes the same rows
for many members at once with the vectorised engine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Model, QuerySet

from huzhu.protection import rules
from huzhu.protection.models import (
    Claim,
    ClaimSource,
    ClaimState,
    Enrollment,
    LedgerEntry,
    PlanVersion,
)
from huzhu.protection.plans import terms_of
from huzhu.protection.reasons import DUPLICATE_STAY

ZERO = Decimal("0.00")
# Hand claims that are stays of the member: a reviewer approved them (and they are not yet the
# bureau's). Claims under review are not, yet: they use up nothing of anybody else's cap.
STAY_STATES = (ClaimState.APPROVED, ClaimState.PAID)


@dataclass(frozen=True)
class Assessment:
    """What the rules give one claim's stay: `assessed` (核定金额), and `payable`, the same held
    to the claim's limit; `reason` says why when `assessed` is 0.00."""

    base: Decimal
    assessed: Decimal
    payable: Decimal
    reason: str | None


@dataclass
class MemberStays:
    """One member's enrolments and stays as the rules take them, and whose claim each row is."""

    enrolments: list[rules.Enrolled]
    stays: list[rules.Stay]
    # (stay key, version or None) → claim id, for every row that has a claim.
    claim_of: dict[tuple[str, int | None], int] = field(default_factory=dict)
    # Stored bureau settlements: their ids, and the (admitted, discharged) of those that stand.
    bureau_ids: set[str] = field(default_factory=set)
    bureau_dates: set[tuple[object, object]] = field(default_factory=set)

    def rows(self) -> list[rules.StayRow]:
        return rules.adjudicate_member(self.enrolments, self.stays)


def enrolments_of(member_id: int) -> list[rules.Enrolled]:
    """The member's enrolments with their coverage (renewal or new, paid on)."""
    mine = list(Enrollment.objects.filter(member_id=member_id).select_related("version__plan"))
    enrolled_versions = {e.version_id for e in mine}
    plan_ids = {e.version.plan_id for e in mine}
    ends = {
        (plan_id, end): vid
        for vid, plan_id, end in PlanVersion.objects.filter(plan_id__in=plan_ids).values_list(
            "id", "plan_id", "period_end"
        )
    }
    out = []
    for e in mine:
        v = e.version
        previous = ends.get((v.plan_id, v.period_start - timedelta(days=1)))
        out.append(
            rules.Enrolled(
                version=v.pk,
                terms=terms_of(v),
                renews=previous is not None and previous in enrolled_versions,
                paid_on=e.paid_on,
            )
        )
    return out


def hand_facts(claim: Claim) -> rules.SettlementFacts:
    """A claim filed by hand as the rules read a settlement (its figures are checked when it
    is filed)."""
    assert claim.admitted_on is not None and claim.discharged_on is not None
    return rules.SettlementFacts(
        settlement_id=claim.stay_key,
        admitted_on=claim.admitted_on,
        discharged_on=claim.discharged_on,
        settled_on=claim.settled_on or claim.discharged_on,
        in_scope_self_pay=claim.in_scope_self_pay or ZERO,
        out_of_scope_self_pay=claim.out_of_scope_self_pay or ZERO,
        diagnosis_code=claim.diagnosis_code or None,
        is_accident=claim.is_accident,
    )


def _settlements() -> QuerySet[Any]:
    """The bureau's settlements (`settlement.Settlement`), reached through the claims' link to
    them: the settlement app builds on this one (its import books through our ledger), so this
    one does not import it."""
    model = Claim._meta.get_field("settlement").related_model
    assert isinstance(model, type) and issubclass(model, Model)
    return model._default_manager.all()


def member_stays(
    member_id: int, *, extra: Claim | None = None, unlimited: Claim | None = None
) -> MemberStays:
    """Everything the rules need of one member; `extra`: a claim filed by hand that is not a
    stay yet (under review) and should be assessed as if it were one; `unlimited`: a claim
    whose own limit is left out (its assessment is what the rules give it, whatever it was
    held to)."""
    free = unlimited.pk if unlimited is not None else None
    found = MemberStays(enrolments=enrolments_of(member_id), stays=[])
    settlements = list(_settlements().filter(member_id=member_id, reverses=""))
    limits: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for claim_id, spk, version_id, limit in Claim.objects.filter(
        settlement_id__in=[s.pk for s in settlements]
    ).values_list("id", "settlement_id", "version_id", "payout_limit"):
        key = next(s.settlement_id for s in settlements if s.pk == spk)
        found.claim_of[(key, version_id)] = claim_id
        if limit is not None and version_id is not None and claim_id != free:
            limits[spk][version_id] = limit
    for s in settlements:
        assert s.admitted_on and s.discharged_on and s.settled_on
        found.stays.append(
            rules.Stay(
                facts=rules.SettlementFacts(
                    settlement_id=s.settlement_id,
                    admitted_on=s.admitted_on,
                    discharged_on=s.discharged_on,
                    settled_on=s.settled_on,
                    in_scope_self_pay=s.in_scope_self_pay or ZERO,
                    out_of_scope_self_pay=s.out_of_scope_self_pay or ZERO,
                    diagnosis_code=s.diagnosis_code or None,
                    is_accident=s.is_accident,
                ),
                reversed=bool(s.reversed_by),
                limits=limits.get(s.pk, {}),
            )
        )
        # A claim filed by hand with a received settlement's id is that stay, even once the
        # bureau reversed it (a corrected stay comes under a new id); by dates, only a
        # settlement that still stands.
        found.bureau_ids.add(s.settlement_id)
        if not s.reversed_by:
            found.bureau_dates.add((s.admitted_on, s.discharged_on))
    hand = list(
        Claim.objects.filter(
            member_id=member_id,
            source=ClaimSource.APPLICATION,
            settlement__isnull=True,
            state__in=STAY_STATES,
        ).order_by("pk")
    )
    if extra is not None and extra.pk not in {c.pk for c in hand} and extra.settlement_id is None:
        hand.append(extra)
    for claim in hand:
        if claim.version_id is None or claim.admitted_on is None or is_duplicate(found, claim):
            continue
        found.stays.append(
            rules.Stay(
                facts=hand_facts(claim),
                only_version=claim.version_id,
                limits=(
                    {claim.version_id: claim.payout_limit}
                    if claim.payout_limit is not None and claim.pk != free
                    else {}
                ),
            )
        )
        found.claim_of[(claim.stay_key, claim.version_id)] = claim.pk
        found.claim_of[(claim.stay_key, None)] = claim.pk
    return found


def is_duplicate(found: MemberStays, claim: Claim) -> bool:
    """Whether a claim filed by hand is a stay the bureau's data already holds."""
    if claim.stay_ref:
        return claim.stay_ref in found.bureau_ids
    return (claim.admitted_on, claim.discharged_on) in found.bureau_dates


def _settlement_key(claim: Claim) -> str:
    if claim.settlement_id is None:
        return ""
    return (
        _settlements()
        .filter(pk=claim.settlement_id)
        .values_list("settlement_id", flat=True)
        .first()
        or ""
    )


def disability_paid(claim: Claim) -> tuple[Decimal, Decimal]:
    """What the member's other disability claims under the claim's version already got: for
    the same accident (`event_date`), and in all."""
    assert claim.member_id is not None
    same = total = ZERO
    others = (
        Claim.objects.filter(
            member_id=claim.member_id,
            version_id=claim.version_id,
            disability_grade__isnull=False,
            state__in=STAY_STATES,
        )
        .exclude(pk=claim.pk)
        .values_list("pk", "event_date")
    )
    accident = dict(others)
    for claim_id, amount in LedgerEntry.objects.filter(claim_id__in=list(accident)).values_list(
        "claim_id", "amount"
    ):
        total += amount
        if accident[claim_id] == claim.event_date:
            same += amount
    return same, total


def disability_claim_assessment(claim: Claim) -> Assessment:
    """INTERFACES "Disability lump sums": the sum × the grade's ratio, less what the same
    accident already got, within what is left of the version's sum."""
    assert claim.version is not None and claim.disability_grade is not None
    same, total = disability_paid(claim)
    found = rules.disability_assessment(
        terms_of(claim.version),
        grade=claim.disability_grade,
        same_accident=max(same, ZERO),
        in_version=max(total, ZERO),
    )
    payable = (
        found.assessed if claim.payout_limit is None else min(found.assessed, claim.payout_limit)
    )
    reason = found.reason.value if found.reason is not None else None
    return Assessment(found.full, found.assessed, payable, reason)


def claim_assessment(claim: Claim) -> Assessment:
    """What the adjudication rules give this claim's stay now (INTERFACES "Claims filed by hand
    are hospital stays": `assessed` and `assessed_reason`), or its disability lump sum."""
    if claim.member_id is None:
        return Assessment(ZERO, ZERO, ZERO, rules.Reason.NOT_MEMBER.value)
    if claim.disability_grade is not None and claim.version is not None:
        return disability_claim_assessment(claim)
    by_hand = claim.settlement_id is None
    if by_hand and claim.admitted_on is None:
        # Filed before claims carried their stay: nothing the rules could assess.
        return Assessment(ZERO, ZERO, ZERO, rules.Reason.NOT_COVERED.value)
    found = member_stays(claim.member_id, extra=claim if by_hand else None, unlimited=claim)
    if by_hand and is_duplicate(found, claim):
        return Assessment(ZERO, ZERO, ZERO, DUPLICATE_STAY)
    key = claim.stay_key if by_hand else _settlement_key(claim)
    rows = [r for r in found.rows() if r.key == key]
    row = next((r for r in rows if r.version == claim.version_id), None)
    if row is None:
        # Not in the claim's version (e.g. admitted before coverage start): as not enrolled.
        fallback = next((r for r in rows if r.version is None), None)
        base = fallback.base_amount if fallback else ZERO
        reason = fallback.reason.value if fallback and fallback.reason else "NOT_ENROLLED"
        return Assessment(base, ZERO, ZERO, reason)
    return Assessment(
        base=row.base_amount,
        assessed=row.assessed,
        payable=row.assessed
        if claim.payout_limit is None
        else min(row.assessed, claim.payout_limit),
        reason=None if row.assessed > 0 else (row.reason.value if row.reason else None),
    )
