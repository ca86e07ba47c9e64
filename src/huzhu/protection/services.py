"""Writes for claims (申请 → 受理 → 审核 → 批准/拒绝 → 支付) and enrolments from the API.

Every transition locks the member's ledger and the claim row, checks the state it starts from,
and writes the new state, a ClaimEvent and an audit event in one transaction. Who may do what:

- `unit_admin` files claims for members of its subtree (and adds their documents). A claim is a
  hospital stay with the figures of the member's settlement sheet (`StayFigures`);
- `reviewer`, `district_admin`, `city_admin` accept, review, approve (also at once, fast track)
  and reject claims of members in their subtree. An approval can never exceed what the rules
  assess for the stay (`protection.stays.claim_assessment`), nor the requested amount; above
  `HUZHU_SECOND_APPROVAL_ABOVE` it takes two different people (双人复核);
- `district_admin`, `city_admin` correct what a decided claim pays (`claim_correct`, 调整/追回),
  within the rules, with a reason code and a note, two people above the threshold;
- a claim becomes paid when every entry of it is in a confirmed payment (protection.payments).

Money is booked only by `protection.ledger`: an approval or a correction sets the claim's limit
and has the ledger book what the rules now give each stay of the member in that version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from huzhu.accounts.models import ROSTER_ROLES, Role, User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.bounds import parse_date, parse_money
from huzhu.core.errors import Conflict, DomainError, Forbidden, NotFound
from huzhu.core.locking import locked_row
from huzhu.members.models import Member, Organisation, OrgKind
from huzhu.protection import ledger, stays
from huzhu.protection.documents import document_check, document_store
from huzhu.protection.models import (
    Claim,
    ClaimCorrection,
    ClaimDocument,
    ClaimEvent,
    ClaimSource,
    ClaimState,
    CorrectionState,
    Enrollment,
    EntryKind,
    LedgerEntry,
    PlanVersion,
)
from huzhu.protection.plans import terms_of
from huzhu.protection.reasons import TRANSITION_CODES

FILE_ROLES = frozenset({Role.UNIT_ADMIN})
REVIEW_ROLES = frozenset({Role.REVIEWER, Role.DISTRICT_ADMIN, Role.CITY_ADMIN})
CORRECT_ROLES = frozenset({Role.DISTRICT_ADMIN, Role.CITY_ADMIN})
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_DOCUMENTS = 20
_RESERVED_KEY = re.compile(r"^C[0-9]+$", re.ASCII)  # C<claim id> names a claim without one
_TEXT_KEY = re.compile(r"^[0-9A-Za-z_.:/-]{1,64}$", re.ASCII)


# Which states each transition starts from.
_FROM: dict[str, frozenset[str]] = {
    "accept": frozenset({ClaimState.SUBMITTED}),
    "review": frozenset({ClaimState.ACCEPTED}),
    "approve": frozenset({ClaimState.UNDER_REVIEW, ClaimState.HELD}),
    "fast_track": frozenset({ClaimState.SUBMITTED, ClaimState.ACCEPTED, ClaimState.HELD}),
    "reject": frozenset(
        {
            ClaimState.HELD,
            ClaimState.SUBMITTED,
            ClaimState.ACCEPTED,
            ClaimState.UNDER_REVIEW,
            ClaimState.AWAITING_SECOND_APPROVAL,
        }
    ),
}


def second_approval_above() -> Decimal:
    """Amounts above this (yuan) take two people (`HUZHU_SECOND_APPROVAL_ABOVE`)."""
    return Decimal(str(settings.HUZHU_SECOND_APPROVAL_ABOVE))


def money(value: Decimal | str, field: str) -> Decimal:
    """A positive amount of yuan within the bounds (core.bounds)."""
    return parse_money(value, field)


def _require_role(actor: User, roles: frozenset[str], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden("forbidden", f"your role may not {what}")


def _require_scope(actor: User, member: Member) -> None:
    if not member.unit.path.startswith(staff_scope_path(actor)):
        raise NotFound("member")


def _reason(transition: str, reason_code: str | None) -> str:
    allowed = TRANSITION_CODES[transition]
    code = reason_code or allowed[0]
    if code not in allowed:
        raise DomainError(
            "invalid_reason_code",
            f"{transition}: reason code must be one of {', '.join(allowed)}",
            field="reason_code",
        )
    return code


def _event(
    *,
    claim: Claim,
    actor: User | None,
    from_state: str,
    reason_code: str,
    note: str = "",
    action: Action | None = None,
    **details: Any,
) -> ClaimEvent:
    event = ClaimEvent.objects.create(
        claim=claim,
        actor=actor,
        from_state=from_state,
        to_state=claim.state,
        reason_code=reason_code,
        note=note,
    )
    audit_record(
        actor=actor,
        action=action or Action(f"claim.{claim.state}"),
        obj=claim,
        org_path=claim.member.unit.path if claim.member else "",
        reason=note,
        from_state=from_state,
        reason_code=reason_code,
        **details,
    )
    return event


def _locked(claim: Claim) -> Claim:
    """The member's ledger, then the claim row, locked (Busy after a short wait)."""
    if claim.member_id is not None:
        ledger.ledger_lock(claim.member_id)
    # of=self: the member join is nullable, and only the claim row is ours to lock.
    return locked_row(Claim.objects.select_related("member__unit", "version__plan"), claim.pk)


def _refuse(claim: Claim, transition: str) -> DomainError:
    return Conflict(
        "invalid_transition",
        f"cannot {transition.replace('_', ' ')} a claim that is {claim.state}",
        state=claim.state,
    )


# -- filing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StayFigures:
    """A hospital stay as the member's settlement sheet shows it, in the settlement file's
    terms (INTERFACES "settlements"). `stay_ref`: the sheet's 结算流水号, if it has one."""

    admitted_on: date
    discharged_on: date
    settled_on: date
    in_scope_self_pay: Decimal = ZERO
    out_of_scope_self_pay: Decimal = ZERO
    hospital: str = ""
    diagnosis_code: str = ""
    is_accident: bool = False
    stay_ref: str = ""


_TRUE = {"1", "是", "true", "y", "yes", "on"}
_FALSE = {"0", "否", "false", "n", "no", "off"}


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _stay_dates(
    admitted_on: object, discharged_on: object, settled_on: object, event_date: object
) -> tuple[date, date, date]:
    """(admitted, discharged, settled): `event_date`, when given, must equal `admitted_on` (and
    stands for it when missing); the discharge defaults to the admission, the settlement to
    the discharge; neither may come before the admission."""
    event = parse_date(event_date, "event_date") if _given(event_date) else None
    if _given(admitted_on):
        admitted = parse_date(admitted_on, "admitted_on")
    elif event is not None:
        admitted = event
    else:
        raise DomainError(
            "required", "admitted_on: the date of admission is required", field="admitted_on"
        )
    if event is not None and event != admitted:
        raise DomainError(
            "event_date_mismatch",
            f"event_date: {event} must equal admitted_on {admitted}",
            field="event_date",
        )
    discharged = parse_date(discharged_on, "discharged_on") if _given(discharged_on) else admitted
    settled = parse_date(settled_on, "settled_on") if _given(settled_on) else discharged
    for field, day in (("discharged_on", discharged), ("settled_on", settled)):
        if day < admitted:
            raise DomainError(
                "invalid_date",
                f"{field}: {day} is before admission on {admitted}",
                field=field,
            )
    return admitted, discharged, settled


def _accident_flag(value: object, *, default: bool) -> bool:
    if not _given(value):
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().casefold()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise DomainError("invalid_flag", "is_accident: 1/0 or 是/否", field="is_accident")


def _stay_ref(value: object) -> str:
    ref = str(value).strip() if _given(value) else ""
    if ref and not _TEXT_KEY.match(ref):
        raise DomainError(
            "invalid_settlement_id",
            "settlement_id: at most 64 letters, digits and . _ : / -",
            field="settlement_id",
        )
    if _RESERVED_KEY.match(ref):
        raise DomainError(
            "invalid_settlement_id",
            "settlement_id: C followed by digits names a claim filed without one",
            field="settlement_id",
        )
    return ref


def _text(value: object, field: str, limit: int, *, upper: bool = False) -> str:
    text = str(value).strip() if _given(value) else ""
    if len(text) > limit:
        raise DomainError("too_long", f"{field}: at most {limit} characters", field=field)
    return text.upper() if upper else text


def stay_from_input(
    *,
    version: PlanVersion,
    admitted_on: object = None,
    discharged_on: object = None,
    settled_on: object = None,
    event_date: object = None,
    in_scope_self_pay: object = None,
    out_of_scope_self_pay: object = None,
    hospital: object = None,
    diagnosis_code: object = None,
    is_accident: object = None,
    settlement_id: object = None,
) -> StayFigures:
    """The stay from what a form or the API sent (text or typed values), every problem a
    DomainError naming its field. Amounts default to 0.00, `is_accident` to whether the plan
    is an accident plan; the dates as `_stay_dates` says."""
    admitted, discharged, settled = _stay_dates(admitted_on, discharged_on, settled_on, event_date)

    def amount(value: object, field: str) -> Decimal:
        return parse_money(value, field, allow_zero=True) if _given(value) else ZERO

    return StayFigures(
        admitted_on=admitted,
        discharged_on=discharged,
        settled_on=settled,
        in_scope_self_pay=amount(in_scope_self_pay, "in_scope_self_pay"),
        out_of_scope_self_pay=amount(out_of_scope_self_pay, "out_of_scope_self_pay"),
        hospital=_text(hospital, "hospital", 200),
        diagnosis_code=_text(diagnosis_code, "diagnosis_code", 32, upper=True),
        is_accident=_accident_flag(is_accident, default=version.plan.benefit == "accident"),
        stay_ref=_stay_ref(settlement_id),
    )


def _same_stay_filed(member: Member, version: PlanVersion, stay: StayFigures) -> Claim | None:
    """A live claim filed by hand for the same stay in the same version (one stay, one claim)."""
    live = Claim.objects.filter(
        member=member, version=version, source=ClaimSource.APPLICATION
    ).exclude(state=ClaimState.REJECTED)
    if stay.stay_ref:
        return live.filter(stay_ref=stay.stay_ref).first()
    return live.filter(admitted_on=stay.admitted_on, discharged_on=stay.discharged_on).first()


def claim_file(
    *,
    actor: User,
    member: Member,
    version: PlanVersion,
    stay: StayFigures,
    requested: Decimal | str,
    description: str = "",
    documents: Sequence[tuple[str, File[bytes]]] = (),
) -> Claim:
    """A union files a claim for a hospital stay of its member, under a plan version the member
    is enrolled in whose period holds the admission."""
    _require_role(actor, FILE_ROLES, "file claims")
    _require_scope(actor, member)
    amount = money(requested, "requested")
    if not version.period_start <= stay.admitted_on <= version.period_end:
        raise DomainError(
            "event_outside_period",
            f"admitted_on: {stay.admitted_on} is outside {version.period_start}~"
            f"{version.period_end}",
            field="admitted_on",
        )
    if not Enrollment.objects.filter(member=member, version=version).exists():
        raise DomainError(
            "not_enrolled", f"the member is not enrolled in {version}", field="version"
        )
    if len(documents) > MAX_DOCUMENTS:
        raise DomainError("too_many_documents", f"at most {MAX_DOCUMENTS} documents")
    kinds = [document_check(content, field="documents") for _, content in documents]
    if len(description) > 4000:
        raise DomainError("too_long", "description: at most 4000 characters", field="description")
    with transaction.atomic():
        ledger.ledger_lock(member.pk)
        earlier = _same_stay_filed(member, version, stay)
        if earlier is not None:
            raise Conflict(
                "duplicate_stay",
                f"this stay is already claim {earlier.pk} ({earlier.state})",
                claim_id=earlier.pk,
            )
        claim = Claim.objects.create(
            source=ClaimSource.APPLICATION,
            state=ClaimState.SUBMITTED,
            member=member,
            version=version,
            plan_code=version.plan.code,
            event_date=stay.admitted_on,
            requested=amount,
            description=description.strip(),
            filed_by=actor,
            stay_ref=stay.stay_ref,
            hospital=stay.hospital,
            admitted_on=stay.admitted_on,
            discharged_on=stay.discharged_on,
            settled_on=stay.settled_on,
            in_scope_self_pay=stay.in_scope_self_pay,
            out_of_scope_self_pay=stay.out_of_scope_self_pay,
            diagnosis_code=stay.diagnosis_code,
            is_accident=stay.is_accident,
        )
        for (title, content), kind in zip(documents, kinds, strict=True):
            document_store(claim=claim, title=title, content=content, kind=kind)
        _event(claim=claim, actor=actor, from_state="", reason_code=_reason("file", None))
    return claim


def claim_file_disability(
    *,
    actor: User,
    member: Member,
    version: PlanVersion,
    grade: object,
    event_date: object,
    requested: Decimal | str,
    description: str = "",
    documents: Sequence[tuple[str, File[bytes]]] = (),
) -> Claim:
    """A union files a disability claim (伤残) for its member: the grade (1–10) and the accident's
    date from the appraisal certificate, attached as a document, under an accident plan version
    that pays disability lump sums; the accident on or after the member's coverage start."""
    _require_role(actor, FILE_ROLES, "file claims")
    _require_scope(actor, member)
    amount = money(requested, "requested")
    level = _grade(grade)
    day = parse_date(event_date, "event_date")
    terms = terms_of(version)
    if terms.accident is None or terms.accident.disability_sum is None:
        raise DomainError(
            "no_disability_benefit",
            f"{version} pays no disability lump sum",
            field="disability_grade",
        )
    enrolment = next((e for e in stays.enrolments_of(member.pk) if e.version == version.pk), None)
    if enrolment is None:
        raise DomainError(
            "not_enrolled", f"the member is not enrolled in {version}", field="version"
        )
    if not enrolment.covers(day):
        raise DomainError(
            "event_outside_period",
            f"event_date: {day} is outside the member's cover {enrolment.starts}~"
            f"{version.period_end}",
            field="event_date",
        )
    if not documents:
        raise DomainError(
            "certificate_required",
            "documents: attach the disability appraisal certificate",
            field="documents",
        )
    if len(documents) > MAX_DOCUMENTS:
        raise DomainError("too_many_documents", f"at most {MAX_DOCUMENTS} documents")
    with transaction.atomic():
        ledger.ledger_lock(member.pk)
        earlier = (
            Claim.objects.filter(
                member=member, version=version, event_date=day, disability_grade=level
            )
            .exclude(state=ClaimState.REJECTED)
            .first()
        )
        if earlier is not None:
            raise Conflict(
                "duplicate_claim",
                f"grade {level} of the accident of {day} is already claim {earlier.pk}",
                claim_id=earlier.pk,
            )
        claim = Claim.objects.create(
            source=ClaimSource.APPLICATION,
            state=ClaimState.SUBMITTED,
            member=member,
            version=version,
            plan_code=version.plan.code,
            event_date=day,
            disability_grade=level,
            is_accident=True,
            requested=amount,
            description=description.strip()[:4000],
            filed_by=actor,
        )
        for title, content in documents:
            ClaimDocument.objects.create(claim=claim, file=content, title=title[:200])
        _event(claim=claim, actor=actor, from_state="", reason_code=_reason("file", None))
    return claim


def _grade(value: object) -> int:
    text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and 1 <= int(text[:3] or 0) <= 10 and len(text) <= 2):
        raise DomainError(
            "invalid_grade",
            "disability_grade: a whole number from 1 (the worst) to 10",
            field="disability_grade",
        )
    return int(text)


def claim_document_add(
    *, actor: User, claim: Claim, title: str, content: File[bytes]
) -> ClaimDocument:
    """More documents while the claim is still being decided."""
    _require_role(actor, FILE_ROLES | REVIEW_ROLES, "add documents")
    if claim.member is None:
        raise NotFound("claim")
    _require_scope(actor, claim.member)
    kind = document_check(content, field="file")
    with transaction.atomic():
        locked = _locked(claim)
        if locked.state not in (
            ClaimState.SUBMITTED,
            ClaimState.ACCEPTED,
            ClaimState.UNDER_REVIEW,
            ClaimState.AWAITING_SECOND_APPROVAL,
        ):
            raise _refuse(locked, "add documents to")
        doc = document_store(claim=locked, title=title, content=content, kind=kind)
        audit_record(
            actor=actor,
            action=Action.CLAIM_DOCUMENT_ADD,
            obj=locked,
            org_path=locked.member.unit.path if locked.member else "",
            document=doc.pk,
        )
    return doc


# -- decisions ------------------------------------------------------------------------------------


def _open(actor: User, claim: Claim, transition: str) -> Claim:
    """The claim locked, after the checks every decision makes."""
    _require_role(actor, REVIEW_ROLES, "decide claims")
    locked = _locked(claim)
    if locked.member is None:
        raise NotFound("claim")
    _require_scope(actor, locked.member)
    # A claim of the bureau's data is decided by the rules, unless it waits for a reviewer.
    bureaus = locked.source != ClaimSource.APPLICATION or locked.settlement_id is not None
    if bureaus and locked.state not in (ClaimState.HELD, ClaimState.AWAITING_SECOND_APPROVAL):
        raise _refuse(locked, transition)
    return locked


def _transition(
    *,
    actor: User,
    claim: Claim,
    transition: str,
    to_state: str,
    reason_code: str | None,
    note: str,
    check: Callable[[Claim], None] | None = None,
) -> Claim:
    """Lock, check, move (after `check`, which may refuse or set fields). The caller is atomic."""
    code = _reason(transition, reason_code)
    locked = _open(actor, claim, transition)
    if locked.state not in _FROM[transition]:
        raise _refuse(locked, transition)
    if check is not None:
        check(locked)
    from_state = locked.state
    locked.state = to_state
    locked.save()
    _event(claim=locked, actor=actor, from_state=from_state, reason_code=code, note=note.strip())
    return locked


def claim_accept(
    *, actor: User, claim: Claim, reason_code: str | None = None, note: str = ""
) -> Claim:
    """受理: the documents are complete (submitted → accepted)."""
    with transaction.atomic():
        return _transition(
            actor=actor,
            claim=claim,
            transition="accept",
            to_state=ClaimState.ACCEPTED,
            reason_code=reason_code,
            note=note,
        )


def claim_review(
    *, actor: User, claim: Claim, reason_code: str | None = None, note: str = ""
) -> Claim:
    """审核: a reviewer takes the claim up (accepted → under review)."""
    with transaction.atomic():
        return _transition(
            actor=actor,
            claim=claim,
            transition="review",
            to_state=ClaimState.UNDER_REVIEW,
            reason_code=reason_code,
            note=note,
        )


def _within_assessment(claim: Claim, amount: Decimal) -> stays.Assessment:
    """409 `exceeds_assessed` when `amount` is above what the rules give the stay, or above
    what was requested."""
    assessment = stays.claim_assessment(claim)
    if amount > assessment.assessed or (claim.requested is not None and amount > claim.requested):
        raise Conflict(
            "exceeds_assessed",
            f"amount {amount} is above what the rules assess for this stay "
            f"({assessment.assessed}) or the requested {claim.requested}",
            field="amount",
            assessed=f"{assessment.assessed:.2f}",
            assessed_reason=assessment.reason,
            requested=None if claim.requested is None else f"{claim.requested:.2f}",
        )
    return assessment


def _rebook(locked: Claim, *, actor: User | None, memo: str) -> list[ledger.Rebooked]:
    """Have the ledger book what the rules now give the member's stays in the claim's version;
    every other claim whose money changes because of it gets an event saying so."""

    def told(claim: Claim, delta: Decimal) -> None:
        if claim.pk != locked.pk:
            _event(
                claim=claim,
                actor=actor,
                from_state=claim.state,
                reason_code="recomputed",
                note=f"{delta:+.2f} (claim {locked.pk})",
                action=Action.CLAIM_RECOMPUTED,
            )

    assert locked.member_id is not None and locked.version_id is not None
    if locked.disability_grade is not None:
        # A lump sum is no stay: it is booked as decided, and moves nobody else's money.
        return ledger.lump_sum_book(claim=locked, memo=memo)
    return ledger.member_rebook(
        member_id=locked.member_id, version_id=locked.version_id, memo=memo, changed_by=told
    )


def claim_approve(
    *,
    actor: User,
    claim: Claim,
    amount: Decimal | str,
    reason_code: str | None = None,
    note: str = "",
    fast_track: bool = False,
) -> Claim:
    """批准: under review → approved, or at once from submitted/accepted with `fast_track`
    (特事特办: the steps, never the amount). The amount is at most what the rules assess for the
    stay and what was requested (409 `exceeds_assessed`).

    Above the two-person threshold the first approval leaves the claim awaiting a second one
    (双人复核) and books nothing; the same amount approved by another person who may approve
    makes it approved (409 `same_approver`, `amount_mismatch` otherwise). Approval sets the
    claim's limit to the amount and the ledger books it (and whatever it changes for the
    member's other stays in the version)."""
    approved = money(amount, "amount")
    transition = "fast_track" if fast_track else "approve"
    code = _reason(transition, reason_code)
    with transaction.atomic():
        locked = _open(actor, claim, transition)
        from_state = locked.state
        if from_state == ClaimState.AWAITING_SECOND_APPROVAL:
            if locked.first_approver_id == actor.pk:
                raise Conflict(
                    "same_approver",
                    "a second approval must come from another person",
                    first_approver=actor.username,
                )
            if approved != locked.pending_amount:
                raise Conflict(
                    "amount_mismatch",
                    f"the first approval was for {locked.pending_amount}, not {approved}",
                    field="amount",
                    pending_amount=f"{locked.pending_amount:.2f}",
                )
        elif from_state not in _FROM[transition]:
            raise _refuse(locked, transition)
        _within_assessment(locked, approved)
        first = from_state != ClaimState.AWAITING_SECOND_APPROVAL
        if first and approved > second_approval_above():
            # 双人复核: nothing is booked until another person approves the same amount.
            locked.state = ClaimState.AWAITING_SECOND_APPROVAL
            locked.pending_amount = approved
            locked.first_approver = actor
        else:
            locked.state = ClaimState.APPROVED
            locked.payout_limit = approved
            locked.pending_amount = None
        locked.fast_track = locked.fast_track or fast_track
        locked.save()
        _event(
            claim=locked,
            actor=actor,
            from_state=from_state,
            reason_code=code,
            note=note.strip(),
            amount=f"{approved:.2f}",
            first_approver=None if first else locked.first_approver.username,  # type: ignore[union-attr]
        )
        if locked.state == ClaimState.APPROVED:
            _rebook(locked, actor=actor, memo=f"approved by {actor.username}")
            locked.refresh_from_db()
    return locked


def claim_reject(*, actor: User, claim: Claim, reason_code: str, note: str = "") -> Claim:
    """拒绝: from any undecided state (a claim awaiting its second approval too); nothing is
    written to the ledger. A held bureau settlement (`review_above`) rejected keeps what it
    was paid before it was held, and gets no more: the rules then leave it at that."""
    if not reason_code:
        raise DomainError("reason_required", "a rejection needs a reason code", field="reason_code")
    held: list[Claim] = []

    def clear(locked: Claim) -> None:
        locked.pending_amount = None
        if locked.settlement_id is not None:
            locked.payout_limit = ledger.claim_nets([locked.pk])[locked.pk]
            locked.held_amount = None
            held.append(locked)

    with transaction.atomic():
        locked = _transition(
            actor=actor,
            claim=claim,
            transition="reject",
            to_state=ClaimState.REJECTED,
            reason_code=reason_code,
            note=note,
            check=clear,
        )
        if held:
            _rebook(locked, actor=actor, memo=f"rejected by {actor.username}")
            locked.refresh_from_db()
        return locked


# -- corrections by staff -------------------------------------------------------------------------


CORRECTABLE = (ClaimState.APPROVED, ClaimState.PAID)


def _correction_checked(claim: Claim, *, kind: str, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(net now, net after) of a correction that keeps the claim inside the rules: never below
    nothing, never above what the rules assess for its stay."""
    net = ledger.claim_nets([claim.pk])[claim.pk]
    after = net + amount if kind == EntryKind.ADJUSTMENT else net - amount
    if after < 0:
        raise Conflict(
            "exceeds_paid",
            f"a clawback of {amount} is more than the {net} booked on this claim",
            field="amount",
            net=f"{net:.2f}",
        )
    assessment = stays.claim_assessment(claim)
    if after > assessment.assessed:
        raise Conflict(
            "exceeds_assessed",
            f"the claim would get {after}, above what the rules assess for its stay "
            f"({assessment.assessed})",
            field="amount",
            assessed=f"{assessment.assessed:.2f}",
            net=f"{net:.2f}",
        )
    return net, after


def claim_correct(
    *,
    actor: User,
    claim: Claim,
    kind: str,
    amount: Decimal | str,
    reason_code: str,
    note: str,
) -> ClaimCorrection:
    """更正: an admin books an adjustment (more) or a clawback (less) on a decided claim, with a
    reason code and a note — the one way besides the rules to change what a member is paid.
    It stays inside the rules (0 ≤ the claim's net ≤ its assessment) and, above the
    two-person threshold, waits for a second admin: the same correction sent by another one
    books it (`same_approver`, `amount_mismatch` otherwise). Returns the correction, `pending`
    or `booked`."""
    _require_role(actor, CORRECT_ROLES, "correct payouts")
    if kind not in (EntryKind.ADJUSTMENT, EntryKind.CLAWBACK):
        raise DomainError("invalid_kind", "kind: adjustment or clawback", field="kind")
    value = money(amount, "amount")
    code = _reason("correct", reason_code)
    if not note.strip():
        raise DomainError("note_required", "note: say why the payout changes", field="note")
    with transaction.atomic():
        if claim.member_id is not None:
            ledger.ledger_lock(claim.member_id)
        locked = locked_row(Claim.objects.select_related("member__unit", "version__plan"), claim.pk)
        if locked.member is None or locked.version_id is None:
            raise NotFound("claim")
        _require_scope(actor, locked.member)
        if locked.state not in CORRECTABLE:
            raise _refuse(locked, "correct")
        pending = locked.corrections.filter(state=CorrectionState.PENDING).first()
        if pending is not None:
            if pending.requested_by_id == actor.pk:
                raise Conflict("same_approver", "a second signature must come from another person")
            if pending.kind != kind or pending.amount != value:
                raise Conflict(
                    "amount_mismatch",
                    f"the correction waiting is a {pending.kind} of {pending.amount}",
                    field="amount",
                    pending_amount=f"{pending.amount:.2f}",
                    pending_kind=pending.kind,
                )
            return _correction_book(pending, claim=locked, signer=actor)
        _correction_checked(locked, kind=kind, amount=value)
        correction = ClaimCorrection.objects.create(
            claim=locked,
            kind=kind,
            amount=value,
            reason_code=code,
            note=note.strip(),
            requested_by=actor,
        )
        audit_record(
            actor=actor,
            action=Action.CLAIM_CORRECTION_REQUEST,
            obj=locked,
            org_path=locked.member.unit.path,
            kind=kind,
            amount=f"{value:.2f}",
            reason_code=code,
            reason=note.strip(),
        )
        if value > second_approval_above():
            return correction
        return _correction_book(correction, claim=locked, signer=None)


def _correction_book(
    correction: ClaimCorrection, *, claim: Claim, signer: User | None
) -> ClaimCorrection:
    """Book a correction: the claim's limit becomes its net after it, and the ledger books
    the difference (and what it changes for the member's other stays). Checked again: the
    stays may have changed since the correction was asked for."""
    _net, after = _correction_checked(claim, kind=correction.kind, amount=correction.amount)
    claim.payout_limit = after
    claim.save(update_fields=["payout_limit", "updated_at"])
    actor = signer or correction.requested_by
    booked = _rebook(claim, actor=actor, memo=f"{correction.kind} {correction.reason_code}")
    entry = next((b.entry for b in booked if b.claim.pk == claim.pk), None)
    correction.state = CorrectionState.BOOKED
    correction.signed_by = signer
    correction.decided_at = timezone.now()
    correction.entry = entry
    correction.save()
    claim.refresh_from_db()
    _event(
        claim=claim,
        actor=actor,
        from_state=claim.state,
        reason_code=correction.reason_code,
        note=correction.note,
        action=Action.CLAIM_CORRECTED,
        kind=correction.kind,
        amount=f"{correction.amount:.2f}",
        requested_by=correction.requested_by.username,
        signed_by=signer.username if signer else None,
    )
    return correction


def claim_correction_refuse(
    *, actor: User, correction: ClaimCorrection, note: str = ""
) -> ClaimCorrection:
    """A second admin refuses a correction waiting for a signature (or its author withdraws it)."""
    _require_role(actor, CORRECT_ROLES, "correct payouts")
    with transaction.atomic():
        locked = locked_row(
            ClaimCorrection.objects.select_related("claim__member__unit"), correction.pk
        )
        if locked.claim.member is None:
            raise NotFound("correction")
        _require_scope(actor, locked.claim.member)
        if locked.state != CorrectionState.PENDING:
            raise Conflict(
                "invalid_transition", f"the correction is {locked.state}", state=locked.state
            )
        locked.state = CorrectionState.REFUSED
        locked.signed_by = actor
        locked.decided_at = timezone.now()
        locked.save()
        audit_record(
            actor=actor,
            action=Action.CLAIM_CORRECTION_REFUSE,
            obj=locked.claim,
            org_path=locked.claim.member.unit.path,
            correction=locked.pk,
            reason=note.strip(),
        )
    return locked


def claims_mark_paid(*, claim_ids: Sequence[int], actor: User | None) -> list[int]:
    """Approved claims whose every entry is in a paid payment item become paid; returns them.

    Called by the payment services inside their transaction.
    """
    from huzhu.protection.models import PaymentItemEntry, PaymentItemState

    paid: list[int] = []
    for claim in (
        Claim.objects.select_for_update(of=("self",))
        .select_related("member__unit")
        .filter(pk__in=claim_ids, state=ClaimState.APPROVED)
        .order_by("pk")
    ):
        paid_entries = PaymentItemEntry.objects.filter(
            live=True, item__state=PaymentItemState.PAID
        ).values("entry_id")
        if LedgerEntry.objects.filter(claim=claim).exclude(pk__in=paid_entries).exists():
            continue
        claim.state = ClaimState.PAID
        claim.save(update_fields=["state", "updated_at"])
        _event(
            claim=claim,
            actor=actor,
            from_state=ClaimState.APPROVED,
            reason_code="transfer_confirmed",
        )
        paid.append(claim.pk)
    return paid


# -- enrolments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitEnrolment:
    unit: Organisation
    version: PlanVersion
    created: int
    already: int


def enrollment_create_for_unit(
    *, actor: User, unit: Organisation, version: PlanVersion, paid_on: date | None = None
) -> UnitEnrolment:
    """Enrol every active member of a workplace union in a version, those not yet enrolled; the
    payer is the version's and the amount its contribution."""
    _require_role(actor, frozenset(ROSTER_ROLES), "enrol members")
    if not unit.path.startswith(staff_scope_path(actor)):
        raise NotFound(f"organisation {unit.code}")
    if unit.kind != OrgKind.UNIT:
        raise DomainError("not_a_unit", f"{unit.code} is not a workplace union", field="code")
    with transaction.atomic():
        members = list(
            Member.objects.filter(unit=unit, is_active=True).values_list("id", flat=True)
        )
        have = set(
            Enrollment.objects.filter(version=version, member_id__in=members).values_list(
                "member_id", flat=True
            )
        )
        new = [
            Enrollment(
                member_id=m,
                unit=unit,
                version=version,
                paid_on=paid_on,
                amount=version.contribution,
                payer=version.payer,
            )
            for m in members
            if m not in have
        ]
        Enrollment.objects.bulk_create(new, batch_size=1000)
        audit_record(
            actor=actor,
            action=Action.ENROLLMENTS_UNIT,
            obj=version,
            org_path=unit.path,
            unit=unit.code,
            created=len(new),
        )
    return UnitEnrolment(unit=unit, version=version, created=len(new), already=len(have))
