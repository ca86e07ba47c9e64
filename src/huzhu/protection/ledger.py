"""The ledger (账目): the only writer of `LedgerEntry` rows.

Money moves on a claim only as ledger entries, and only through this module: one entry at a
time (`ledger_book`, for a claim decided or corrected by staff), or a Polars frame of them (the
settlement import's `ledger_book_frame`). Either way the same three things happen, in the
caller's transaction:

- the entries are written, each of the kind `EntryKind.of(net before, delta)`: the first money on
  a claim is a payout, a later increase an adjustment, a decrease a clawback;
- the tables derived from the ledger take them in: the payout summaries and claim balances of
  `huzhu.reports`, which registers them here (`keep_in_step`, from its AppConfig.ready; the
  reports build on this app, not the other way round), so that statistics equal a recount of
  the ledger at every commit;
- the plan versions paid under are frozen (PRODUCT.md §2: a version never changes after its
  first payout).

The database refuses UPDATE, DELETE and TRUNCATE of ledger entries; a correction is a new entry.
Reports and exports only read the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import polars as pl
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.core import locking as locks
from huzhu.core.bulk import fen_text, frame_csv, insert_frame
from huzhu.core.locking import advisory_lock
from huzhu.protection import rules, stays
from huzhu.protection.models import Claim, EntryKind, LedgerEntry, PlanVersion


class DerivedTable(Protocol):
    """Folds just-written entries into a table derived from the ledger, in the same
    transaction: `rows` are (claim_id, amount, created_at) or a frame of them (`fen` for
    `amount`); `keys` and `new_claims` are lookups the caller already made."""

    def __call__(
        self,
        rows: Iterable[tuple[int, Decimal, datetime]] | pl.DataFrame,
        *,
        keys: pl.DataFrame | None = None,
        new_claims: pl.Series | None = None,
    ) -> int: ...


_DERIVED: list[DerivedTable] = []


def keep_in_step(table: DerivedTable) -> None:
    """Have `table` take in every entry booked from now on (once per table)."""
    if table not in _DERIVED:
        _DERIVED.append(table)


def _derived_take_in(
    rows: Iterable[tuple[int, Decimal, datetime]] | pl.DataFrame,
    *,
    keys: pl.DataFrame | None = None,
    new_claims: pl.Series | None = None,
) -> None:
    if not _DERIVED:
        # Never book silently past the statistics: they would differ from the ledger.
        raise RuntimeError("no table derived from the ledger is registered (huzhu.reports)")
    for table in _DERIVED:
        table(rows, keys=keys, new_claims=new_claims)


CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Columns of a frame of entries to book: the claim, its member, version and plan, the change in
# fen and the claim's net in fen before it.
MOVES_SCHEMA = {
    "claim_id": pl.Int64,
    "member_id": pl.Int64,
    "plan_code": pl.String,
    "version_id": pl.Int64,
    "delta": pl.Int64,
    "net": pl.Int64,
}


def kind_expr(*, net: pl.Expr, delta: pl.Expr) -> pl.Expr:
    """`EntryKind.of` as a Polars expression (net and delta in fen)."""
    return (
        pl.when(delta < 0)
        .then(pl.lit(EntryKind.CLAWBACK.value))
        .when(net == 0)
        .then(pl.lit(EntryKind.PAYOUT.value))
        .otherwise(pl.lit(EntryKind.ADJUSTMENT.value))
    )


def _freeze(version_ids: list[int]) -> None:
    """The versions paid under are frozen from their first entry on."""
    if version_ids:
        PlanVersion.objects.filter(pk__in=version_ids, frozen_at__isnull=True).update(
            frozen_at=timezone.now()
        )


def claim_nets(claim_ids: list[int]) -> dict[int, Decimal]:
    """The net of each claim's entries, exactly (SQLite would sum decimals as floats)."""
    nets: dict[int, Decimal] = dict.fromkeys(claim_ids, ZERO)
    for claim_id, amount in LedgerEntry.objects.filter(claim_id__in=claim_ids).values_list(
        "claim_id", "amount"
    ):
        nets[claim_id] += amount
    return nets


def ledger_book(
    *, claim: Claim, delta: Decimal, memo: str = "", net_before: Decimal | None = None
) -> LedgerEntry:
    """Book `delta` yuan (positive: money to the member; negative: back from the member) on a
    claim that has a member. The caller holds the member's ledger lock
    (`protection.stays.ledger_lock`) and checked the amount against the rules."""
    if claim.member_id is None:
        raise ValueError(f"claim {claim.pk} has no member to pay")
    if delta == 0 or delta != delta.quantize(CENT):
        raise ValueError(f"a ledger entry is a non-zero amount in fen, not {delta}")
    if net_before is None:
        net_before = claim_nets([claim.pk])[claim.pk]
    entry = LedgerEntry.objects.create(
        claim=claim,
        member_id=claim.member_id,
        kind=EntryKind.of(net_before=net_before, delta=delta),
        amount=delta,
        memo=memo[:200],
    )
    _derived_take_in([(entry.claim_id, entry.amount, entry.created_at)])
    if claim.version_id is not None:
        _freeze([claim.version_id])
    return entry


@dataclass(frozen=True)
class FrameWriter:
    """How `ledger_book_frame` writes the entry rows: at once (`write`), or handed to a
    background job by the settlement import (core.bulk.Background) with `wait` called before
    the summaries, which must see every row of this transaction."""

    write: Callable[[str, pl.DataFrame], Any]
    wait: Callable[[], None] = lambda: None


def _write_now(table: str, rows: pl.DataFrame) -> None:
    insert_frame(table, rows, csv=frame_csv(rows))


def ledger_book_frame(
    moves: pl.DataFrame,
    *,
    batch: str,
    now: datetime | None = None,
    writer: FrameWriter | None = None,
    keys: pl.DataFrame | Callable[[], pl.DataFrame] | None = None,
    new_claims: pl.Series | None = None,
) -> int:
    """Book a frame of entries (`MOVES_SCHEMA`; rows with delta 0 are skipped) in one bulk
    statement, then the summaries and the versions. `keys` and `new_claims` let the summaries
    skip lookups the caller already made (see DerivedTable); `keys` may
    be a function, called once the rows are on their way.
    Returns the number of entries written."""
    moves = moves.filter(pl.col("delta") != 0)
    stamp = now or timezone.now()
    adapted = connection.ops.adapt_datetimefield_value(stamp)
    rows = moves.select(
        "claim_id",
        "member_id",
        kind_expr(net=pl.col("net"), delta=pl.col("delta")).alias("kind"),
        fen_text(pl.col("delta")).alias("amount"),
        pl.lit(adapted).alias("created_at"),
        pl.lit(batch).alias("batch"),
        pl.lit("").alias("memo"),
    )
    out = writer or FrameWriter(_write_now)
    if rows.height:
        out.write(LedgerEntry._meta.db_table, rows)
    known = keys() if callable(keys) else keys
    out.wait()
    if rows.height == 0:
        return 0
    _derived_take_in(
        moves.select("claim_id", pl.col("delta").alias("fen"), pl.lit(adapted).alias("created_at")),
        keys=known,
        new_claims=new_claims,
    )
    _freeze(moves["version_id"].drop_nulls().unique().to_list())
    return rows.height


# -- one member's period, booked by hand-channel decisions ---------------------------------------


def ledger_lock(member_id: int) -> None:
    """Hold the member's ledger for this transaction: a settlement import (which takes the same
    lock exclusively) and other decisions on the member's claims wait or answer Busy."""
    advisory_lock(
        locks.SETTLEMENT_IMPORT,
        shared=True,
        message=_("正在导入结算文件，请稍后再试"),
    )
    advisory_lock(locks.MEMBER_LEDGER, member_id)


@dataclass(frozen=True)
class Rebooked:
    claim: Claim
    entry: LedgerEntry


def lump_sum_book(*, claim: Claim, memo: str) -> list[Rebooked]:
    """Book a lump sum (a disability claim, 伤残) at what it was approved or corrected to (its
    limit, checked against the rules by the caller), under `ledger_lock`."""
    target = claim.payout_limit or ZERO
    net = claim_nets([claim.pk])[claim.pk]
    if claim.target != target:
        claim.target = target
        claim.save(update_fields=["target", "updated_at"])
    if target == net:
        return []
    return [
        Rebooked(claim, ledger_book(claim=claim, delta=target - net, memo=memo, net_before=net))
    ]


def member_rebook(
    *, member_id: int, version_id: int, memo: str, changed_by: Callable[[Claim, Decimal], None]
) -> list[Rebooked]:
    """Book what the rules now give each stay of the member in a version: every claim's target,
    base and reason are brought up to date, and each difference from its net becomes an entry.

    Called after a decision changed the member's stays (an approval, a correction), under
    `ledger_lock`. `changed_by(claim, delta)` is told of each claim whose money changed (the
    caller writes its events). A bureau stay that falls in the version but has no claim yet
    (an enrolment made after its import) is left to the next import that touches the member.
    """
    found = stays.member_stays(member_id)
    wanted: dict[int, rules.StayRow] = {}
    for row in found.rows():
        claim_id = found.claim_of.get((row.key, row.version))
        if claim_id is None:
            continue
        if row.version == version_id or row.version is None:
            wanted[claim_id] = row
    claims = {
        c.pk: c
        for c in Claim.objects.filter(pk__in=list(wanted), version_id=version_id).select_related(
            "member__unit"
        )
    }
    nets = claim_nets(list(claims))
    review = next((e.terms.review_above for e in found.enrolments if e.version == version_id), None)
    out: list[Rebooked] = []
    for claim_id in sorted(claims):
        claim, row = claims[claim_id], wanted[claim_id]
        target = row.payable if row.version == version_id else ZERO
        reason = row.reason.value if row.reason else ("NOT_ENROLLED" if target == 0 else "")
        held = held_back(claim, target=target, net=nets[claim_id], review_above=review)
        if held is not None:
            target, reason = nets[claim_id], HELD_FOR_REVIEW
        delta = target - nets[claim_id]
        fields: dict[str, object] = {
            "base_amount": row.base_amount,
            "target": target,
            "reason": reason,
            "held_amount": held,
        }
        fields["state"] = _state_after(claim, target=target, delta=delta, held=held is not None)
        changed = [k for k, v in fields.items() if getattr(claim, k) != v]
        for k, v in fields.items():
            setattr(claim, k, v)
        if changed:
            claim.save(update_fields=[*changed, "updated_at"])
        if delta != 0:
            entry = ledger_book(claim=claim, delta=delta, memo=memo, net_before=nets[claim_id])
            out.append(Rebooked(claim, entry))
            changed_by(claim, delta)
    return out


HELD_FOR_REVIEW = "HELD_FOR_REVIEW"


def held_back(
    claim: Claim, *, target: Decimal, net: Decimal, review_above: Decimal | None
) -> Decimal | None:
    """INTERFACES `review_above`: what the rules give a bureau settlement's claim when it waits
    for a reviewer — its payable above the version's threshold, more than the claim holds, and
    no reviewer has released it (set its limit) — else None. The settlement import applies the
    same rule to whole files (settlement.booking._hold)."""
    if review_above is None or claim.settlement_id is None or claim.payout_limit is not None:
        return None
    return target if target > review_above and target > net else None


def _state_after(claim: Claim, *, target: Decimal, delta: Decimal, held: bool = False) -> str:
    """A claim's state once its money is booked: the bureau's claims (and the hand claims the
    bureau's data took over) are approved when they pay and rejected when they don't; a claim
    filed by hand keeps the reviewer's decision. Either way, new money makes a paid claim
    approved again until that money is paid too."""
    from huzhu.protection.models import ClaimState

    if held:
        waiting = claim.state == ClaimState.AWAITING_SECOND_APPROVAL
        return ClaimState.AWAITING_SECOND_APPROVAL if waiting else ClaimState.HELD
    if claim.settlement_id is not None:
        if target <= 0:
            return ClaimState.REJECTED
        keep_paid = claim.state == ClaimState.PAID and delta == 0
        return ClaimState.PAID if keep_paid else ClaimState.APPROVED
    if delta != 0 and claim.state == ClaimState.PAID:
        return ClaimState.APPROVED
    return claim.state
