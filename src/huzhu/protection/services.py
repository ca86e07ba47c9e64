"""Writes for claims (申请 → 受理 → 审核 → 批准/拒绝 → 支付) and enrolments from the API.

Every transition locks the claim row, checks the state it starts from, and writes the new state,
a ClaimEvent and an audit event in one transaction. An approval writes the payout as a ledger
entry; a rejection writes nothing. Who may do what:

- `unit_admin` files claims for members of its subtree (and adds their documents);
- `reviewer`, `district_admin`, `city_admin` accept, review, approve (also at once, fast track)
  and reject claims of members in their subtree;
- a claim becomes paid when every entry of it is in a confirmed payment (protection.payments).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.files.base import File
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from huzhu.accounts.models import ROSTER_ROLES, Role, User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.services import audit_record
from huzhu.core.errors import Busy, Conflict, DomainError, Forbidden, NotFound
from huzhu.members.models import Member, Organisation, OrgKind
from huzhu.protection.models import (
    Claim,
    ClaimDocument,
    ClaimEvent,
    ClaimSource,
    ClaimState,
    Enrollment,
    EntryKind,
    LedgerEntry,
    PlanVersion,
)
from huzhu.protection.reasons import TRANSITION_CODES

FILE_ROLES = frozenset({Role.UNIT_ADMIN})
REVIEW_ROLES = frozenset({Role.REVIEWER, Role.DISTRICT_ADMIN, Role.CITY_ADMIN})
CENT = Decimal("0.01")
MAX_DOCUMENTS = 20


# Which states each transition starts from.
_FROM: dict[str, frozenset[str]] = {
    "accept": frozenset({ClaimState.SUBMITTED}),
    "review": frozenset({ClaimState.ACCEPTED}),
    "approve": frozenset({ClaimState.UNDER_REVIEW}),
    "fast_track": frozenset({ClaimState.SUBMITTED, ClaimState.ACCEPTED}),
    "reject": frozenset({ClaimState.SUBMITTED, ClaimState.ACCEPTED, ClaimState.UNDER_REVIEW}),
}


def money(value: Decimal | str, field: str) -> Decimal:
    """A positive amount of yuan with at most two decimals."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise DomainError("invalid_amount", f"{field}: not an amount", field=field) from None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise DomainError("invalid_amount", f"{field}: at most two decimals", field=field)
    if amount <= 0:
        raise DomainError("invalid_amount", f"{field}: must be more than 0", field=field)
    return amount.quantize(CENT)


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
    *, claim: Claim, actor: User | None, from_state: str, reason_code: str, note: str = ""
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
        action=f"claim.{claim.state}",
        obj=claim,
        org_path=claim.member.unit.path if claim.member else "",
        reason=note,
        from_state=from_state,
        reason_code=reason_code,
    )
    return event


def lock_timeout() -> None:
    """Wait at most 2 s for a row lock in this transaction (PostgreSQL); then Busy, not a hang."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '2s'")


def _locked(claim: Claim) -> Claim:
    lock_timeout()
    try:
        # of=self: the member join is nullable, and only the claim row is ours to lock.
        return (
            Claim.objects.select_for_update(of=("self",))
            .select_related("member__unit")
            .get(pk=claim.pk)
        )
    except OperationalError as exc:  # lock_timeout
        raise Busy() from exc


def _refuse(claim: Claim, transition: str) -> DomainError:
    return Conflict(
        "invalid_transition",
        f"cannot {transition.replace('_', ' ')} a claim that is {claim.state}",
        state=claim.state,
    )


# -- filing ---------------------------------------------------------------------------------------


def claim_file(
    *,
    actor: User,
    member: Member,
    version: PlanVersion,
    event_date: date,
    requested: Decimal | str,
    description: str = "",
    documents: Sequence[tuple[str, File[bytes]]] = (),
) -> Claim:
    """A union files a claim for its member under a plan version the member is enrolled in."""
    _require_role(actor, FILE_ROLES, "file claims")
    _require_scope(actor, member)
    amount = money(requested, "requested")
    if not version.period_start <= event_date <= version.period_end:
        raise DomainError(
            "event_outside_period",
            f"{event_date} is outside {version.period_start}~{version.period_end}",
            field="event_date",
        )
    if not Enrollment.objects.filter(member=member, version=version).exists():
        raise DomainError(
            "not_enrolled", f"the member is not enrolled in {version}", field="version"
        )
    if len(documents) > MAX_DOCUMENTS:
        raise DomainError("too_many_documents", f"at most {MAX_DOCUMENTS} documents")
    with transaction.atomic():
        claim = Claim.objects.create(
            source=ClaimSource.APPLICATION,
            state=ClaimState.SUBMITTED,
            member=member,
            version=version,
            plan_code=version.plan.code,
            event_date=event_date,
            requested=amount,
            description=description.strip(),
            filed_by=actor,
        )
        for title, content in documents:
            ClaimDocument.objects.create(claim=claim, file=content, title=title[:200])
        _event(claim=claim, actor=actor, from_state="", reason_code=_reason("file", None))
    return claim


def claim_document_add(
    *, actor: User, claim: Claim, title: str, content: File[bytes]
) -> ClaimDocument:
    """More documents while the claim is still being decided."""
    _require_role(actor, FILE_ROLES | REVIEW_ROLES, "add documents")
    if claim.member is None:
        raise NotFound("claim")
    _require_scope(actor, claim.member)
    with transaction.atomic():
        locked = _locked(claim)
        if locked.state not in (
            ClaimState.SUBMITTED,
            ClaimState.ACCEPTED,
            ClaimState.UNDER_REVIEW,
        ):
            raise _refuse(locked, "add documents to")
        doc = ClaimDocument.objects.create(claim=locked, file=content, title=title[:200])
        audit_record(
            actor=actor,
            action="claim.document_add",
            obj=locked,
            org_path=locked.member.unit.path if locked.member else "",
            document=doc.pk,
        )
    return doc


# -- decisions ------------------------------------------------------------------------------------


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
    _require_role(actor, REVIEW_ROLES, "decide claims")
    code = _reason(transition, reason_code)
    locked = _locked(claim)
    if locked.member is None:
        raise NotFound("claim")
    _require_scope(actor, locked.member)
    if locked.source != ClaimSource.APPLICATION or locked.state not in _FROM[transition]:
        raise _refuse(locked, transition)
    if check is not None:
        check(locked)
    from_state = locked.state
    locked.state = to_state
    locked.save(update_fields=["state", "target", "fast_track", "updated_at"])
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
    (特事特办). The approved amount (at most the requested one) is written as a payout entry."""
    approved = money(amount, "amount")
    transition = "fast_track" if fast_track else "approve"

    def check(locked: Claim) -> None:
        if locked.requested is not None and approved > locked.requested:
            raise DomainError(
                "amount_above_requested",
                f"the approved amount {approved} is more than the requested {locked.requested}",
                field="amount",
            )
        locked.target = approved
        locked.fast_track = fast_track

    with transaction.atomic():
        locked = _transition(
            actor=actor,
            claim=claim,
            transition=transition,
            to_state=ClaimState.APPROVED,
            reason_code=reason_code,
            note=note,
            check=check,
        )
        LedgerEntry.objects.create(
            claim=locked,
            member=locked.member,
            kind=EntryKind.PAYOUT,
            amount=approved,
            memo=f"approved by {actor.username}"[:200],
        )
        # The first payout freezes the version (PRODUCT.md §2).
        PlanVersion.objects.filter(claims=locked, frozen_at__isnull=True).update(
            frozen_at=timezone.now()
        )
    return locked


def claim_reject(*, actor: User, claim: Claim, reason_code: str, note: str = "") -> Claim:
    """拒绝: from any undecided state; nothing is written to the ledger."""
    if not reason_code:
        raise DomainError("reason_required", "a rejection needs a reason code", field="reason_code")
    with transaction.atomic():
        return _transition(
            actor=actor,
            claim=claim,
            transition="reject",
            to_state=ClaimState.REJECTED,
            reason_code=reason_code,
            note=note,
        )


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
            action="enrollments.unit",
            obj=version,
            org_path=unit.path,
            unit=unit.code,
            created=len(new),
        )
    return UnitEnrolment(unit=unit, version=version, created=len(new), already=len(have))
