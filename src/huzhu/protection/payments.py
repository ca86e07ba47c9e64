"""Payment runs: ledger entries of decided claims become bank transfers to members' cards.

A run gathers every entry not yet in a live payment item, nets them per member, and makes one
item per member whose net is above zero and who holds an active card; everything else waits for a
later run. A run is made as a draft: its bank file is given out only once a city admin other
than its maker has released it (双人复核; `huzhu payments run` is the operator's own, audited,
and releases its run itself). A draft may be cancelled, which frees its entries. The bank's
answer marks each item paid or failed. A failed transfer frees its entries (their links go dead)
for the next run. A claim whose entries are all in paid items becomes paid, and the member gets
a text message after commit. A paid item is final: the database refuses to change it.

Whatever the ledger holds, a run fits its columns: a member whose net is above the bound of any
amount (99,999,999.99) is held for review, and a run stops taking members before its total
would overflow; the rest wait for the next run.

Invariants (tests/protection/test_payments_stateful.py): the money paid is the sum of the entries
of paid items; an entry is in at most one live item (a partial unique index says so too); no
claim's paid net is ever negative.
"""

from __future__ import annotations

import io
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import Role, User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import locking, sheets
from huzhu.core import tabular as tb
from huzhu.core.aggregates import MoneySum
from huzhu.core.bounds import MAX_MONEY
from huzhu.core.errors import Conflict, DomainError, Forbidden
from huzhu.core.files import atomic_write
from huzhu.core.pii import vault
from huzhu.core.sms import send_sms
from huzhu.members.models import Card, CardStatus, Member
from huzhu.protection.models import (
    ClaimState,
    LedgerEntry,
    PaymentItem,
    PaymentItemEntry,
    PaymentItemState,
    PaymentRun,
    RunState,
)
from huzhu.protection.services import claims_mark_paid

ZERO = Decimal("0.00")
# The most a run's total may reach: what its column holds (14 digits, 2 of them decimals).
MAX_RUN_TOTAL = Decimal("999999999999.99")
PAYMENT_RUN_LOCK = 784515
CENT = Decimal("0.01")
BANK_FILE_HEADER = ("card_no", "name", "amount", "reference")
CONFIRM_COLUMNS = (
    tb.Column("reference", "参考号", required=True),
    tb.Column("status", "状态"),
    tb.Column("reason", "失败原因"),
)
_PAID_WORDS = {"paid", "ok", "success", "成功", "已到账", "到账"}
_FAILED_WORDS = {"failed", "fail", "失败", "转账失败", "退回"}


def _require_payer(actor: User | None) -> None:
    """City staff, or the system (None: the `huzhu payments` commands)."""
    if actor is not None and actor.role != Role.CITY_ADMIN:
        raise Forbidden("forbidden", _("只有市总工会可以办理支付"))


@dataclass
class RunPlan:
    """What a run would pay: per member the entries and their net."""

    items: dict[int, list[tuple[int, Decimal]]] = field(default_factory=dict)  # member → entries
    held_no_card: int = 0  # members with money waiting for an active card
    held_not_positive: int = 0  # members whose net is zero or below
    held_too_large: int = 0  # members whose net is above any amount a transfer may carry
    held_next_run: int = 0  # members left for the next run, which this one's total could not hold


def _payable() -> RunPlan:
    """Gather free entries of decided claims and decide who is paid now."""
    decided = (ClaimState.APPROVED, ClaimState.PAID, ClaimState.REJECTED)
    free = LedgerEntry.objects.filter(
        claim__state__in=decided, claim__member__isnull=False
    ).exclude(pk__in=PaymentItemEntry.objects.filter(live=True).values("entry_id"))
    by_claim: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    member_of: dict[int, int] = {}
    for entry_id, claim_id, member_id, amount in free.values_list(
        "id", "claim_id", "claim__member_id", "amount"
    ).order_by("id"):
        by_claim[claim_id].append((entry_id, amount))
        member_of[claim_id] = member_id
    if not by_claim:
        return RunPlan()
    # A claim's free entries go only when they cannot make its paid net negative, whatever
    # happens to its pending transfers (a pending one may still fail).
    # SQLite sums decimals as floats: bring each sum back to fen before comparing.
    paid = {
        claim_id: Decimal(total).quantize(CENT)
        for claim_id, total in PaymentItemEntry.objects.filter(
            live=True,
            item__state=PaymentItemState.PAID,
            entry__claim_id__in=free.values("claim_id"),
        )
        .values("entry__claim_id")
        .annotate(total=MoneySum("entry__amount"))
        .values_list("entry__claim_id", "total")
    }
    per_member: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for claim_id, entries in by_claim.items():
        if (paid.get(claim_id) or ZERO) + sum((a for _e, a in entries), ZERO) >= 0:
            per_member[member_of[claim_id]].extend(entries)
    plan = RunPlan()
    carded = set(
        Card.objects.filter(member_id__in=list(per_member), status=CardStatus.ACTIVE).values_list(
            "member_id", flat=True
        )
    )
    total = ZERO
    for member_id in sorted(per_member):
        entries = per_member[member_id]
        net = sum((a for _e, a in entries), ZERO)
        if net <= 0:
            plan.held_not_positive += 1
        elif member_id not in carded:
            plan.held_no_card += 1
        elif net > MAX_MONEY:
            plan.held_too_large += 1
        elif total + net > MAX_RUN_TOTAL:
            plan.held_next_run += 1
        else:
            plan.items[member_id] = entries
            total += net
    return plan


@dataclass(frozen=True)
class RunResult:
    run: PaymentRun
    items: int
    held_no_card: int
    held_not_positive: int
    held_too_large: int = 0
    held_next_run: int = 0


def payment_run_create(*, actor: User | None) -> RunResult:
    """Make a draft run of everything payable now (`huzhu payments run` releases its own).
    Conflict `nothing_to_pay` when there is nothing."""
    _require_payer(actor)
    try:
        with transaction.atomic():
            # One run at a time; a second waits and then finds the entries taken.
            locking.advisory_lock(PAYMENT_RUN_LOCK, timeout="30s")
            plan = _payable()
            if not plan.items:
                raise Conflict(
                    "nothing_to_pay",
                    _("没有可支付的会员：需要待付金额大于零且有一张正常使用的卡"),
                    held_no_card=plan.held_no_card,
                    held_not_positive=plan.held_not_positive,
                    held_too_large=plan.held_too_large,
                )
            now = timezone.localtime()
            run = PaymentRun.objects.create(
                created_by=actor,
                reference=f"PR{now:%Y%m%d%H%M}{secrets.token_hex(3).upper()}",
            )
            cards = dict(
                Card.objects.filter(
                    member_id__in=list(plan.items), status=CardStatus.ACTIVE
                ).values_list("member_id", "card_no")
            )
            members = sorted(plan.items)
            items = PaymentItem.objects.bulk_create(
                [
                    PaymentItem(
                        run=run,
                        member_id=m,
                        card_no=cards[m],
                        amount=sum((a for _e, a in plan.items[m]), ZERO),
                        reference=f"{run.reference}-{n:06d}",
                    )
                    for n, m in enumerate(members, start=1)
                ],
                batch_size=1000,
            )
            item_of = {m: item for m, item in zip(members, items, strict=True)}
            PaymentItemEntry.objects.bulk_create(
                [
                    PaymentItemEntry(item=item_of[m], entry_id=entry_id, live=True)
                    for m in members
                    for entry_id, _a in plan.items[m]
                ],
                batch_size=2000,
            )
            run.total = sum((i.amount for i in items), ZERO)
            run.save(update_fields=["total"])
            audit_record(
                actor=actor,
                action=Action.PAYMENT_RUN_CREATE,
                obj=run,
                items=len(items),
                total=str(run.total),
                via="api" if actor is not None else "cli",
            )
    except IntegrityError as exc:  # another run took an entry first (the unique index)
        raise Conflict("run_in_progress", _("另一个支付批次正在生成，请重试")) from exc
    return RunResult(
        run=run,
        items=len(items),
        held_no_card=plan.held_no_card,
        held_not_positive=plan.held_not_positive,
        held_too_large=plan.held_too_large,
        held_next_run=plan.held_next_run,
    )


def _locked_draft(run: PaymentRun) -> PaymentRun:
    """The run locked; 409 `invalid_transition` unless it is still a draft."""
    locked = locking.locked_row(PaymentRun.objects.all(), run.pk)
    if locked.state != RunState.DRAFT:
        raise Conflict(
            "invalid_transition",
            _("支付批次 %(ref)s 当前的状态是“%(state)s”")
            % {"ref": locked.reference, "state": RunState(locked.state).label},
            state=locked.state,
        )
    return locked


def payment_run_release(*, actor: User | None, run: PaymentRun) -> PaymentRun:
    """放行: a city admin other than the run's maker releases a draft run; its bank file may
    then be given out (409 `same_approver` for the maker, `invalid_transition` unless a draft).
    `actor` None: the operator's command line, releasing the run it just made (audited)."""
    _require_payer(actor)
    with transaction.atomic():
        locked = _locked_draft(run)
        if actor is not None and locked.created_by_id == actor.pk:
            raise Conflict(
                "same_approver",
                _("支付批次须由创建人以外的另一名市总工会管理员放行"),
            )
        locked.state = RunState.RELEASED
        locked.released_by = actor
        locked.released_at = timezone.now()
        locked.save(update_fields=["state", "released_by", "released_at"])
        audit_record(
            actor=actor,
            action=Action.PAYMENT_RUN_RELEASE,
            obj=locked,
            total=str(locked.total),
            created_by=locked.created_by.username if locked.created_by else None,
            via="api" if actor is not None else "cli",
        )
    return locked


def payment_run_cancel(*, actor: User, run: PaymentRun, reason: str = "") -> PaymentRun:
    """作废: a draft run that should not go out; its entries are free for the next run."""
    _require_payer(actor)
    with transaction.atomic():
        locked = _locked_draft(run)
        locked.state = RunState.CANCELLED
        locked.save(update_fields=["state"])
        PaymentItemEntry.objects.filter(item__run=locked, live=True).update(live=False)
        locked.items.update(state=PaymentItemState.CANCELLED, settled_at=timezone.now())
        audit_record(
            actor=actor,
            action=Action.PAYMENT_RUN_CANCEL,
            obj=locked,
            total=str(locked.total),
            reason=reason.strip(),
        )
    return locked


def _require_released(run: PaymentRun) -> None:
    if run.state != RunState.RELEASED:
        raise Conflict(
            "not_released",
            _("支付批次 %(ref)s 当前的状态是“%(state)s”：须先由另一名市总工会管理员放行")
            % {"ref": run.reference, "state": RunState(run.state).label},
            state=run.state,
        )


def payment_run_csv(run: PaymentRun) -> bytes:
    """The bank transfer file: card number, name, amount, reference; UTF-8 with a BOM (Excel).
    Only of a released run (409 `not_released`). Cells through core.sheets: a member's name is
    never a formula; amounts are numbers."""
    _require_released(run)
    out = io.StringIO()
    writer = sheets.csv_writer(out, lineterminator="\n")
    writer.writerow(BANK_FILE_HEADER)
    for card_no, name, amount, reference in run.items.order_by("reference").values_list(
        "card_no", "member__name", "amount", "reference"
    ):
        writer.writerow([card_no, name, f"{amount:.2f}", reference])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def payment_run_file(*, run: PaymentRun, actor: User) -> bytes:
    """The bank file of a released run for a person to download, the download in the audit log
    (who took which run's file, with how many transfers and what total)."""
    data = payment_run_csv(run)
    audit_record(
        actor=actor,
        action=Action.PAYMENT_FILE_DOWNLOAD,
        obj=run,
        items=run.items.count(),
        total=str(run.total),
    )
    return data


def payment_run_write_file(*, out: Path, run: PaymentRun | None = None) -> PaymentRun | None:
    """Write the bank file of `run`, or else of the oldest run made by the command line whose
    file was never written (None when there is none), and mark it written.

    The run row stays locked while its file is written, so that two commands never both pick
    up the same unwritten run; the file is complete at `out` or not there at all.
    """
    with transaction.atomic():
        runs = PaymentRun.objects.select_for_update()
        if run is None:
            waiting = (
                runs.filter(
                    created_by__isnull=True, file_written_at__isnull=True, state=RunState.RELEASED
                )
                .order_by("id")
                .first()
            )
        else:
            waiting = runs.get(pk=run.pk)
        if waiting is None:
            return None
        _require_released(waiting)
        with atomic_write(out, binary=True) as fh:
            fh.write(payment_run_csv(waiting))
        waiting.file_written_at = timezone.now()
        waiting.save(update_fields=["file_written_at"])
        audit_record(
            actor=None,
            action=Action.PAYMENT_FILE_DOWNLOAD,
            obj=waiting,
            items=waiting.items.count(),
            total=str(waiting.total),
            via="cli",
            out=str(out),
        )
    return waiting


def _locked_item(item: PaymentItem) -> PaymentItem:
    locked = locking.locked_row(PaymentItem.objects.select_related("member", "run"), item.pk)
    _require_released(locked.run)
    return locked


def _notify_paid(item: PaymentItem) -> None:
    member: Member = item.member
    if not member.phone_cipher:
        return
    phone = vault().decrypt(member.phone_cipher)
    text = _(
        "【职工互助】您的互助金%(amount)s元已转入尾号%(last4)s的互助服务卡，参考号%(ref)s。"
    ) % {
        "amount": f"{item.amount:.2f}",
        "last4": item.card_no[-4:],
        "ref": item.reference,
    }
    transaction.on_commit(lambda: send_sms(phone, text))


def _settle(item: PaymentItem, state: str) -> tuple[PaymentItem, bool]:
    """Lock a pending transfer and mark it paid or failed as the bank answered; (the item,
    False) when it already is in that state (the same answer again changes nothing)."""
    locked = _locked_item(item)
    if locked.state == state:
        return locked, False
    if locked.state != PaymentItemState.PENDING:
        raise Conflict(
            "invalid_transition",
            _("转账 %(ref)s 当前的状态是“%(state)s”")
            % {"ref": locked.reference, "state": PaymentItemState(locked.state).label},
            state=locked.state,
        )
    locked.state = state
    locked.settled_at = timezone.now()
    locked.save(update_fields=["state", "settled_at"])
    return locked, True


def payment_item_confirm(*, actor: User | None, item: PaymentItem) -> PaymentItem:
    """The bank paid this transfer: the item is paid, claims fully paid become paid, the member
    is told by SMS. Confirming a paid item again changes nothing."""
    _require_payer(actor)
    with transaction.atomic():
        locked, settled_now = _settle(item, PaymentItemState.PAID)
        if not settled_now:
            return locked
        claim_ids = sorted(
            set(
                LedgerEntry.objects.filter(
                    pk__in=locked.links.filter(live=True).values("entry_id")
                ).values_list("claim_id", flat=True)
            )
        )
        paid_claims = claims_mark_paid(claim_ids=claim_ids, actor=actor)
        audit_record(
            actor=actor,
            action=Action.PAYMENT_ITEM_PAID,
            obj=locked,
            amount=str(locked.amount),
            claims_paid=paid_claims,
        )
        _notify_paid(locked)
    return locked


def payment_item_fail(*, actor: User | None, item: PaymentItem, reason: str = "") -> PaymentItem:
    """The bank returned this transfer: its entries go back to the queue for a later run."""
    _require_payer(actor)
    with transaction.atomic():
        locked, settled_now = _settle(item, PaymentItemState.FAILED)
        if not settled_now:
            return locked
        freed = locked.links.filter(live=True).update(live=False)
        audit_record(
            actor=actor,
            action=Action.PAYMENT_ITEM_FAILED,
            obj=locked,
            reason=reason.strip(),
            amount=str(locked.amount),
            entries_freed=freed,
        )
    return locked


@dataclass
class ConfirmReport:
    file: str
    rows: int = 0
    paid: int = 0
    failed: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "paid": self.paid,
            "failed": self.failed,
            "unchanged": self.unchanged,
        }


def _outcome(text: str | None) -> str | None:
    word = (text or "paid").strip().casefold()
    if word in _PAID_WORDS:
        return PaymentItemState.PAID
    if word in _FAILED_WORDS:
        return PaymentItemState.FAILED
    return None


def payment_confirm_file(*, actor: User | None, data: bytes, file: str) -> ConfirmReport:
    """The bank's answer as a CSV (`reference`, optional `status` paid/failed or 成功/失败,
    optional `reason`): all rows or none. A bad row: TableError naming row and column."""
    _require_payer(actor)
    table = tb.read_table(data, file=file, columns=CONFIRM_COLUMNS)
    rows = list(table.df.select(tb.ROW, "reference", "status", "reason").iter_rows())
    refs = [r[1] for r in rows if r[1]]
    items = {i.reference: i for i in PaymentItem.objects.filter(reference__in=refs)}
    errors: list[tb.RowError] = []
    seen: dict[str, int] = {}
    plan: list[tuple[PaymentItem, str, str]] = []
    for row, ref, status, reason in rows:
        if not ref:
            errors.append(tb.RowError(row, table.header_of("reference"), _("必填"), file))
            continue
        outcome = _outcome(status)
        if outcome is None:
            errors.append(
                tb.RowError(
                    row, table.header_of("status"), _("status 应为 paid/成功 或 failed/失败"), file
                )
            )
        if ref not in items:
            errors.append(
                tb.RowError(
                    row, table.header_of("reference"), _("没有转账 %(ref)s") % {"ref": ref}, file
                )
            )
        elif ref in seen:
            errors.append(
                tb.RowError(
                    row,
                    table.header_of("reference"),
                    _("%(ref)s 重复（首次出现在第 %(row)s 行）") % {"ref": ref, "row": seen[ref]},
                    file,
                )
            )
        elif outcome is not None:
            seen[ref] = row
            plan.append((items[ref], outcome, reason or ""))
    if errors:
        raise tb.TableError(errors)
    report = ConfirmReport(file=file, rows=len(rows))
    with transaction.atomic():
        for item, outcome, reason in plan:
            before = item.state
            try:
                if outcome == PaymentItemState.PAID:
                    after = payment_item_confirm(actor=actor, item=item).state
                else:
                    after = payment_item_fail(actor=actor, item=item, reason=reason).state
            except DomainError as exc:
                raise DomainError(
                    exc.code,
                    _("%(file)s：%(ref)s：%(message)s")
                    % {"file": file, "ref": item.reference, "message": exc.message},
                    status=exc.status,
                ) from None
            if before == after:
                report.unchanged += 1
            elif after == PaymentItemState.PAID:
                report.paid += 1
            else:
                report.failed += 1
    return report
