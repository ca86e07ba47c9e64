"""Reads for protection: plans, the reviewer's queue, a claim's story, a member's own payouts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from huzhu.accounts.models import Role, User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.core.errors import Forbidden
from huzhu.members.models import Member
from huzhu.protection import reasons, stays, workings
from huzhu.protection.enrollments import contribution_statement
from huzhu.protection.models import (
    OPEN_CLAIM_STATES,
    Claim,
    ClaimSource,
    ClaimState,
    EntryKind,
    LedgerEntry,
    PaymentItem,
    PaymentItemEntry,
    PaymentItemState,
)
from huzhu.protection.rules import Reason
from huzhu.protection.services import FILE_ROLES, REVIEW_ROLES

__all__ = ["contribution_statement"]  # per unit and year (enrollments.py)

ZERO = Decimal("0.00")
OPEN_STATES = OPEN_CLAIM_STATES


def claims_visible_to(user: User) -> QuerySet[Claim]:
    """Claims of members in the staff user's subtree (claim roles only)."""
    if user.role not in FILE_ROLES | REVIEW_ROLES:
        raise Forbidden("forbidden", _("您的角色不办理理赔"))
    return Claim.objects.filter(member__unit__path__startswith=staff_scope_path(user))


def claim_queue(
    user: User, *, states: tuple[str, ...] = OPEN_STATES, source: str | None = None
) -> QuerySet[Claim]:
    """The reviewer's queue: claims of the subtree in these states, oldest first."""
    qs = claims_visible_to(user).filter(state__in=states)
    if source:
        qs = qs.filter(source=source)
    return qs.select_related("member__unit", "version__plan").order_by("created_at", "id")


def stay_figures(claim: Claim) -> dict[str, Any]:
    """A claim's stay as the rules see it: the bureau's settlement once it arrived, else the
    figures the union filed (settlement file names; amounts as Decimal or None)."""
    s = claim.settlement if claim.settlement_id is not None else None
    if s is not None:
        return {
            "settlement_id": s.settlement_id,
            "hospital": s.hospital,
            "admitted_on": s.admitted_on,
            "discharged_on": s.discharged_on,
            "settled_on": s.settled_on,
            "in_scope_self_pay": s.in_scope_self_pay,
            "out_of_scope_self_pay": s.out_of_scope_self_pay,
            "diagnosis_code": s.diagnosis_code,
            "is_accident": s.is_accident,
        }
    return {
        "settlement_id": claim.stay_ref,
        "hospital": claim.hospital,
        "admitted_on": claim.admitted_on,
        "discharged_on": claim.discharged_on,
        "settled_on": claim.settled_on,
        "in_scope_self_pay": claim.in_scope_self_pay,
        "out_of_scope_self_pay": claim.out_of_scope_self_pay,
        "diagnosis_code": claim.diagnosis_code,
        "is_accident": claim.is_accident,
    }


def paid_entry_ids(entry_ids: list[int]) -> set[int]:
    return set(
        PaymentItemEntry.objects.filter(
            entry_id__in=entry_ids, live=True, item__state=PaymentItemState.PAID
        ).values_list("entry_id", flat=True)
    )


@dataclass(frozen=True)
class EntryLine:
    entry: LedgerEntry
    paid: bool
    payment_reference: str | None


def claim_entries(claim: Claim) -> list[EntryLine]:
    """The claim's ledger entries, each with whether (and in which transfer) it was paid."""
    entries = list(claim.entries.order_by("created_at", "id"))
    links = {
        link.entry_id: link.item
        for link in PaymentItemEntry.objects.filter(entry__claim=claim, live=True).select_related(
            "item"
        )
    }
    return [
        EntryLine(
            entry=e,
            paid=e.pk in links and links[e.pk].state == PaymentItemState.PAID,
            payment_reference=links[e.pk].reference if e.pk in links else None,
        )
        for e in entries
    ]


def claim_explanation(claim: Claim, *, net: Decimal) -> str:
    """Why this claim pays what it pays, in words for the member."""
    version = claim.version
    terms = version.terms if version else {}
    benefit = version.plan.benefit if version else ""
    waiting = version.waiting_days if version else None
    if claim.disability_grade is not None and version is not None:
        return _disability_explanation(claim, net=net)
    if claim.state == ClaimState.HELD:
        return reasons.rule_sentence("HELD_FOR_REVIEW")
    if claim.source == ClaimSource.APPLICATION:
        last = claim.events.exclude(reason_code="").order_by("-at", "-id").first()
        if claim.state == ClaimState.REJECTED and last is not None:
            if last.reason_code in reasons.RULE_CODES:
                return reasons.rule_sentence(
                    last.reason_code, benefit=benefit, terms=terms, waiting_days=waiting
                )
            return reasons.decision_sentence(last.reason_code)
        if claim.state in (ClaimState.APPROVED, ClaimState.PAID):
            return reasons.payable_sentence(
                source=claim.source, amount=net, requested=claim.requested
            )
        return reasons.decision_sentence(last.reason_code if last else "filed")
    if claim.reason:
        return reasons.rule_sentence(
            claim.reason, benefit=benefit, terms=terms, waiting_days=waiting
        )
    return reasons.payable_sentence(source=claim.source, amount=net, requested=None)


def _disability_explanation(claim: Claim, *, net: Decimal) -> str:
    """伤残: the grade and the arithmetic (the sum × the grade's ratio, less what the same
    accident already got), and what was approved."""
    from huzhu.protection.plans import terms_of
    from huzhu.protection.stays import disability_paid

    assert claim.version is not None and claim.disability_grade is not None
    accident = terms_of(claim.version).accident
    if accident is None or accident.disability_sum is None:
        return reasons.rule_sentence("NOT_COVERED", benefit="accident")
    ratio = accident.disability_ratios[claim.disability_grade - 1]
    same, _total = disability_paid(claim)
    text = reasons.disability_sentence(
        grade=claim.disability_grade,
        total=accident.disability_sum,
        ratio=ratio,
        earlier=same,
    )
    if claim.state in (ClaimState.APPROVED, ClaimState.PAID):
        paid = reasons.payable_sentence(source=claim.source, amount=net, requested=claim.requested)
        return f"{text}{paid}"
    if claim.state == ClaimState.REJECTED:
        last = claim.events.exclude(reason_code="").order_by("-at", "-id").first()
        return f"{text}{reasons.decision_sentence(last.reason_code if last else 'not_eligible')}"
    return text


def member_claims(user: User) -> dict[str, Any]:
    """A member login's own claims (with the reason for every amount) and its transfers."""
    if user.role != Role.MEMBER or user.member_id is None:
        raise Forbidden("not_member", _("当前登录的不是会员账号"))
    member: Member = user.member  # type: ignore[assignment]
    claims = list(
        Claim.objects.filter(member=member)
        .select_related("version__plan", "settlement")
        .prefetch_related("events")
        .order_by("-created_at", "-id")
    )
    entries: dict[int, list[LedgerEntry]] = defaultdict(list)
    for e in LedgerEntry.objects.filter(claim__member=member).order_by("created_at", "id"):
        entries[e.claim_id].append(e)
    paid = paid_entry_ids([e.pk for es in entries.values() for e in es])
    stays = _stay_details(member, claims)
    transfers = _claim_transfers(member)
    out = []
    for claim in claims:
        es = entries.get(claim.pk, [])
        net = sum((e.amount for e in es), ZERO)
        out.append(
            {
                **stays.get(claim.pk, {}),
                "transfer": transfers.get(claim.pk),
                # A bureau stay that a plan does not cover at all (a critical-illness plan and
                # a stay with another diagnosis): nothing the member applied for or could get.
                "applies": not (
                    claim.source == ClaimSource.SETTLEMENT
                    and net == 0
                    and claim.reason in (Reason.NOT_COVERED, Reason.NOT_ENROLLED)
                ),
                "id": claim.pk,
                "source": claim.source,
                "state": claim.state,
                "state_label": ClaimState(claim.state).label,
                "plan_code": claim.plan_code,
                "plan_name": claim.version.plan.name if claim.version else "",
                "event_date": claim.event_date
                or (claim.settlement.admitted_on if claim.settlement else None),
                "requested": claim.requested,
                "amount": net,
                "paid": sum((e.amount for e in es if e.pk in paid), ZERO),
                "reason_code": claim.reason or _last_code(claim),
                "reason": claim_explanation(claim, net=net),
            }
        )
    payouts = PaymentItem.objects.filter(member=member).order_by("-id")
    return {
        "claims": out,
        "payouts": [
            {
                "reference": p.reference,
                "amount": p.amount,
                "state": p.state,
                "card_last4": p.card_no[-4:],
                "settled_at": p.settled_at,
            }
            for p in payouts
        ],
    }


def _stay_details(member: Member, claims: list[Claim]) -> dict[int, dict[str, Any]]:
    """For each claim of a hospital stay: the hospital, the dates, and how its amount was worked
    out (workings.stay_workings, from the rules' own figures for the member's stays)."""
    found = stays.member_stays(member.pk)
    terms = {e.version: e.terms for e in found.enrolments}
    facts = {st.facts.settlement_id: st.facts for st in found.stays}
    rows = {(r.key, r.version): r for r in found.rows()}
    out: dict[int, dict[str, Any]] = {}
    for claim in claims:
        settlement = claim.settlement
        key = settlement.settlement_id if settlement is not None else claim.stay_key
        row = rows.get((key, claim.version_id))
        stay = facts.get(key)
        source = settlement if settlement is not None else claim
        out[claim.pk] = {
            "hospital": source.hospital,
            "admitted_on": source.admitted_on,
            "discharged_on": source.discharged_on,
            "workings": (
                workings.stay_workings(terms[claim.version_id], row, stay)
                if row is not None and stay is not None and claim.version_id in terms
                else []
            ),
        }
    return out


def _claim_transfers(member: Member) -> dict[int, dict[str, Any]]:
    """The latest transfer to the card that carries each claim's money: its state and date."""
    out: dict[int, dict[str, Any]] = {}
    links = (
        PaymentItemEntry.objects.filter(item__member=member, live=True)
        .select_related("item__run")
        .order_by("item__run__created_at", "item_id")
        .values_list("entry__claim_id", "item__state", "item__settled_at", "item__run__created_at")
    )
    for claim_id, state, settled_at, made_at in links:
        out[claim_id] = {"state": state, "date": settled_at or made_at}
    return out


def _last_code(claim: Claim) -> str:
    events = [e for e in claim.events.all() if e.reason_code]
    return events[-1].reason_code if events else ""


def _signers(*, roles: frozenset[str], path: str, besides: int | None) -> list[str]:
    """Active staff with one of `roles` whose subtree holds `path`, other than `besides`."""
    ancestors = [path[:i] for i in range(1, len(path) + 1) if path[:i].endswith("/")] or [path]
    qs = User.objects.filter(role__in=roles, is_active=True, org__path__in=ancestors)
    if besides is not None:
        qs = qs.exclude(pk=besides)
    return sorted(qs.values_list("username", flat=True))


def awaiting_signature(user: User) -> dict[str, Any]:
    """What waits for a second signature (双人复核) that `user` can see, oldest first, each with
    who may give it: claim approvals above the threshold, payout corrections above it, and
    payment runs waiting to be released."""
    from huzhu.protection.services import CORRECT_ROLES

    if user.role not in REVIEW_ROLES | CORRECT_ROLES:
        raise Forbidden("forbidden", _("您的角色不做复核签署"))
    items: list[dict[str, Any]] = []
    if user.role in REVIEW_ROLES:
        items += _approvals_waiting(user)
    if user.role in CORRECT_ROLES:
        items += _corrections_waiting(user, CORRECT_ROLES)
    if user.role == Role.CITY_ADMIN:
        items += _runs_waiting(user)
    items.sort(key=lambda i: i["since"])
    return {"items": items}


def _waiting(
    user: User,
    *,
    kind: str,
    reference: str,
    claim: Claim | None,
    amount: str,
    first: User | None,
    since: Any,
    signers: list[str],
) -> dict[str, Any]:
    return {
        "kind": kind,
        "reference": reference,
        "claim_id": claim.pk if claim else None,
        "member_name": claim.member.name if claim and claim.member else "",
        "amount": amount,
        "first_signer": first.username if first else "",
        "since": since,
        "who_may_sign": ", ".join(signers),
        "you_may_sign": user.username in signers,
    }


def _approvals_waiting(user: User) -> list[dict[str, Any]]:
    claims = (
        claims_visible_to(user)
        .filter(state=ClaimState.AWAITING_SECOND_APPROVAL)
        .select_related("member__unit", "first_approver")
        .order_by("updated_at", "id")
    )
    return [
        _waiting(
            user,
            kind="claim_approval",
            reference=str(c.pk),
            claim=c,
            amount=f"{c.pending_amount or ZERO:.2f}",
            first=c.first_approver,
            since=c.updated_at,
            signers=_signers(
                roles=REVIEW_ROLES,
                path=c.member.unit.path if c.member else "",
                besides=c.first_approver_id,
            ),
        )
        for c in claims
    ]


def _corrections_waiting(user: User, roles: frozenset[str]) -> list[dict[str, Any]]:
    from huzhu.protection.models import ClaimCorrection, CorrectionState

    corrections = (
        ClaimCorrection.objects.filter(
            state=CorrectionState.PENDING,
            claim__member__unit__path__startswith=staff_scope_path(user),
        )
        .select_related("claim__member__unit", "requested_by")
        .order_by("requested_at", "id")
    )
    return [
        _waiting(
            user,
            kind="correction",
            reference=str(c.pk),
            claim=c.claim,
            amount=f"{'-' if c.kind == EntryKind.CLAWBACK else ''}{c.amount:.2f}",
            first=c.requested_by,
            since=c.requested_at,
            signers=_signers(
                roles=roles,
                path=c.claim.member.unit.path if c.claim.member else "",
                besides=c.requested_by_id,
            ),
        )
        for c in corrections
    ]


def _runs_waiting(user: User) -> list[dict[str, Any]]:
    from huzhu.protection.models import PaymentRun, RunState

    out = []
    for run in PaymentRun.objects.filter(state=RunState.DRAFT).select_related("created_by"):
        city = User.objects.filter(role=Role.CITY_ADMIN, is_active=True)
        if run.created_by_id is not None:
            city = city.exclude(pk=run.created_by_id)
        out.append(
            _waiting(
                user,
                kind="payment_run",
                reference=run.reference,
                claim=None,
                amount=f"{run.total:.2f}",
                first=run.created_by,
                since=run.created_at,
                signers=sorted(city.values_list("username", flat=True)),
            )
        )
    return out
