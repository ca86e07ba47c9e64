"""Corrections by staff (调整/追回): within what was paid and what the rules assess, two people
above the threshold."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.errors import Conflict, DomainError, NotFound
from huzhu.core.locking import locked_row
from huzhu.protection import ledger, stays
from huzhu.protection.models import (
    Claim,
    ClaimCorrection,
    ClaimState,
    CorrectionState,
    EntryKind,
)
from huzhu.protection.services import (
    CORRECT_ROLES,
    claim_event,
    money,
    reason_for,
    rebook,
    refusal,
    require_role,
    require_scope,
    second_approval_above,
)

# -- corrections by staff -------------------------------------------------------------------------


CORRECTABLE = (ClaimState.APPROVED, ClaimState.PAID)


def _correct_payouts() -> str:
    return _("更正给付金额")


def _correction_checked(claim: Claim, *, kind: str, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(net now, net after) of a correction that keeps the claim inside the rules: never below
    nothing, never above what the rules assess for its stay."""
    net = ledger.claim_nets([claim.pk])[claim.pk]
    after = net + amount if kind == EntryKind.ADJUSTMENT else net - amount
    if after < 0:
        raise Conflict(
            "exceeds_paid",
            _("追回 %(amount)s 元超过了此项理赔已入账的 %(net)s 元")
            % {"amount": amount, "net": net},
            field="amount",
            net=f"{net:.2f}",
        )
    assessment = stays.claim_assessment(claim)
    if after > assessment.assessed:
        raise Conflict(
            "exceeds_assessed",
            _("更正后此项理赔将得到 %(after)s 元，超过按规则对此次住院核定的 %(assessed)s 元")
            % {"after": after, "assessed": assessment.assessed},
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
    require_role(actor, CORRECT_ROLES, _correct_payouts())
    if kind not in (EntryKind.ADJUSTMENT, EntryKind.CLAWBACK):
        raise DomainError("invalid_kind", _("kind：只能是 adjustment 或 clawback"), field="kind")
    value = money(amount, "amount")
    code = reason_for("correct", reason_code)
    if not note.strip():
        raise DomainError("note_required", _("note：请说明给付为什么要更正"), field="note")
    with transaction.atomic():
        if claim.member_id is not None:
            ledger.ledger_lock(claim.member_id)
        locked = locked_row(Claim.objects.select_related("member__unit", "version__plan"), claim.pk)
        if locked.member is None or locked.version_id is None:
            raise NotFound(pgettext("未找到", "理赔"))
        require_scope(actor, locked.member)
        if locked.state not in CORRECTABLE:
            raise refusal(locked, "correct")
        pending = locked.corrections.filter(state=CorrectionState.PENDING).first()
        if pending is not None:
            if pending.requested_by_id == actor.pk:
                raise Conflict("same_approver", _("复核须由另一个人签署"))
            if pending.kind != kind or pending.amount != value:
                raise Conflict(
                    "amount_mismatch",
                    _("待复核的更正是%(kind)s %(amount)s 元")
                    % {"kind": EntryKind(pending.kind).label, "amount": pending.amount},
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
    booked = rebook(claim, actor=actor, memo=f"{correction.kind} {correction.reason_code}")
    entry = next((b.entry for b in booked if b.claim.pk == claim.pk), None)
    correction.state = CorrectionState.BOOKED
    correction.signed_by = signer
    correction.decided_at = timezone.now()
    correction.entry = entry
    correction.save()
    claim.refresh_from_db()
    claim_event(
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
    require_role(actor, CORRECT_ROLES, _correct_payouts())
    with transaction.atomic():
        locked = locked_row(
            ClaimCorrection.objects.select_related("claim__member__unit"), correction.pk
        )
        if locked.claim.member is None:
            raise NotFound(pgettext("未找到", "更正"))
        require_scope(actor, locked.claim.member)
        if locked.state != CorrectionState.PENDING:
            raise Conflict(
                "invalid_transition",
                _("更正当前的状态是“%(state)s”") % {"state": CorrectionState(locked.state).label},
                state=locked.state,
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
