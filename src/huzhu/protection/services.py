"""Decisions on claims (申请 → 受理 → 审核 → 批准/拒绝 → 支付), and what every claim write shares:
the roles, the transition check, the event. Filing is in `filing`, corrections in `corrections`,
a unit's enrolment in `unit_enrolment`.

Every transition locks the member's ledger and the claim row, checks the state it starts from,
and writes the new state, a ClaimEvent and an audit event in one transaction. Who may do what:

- `unit_admin` files claims for members of its subtree (and adds their documents). A claim is a
  hospital stay with the figures of the member's settlement sheet (`filing.StayFigures`);
- `reviewer`, `district_admin`, `city_admin` accept, review, approve (also at once, fast track)
  and reject claims of members in their subtree. An approval can never exceed what the rules
  assess for the stay (`protection.stays.claim_assessment`), nor the requested amount; above
  `HUZHU_SECOND_APPROVAL_ABOVE` it takes two different people (双人复核);
- `district_admin`, `city_admin` correct what a decided claim pays (调整/追回,
  `corrections.claim_correct`), within the rules, with a reason code and a note, two people
  above the threshold;
- a claim becomes paid when every entry of it is in a confirmed payment (protection.payments).

Money is booked only by `protection.ledger`: an approval or a correction sets the claim's limit
and has the ledger book what the rules now give each stay of the member in that version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.accounts.policy import Permission, in_subtree, roles
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.bounds import parse_money
from huzhu.core.errors import Conflict, DomainError, Forbidden, NotFound
from huzhu.core.locking import locked_row
from huzhu.members.models import Member
from huzhu.protection import ledger, stays
from huzhu.protection.models import (
    Claim,
    ClaimEvent,
    ClaimSource,
    ClaimState,
    LedgerEntry,
)
from huzhu.protection.reasons import TRANSITION_CODES

FILE_ROLES = roles(Permission.CLAIM_FILE)
REVIEW_ROLES = roles(Permission.CLAIM_REVIEW)
CORRECT_ROLES = roles(Permission.CLAIM_CORRECT)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_DOCUMENTS = 20


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


def require_role(actor: User, roles: frozenset[str], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden("forbidden", _("您的角色不能%(what)s") % {"what": what})


def require_scope(actor: User, member: Member) -> None:
    if not in_subtree(member.unit.path, staff_scope_path(actor)):
        raise NotFound(pgettext("未找到", "会员"))


def reason_for(transition: str, reason_code: str | None) -> str:
    allowed = TRANSITION_CODES[transition]
    code = reason_code or allowed[0]
    if code not in allowed:
        raise DomainError(
            "invalid_reason_code",
            _("%(transition)s：原因代码只能是 %(allowed)s")
            % {"transition": transition, "allowed": ", ".join(allowed)},
            field="reason_code",
        )
    return code


def claim_event(
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


def claim_locked(claim: Claim) -> Claim:
    """The member's ledger, then the claim row, locked (Busy after a short wait)."""
    if claim.member_id is not None:
        ledger.ledger_lock(claim.member_id)
    # of=self: the member join is nullable, and only the claim row is ours to lock.
    return locked_row(Claim.objects.select_related("member__unit", "version__plan"), claim.pk)


def refusal(claim: Claim, transition: str) -> DomainError:
    """409 `invalid_transition`: `transition` (a step, or what `require_role` names) cannot be
    done to a claim in its state."""
    return Conflict(
        "invalid_transition",
        _("理赔当前的状态是“%(state)s”，不能%(verb)s")
        % {"verb": _step(transition), "state": ClaimState(claim.state).label},
        state=claim.state,
    )


def _step(transition: str) -> str:
    steps = {
        "accept": pgettext("理赔操作", "受理"),
        "review": pgettext("理赔操作", "审核"),
        "approve": pgettext("理赔操作", "批准"),
        "fast_track": pgettext("理赔操作", "特事特办"),
        "reject": pgettext("理赔操作", "拒绝"),
        "add documents to": pgettext("理赔操作", "补充材料"),
        "correct": pgettext("理赔操作", "更正"),
    }
    return steps.get(transition, transition)


# -- decisions ------------------------------------------------------------------------------------


def _open(actor: User, claim: Claim, transition: str) -> Claim:
    """The claim locked, after the checks every decision makes."""
    require_role(actor, REVIEW_ROLES, _("审批理赔"))
    locked = claim_locked(claim)
    if locked.member is None:
        raise NotFound(pgettext("未找到", "理赔"))
    require_scope(actor, locked.member)
    # A claim of the bureau's data is decided by the rules, unless it waits for a reviewer.
    bureaus = locked.source != ClaimSource.APPLICATION or locked.settlement_id is not None
    if bureaus and locked.state not in (ClaimState.HELD, ClaimState.AWAITING_SECOND_APPROVAL):
        raise refusal(locked, transition)
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
    code = reason_for(transition, reason_code)
    locked = _open(actor, claim, transition)
    if locked.state not in _FROM[transition]:
        raise refusal(locked, transition)
    if check is not None:
        check(locked)
    from_state = locked.state
    locked.state = to_state
    locked.save()
    claim_event(
        claim=locked, actor=actor, from_state=from_state, reason_code=code, note=note.strip()
    )
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
            _(
                "金额 %(amount)s 超过了按规则对此次住院核定的 %(assessed)s 元"
                "或申请的 %(requested)s 元"
            )
            % {"amount": amount, "assessed": assessment.assessed, "requested": claim.requested},
            field="amount",
            assessed=f"{assessment.assessed:.2f}",
            assessed_reason=assessment.reason,
            requested=None if claim.requested is None else f"{claim.requested:.2f}",
        )
    return assessment


def rebook(locked: Claim, *, actor: User | None, memo: str) -> list[ledger.Rebooked]:
    """Have the ledger book what the rules now give the member's stays in the claim's version;
    every other claim whose money changes because of it gets an event saying so."""

    def told(claim: Claim, delta: Decimal) -> None:
        if claim.pk != locked.pk:
            claim_event(
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
    code = reason_for(transition, reason_code)
    with transaction.atomic():
        locked = _open(actor, claim, transition)
        from_state = locked.state
        if from_state == ClaimState.AWAITING_SECOND_APPROVAL:
            if locked.first_approver_id == actor.pk:
                raise Conflict(
                    "same_approver",
                    _("复核须由另一个人批准"),
                    first_approver=actor.username,
                )
            if approved != locked.pending_amount:
                raise Conflict(
                    "amount_mismatch",
                    _("第一次批准的金额是 %(pending)s 元，不是 %(amount)s 元")
                    % {"pending": locked.pending_amount, "amount": approved},
                    field="amount",
                    pending_amount=f"{locked.pending_amount:.2f}",
                )
        elif from_state not in _FROM[transition]:
            raise refusal(locked, transition)
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
        claim_event(
            claim=locked,
            actor=actor,
            from_state=from_state,
            reason_code=code,
            note=note.strip(),
            amount=f"{approved:.2f}",
            first_approver=None if first else locked.first_approver.username,  # type: ignore[union-attr]
        )
        if locked.state == ClaimState.APPROVED:
            rebook(locked, actor=actor, memo=f"approved by {actor.username}")
            locked.refresh_from_db()
    return locked


def claim_reject(*, actor: User, claim: Claim, reason_code: str, note: str = "") -> Claim:
    """拒绝: from any undecided state (a claim awaiting its second approval too); nothing is
    written to the ledger. A held bureau settlement (`review_above`) rejected keeps what it
    was paid before it was held, and gets no more: the rules then leave it at that."""
    if not reason_code:
        raise DomainError("reason_required", _("拒绝须选择原因代码"), field="reason_code")
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
            rebook(locked, actor=actor, memo=f"rejected by {actor.username}")
            locked.refresh_from_db()
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
        claim_event(
            claim=claim,
            actor=actor,
            from_state=ClaimState.APPROVED,
            reason_code="transfer_confirmed",
        )
        paid.append(claim.pk)
    return paid
