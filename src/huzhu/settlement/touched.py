"""What the settlement import reads of the members a file touches (`read_touched`, on a
connection of its own, beside the writes): their settlements, enrolments (with their payment
dates, for coverage start), the claims of those settlements and their claims filed by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from huzhu.core import tabular as tb
from huzhu.core.bulk import (
    query_frame,
    temp_keys,
)
from huzhu.protection.models import (
    Claim,
    ClaimSource,
    ClaimState,
    Enrollment,
    LedgerEntry,
)
from huzhu.settlement.models import Settlement


def is_reversal() -> pl.Expr:
    return pl.col("reverses").is_not_null()


# A stay's figures, as the rules read them: on a settlement and on a claim filed by hand alike.
STAY_COLUMNS: dict[str, Any] = {
    "admitted_on": pl.Date,
    "discharged_on": pl.Date,
    "settled_on": pl.Date,
    "in_fen": "fen",
    "out_fen": "fen",
    "diagnosis_code": pl.String,
    "is_accident": pl.Boolean,
}
SETTLEMENT_FRAME: dict[str, Any] = {
    "spk": pl.Int64,
    "sid": pl.String,
    "member_id": pl.Int64,
    **STAY_COLUMNS,
    "reversed": pl.Boolean,
}
EXISTING_FRAME: dict[str, Any] = {
    "claim_id": pl.Int64,
    "spk": pl.Int64,
    "version_id": pl.Int64,
    "old_base": "fen",
    "old_target": "fen",
    "old_reason": pl.String,
    "net": "fen",
    "old_state": pl.String,
    "limit_fen": "fen",
    "old_held": "fen",
}
ENROLMENT_FRAME: dict[str, Any] = {
    "member_id": pl.Int64,
    "version_id": pl.Int64,
    "unit_id": pl.Int64,
    "paid_on": pl.Date,
}
# Claims filed by hand of the touched members, not (yet) taken over by a bureau settlement.
HAND_FRAME: dict[str, Any] = {
    "claim_id": pl.Int64,
    "member_id": pl.Int64,
    "version_id": pl.Int64,
    "plan_code": pl.String,
    "old_state": pl.String,
    "stay_ref": pl.String,
    **STAY_COLUMNS,
    "limit_fen": "fen",
    "old_base": "fen",
    "old_target": "fen",
    "old_reason": pl.String,
    "net": "fen",
    "old_held": "fen",
}


@dataclass(frozen=True)
class Touched:
    """What is stored of the members an import touches: their settlements (reversal rows left
    out; the file's own unmatched reversal targets too), enrolments, the claims of those
    settlements with each claim's net, and their claims filed by hand that no settlement has
    taken over."""

    settlements: pl.DataFrame
    enrollments: pl.DataFrame
    claims: pl.DataFrame
    hand: pl.DataFrame

    def reversing(self, sids: pl.Series) -> Touched:
        """As read after the settlements `sids` are marked reversed."""
        return Touched(
            self.settlements.with_columns(pl.col("reversed") | pl.col("sid").is_in(sids.implode())),
            self.enrollments,
            self.claims,
            self.hand,
        )


def as_settlement_frame(fresh: pl.DataFrame, *, reversed_now: pl.Series) -> pl.DataFrame:
    """This file's new rows (reversal rows left out) as `read_touched` would read them back
    from the database, so that they need not be."""
    return fresh.filter(~is_reversal()).select(
        "spk",
        pl.col("settlement_id").alias("sid"),
        "member_id",
        tb.as_date("admitted_on"),
        tb.as_date("discharged_on"),
        tb.as_date("settled_on"),
        pl.col("in_scope_self_pay_fen").cast(pl.Int64).alias("in_fen"),
        pl.col("out_of_scope_self_pay_fen").fill_null(0).cast(pl.Int64).alias("out_fen"),
        pl.col("diagnosis_code").fill_null(""),
        pl.col("is_accident_b").alias("is_accident"),
        pl.col("settlement_id").is_in(reversed_now.implode()).alias("reversed"),
    )


def read_touched(member_ids: pl.Series, unmatched_sids: pl.Series, *, conn: Any) -> Touched:
    """The stored settlements of these members and the given unmatched stored settlements, the
    members' enrolments, and the claims of those settlements (a `Background` job)."""
    s = Settlement._meta.db_table
    cols = (
        "s.id, s.settlement_id, s.member_id, s.admitted_on, s.discharged_on, s.settled_on, "
        "s.in_scope_self_pay, COALESCE(s.out_of_scope_self_pay, 0), s.diagnosis_code, "
        "s.is_accident, CASE WHEN s.reversed_by <> '' THEN 1 ELSE 0 END"
    )
    temp_keys("_members", member_ids, indexed=False, conn=conn)
    frames = [
        query_frame(
            f'SELECT {cols} FROM "{s}" s JOIN "_members" k ON k.k = s.member_id '
            f"WHERE s.reverses = ''",
            [],
            SETTLEMENT_FRAME,
            conn=conn,
        )
    ]
    if unmatched_sids.len():
        temp_keys("_unmatched", unmatched_sids, sql_type="TEXT", indexed=False, conn=conn)
        frames.append(
            query_frame(
                f'SELECT {cols} FROM "{s}" s JOIN "_unmatched" k ON k.k = s.settlement_id '
                f"WHERE s.member_id IS NULL AND s.reverses = ''",
                [],
                SETTLEMENT_FRAME,
                conn=conn,
            )
        )
    settlements = pl.concat(frames)
    enrollments = query_frame(
        f"SELECT e.member_id, e.version_id, e.unit_id, e.paid_on "
        f'FROM "{Enrollment._meta.db_table}" e JOIN "_members" k ON k.k = e.member_id',
        [],
        ENROLMENT_FRAME,
        conn=conn,
    )
    # Claims can exist only for settlements stored before this file.
    claims, entries = Claim._meta.db_table, LedgerEntry._meta.db_table
    temp_keys("_spks", settlements["spk"], indexed=False, conn=conn)
    existing = query_frame(
        f"SELECT c.id, c.settlement_id, c.version_id, c.base_amount, c.target, c.reason, "
        f"COALESCE(n.net, 0), c.state, c.payout_limit, c.held_amount "
        f'FROM "{claims}" c JOIN "_spks" k ON k.k = c.settlement_id '
        f'LEFT JOIN (SELECT e.claim_id, SUM(e.amount) AS net FROM "{entries}" e '
        f'JOIN "{claims}" c2 ON c2.id = e.claim_id JOIN "_spks" k2 ON k2.k = c2.settlement_id '
        f"GROUP BY e.claim_id) n ON n.claim_id = c.id",
        [],
        EXISTING_FRAME,
        conn=conn,
    )
    # The few claims filed by hand (partial index protection_claim_by_hand), with their nets.
    hand = query_frame(
        f"SELECT c.id, c.member_id, c.version_id, c.plan_code, c.state, c.stay_ref, "
        f"c.admitted_on, c.discharged_on, COALESCE(c.settled_on, c.discharged_on), "
        f"COALESCE(c.in_scope_self_pay, 0), COALESCE(c.out_of_scope_self_pay, 0), "
        f"c.diagnosis_code, c.is_accident, c.payout_limit, c.base_amount, c.target, c.reason, "
        f'COALESCE((SELECT SUM(e.amount) FROM "{entries}" e WHERE e.claim_id = c.id), 0), '
        f"c.held_amount "
        f'FROM "{claims}" c JOIN "_members" k ON k.k = c.member_id '
        f"WHERE c.source = '{ClaimSource.APPLICATION.value}' AND c.settlement_id IS NULL "
        f"AND c.state <> '{ClaimState.REJECTED.value}' AND c.admitted_on IS NOT NULL "
        f"AND c.version_id IS NOT NULL",
        [],
        HAND_FRAME,
        conn=conn,
    )
    # An empty text comes back from PostgreSQL's COPY as null: the same as "" here.
    hand = hand.with_columns(
        pl.col("stay_ref", "diagnosis_code", "old_reason", "old_state").fill_null("")
    )
    return Touched(settlements, enrollments, existing, hand)
