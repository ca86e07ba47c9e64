"""The settlement import's last stage: adjudicate the touched members and book the differences.

`read_touched` reads (on a connection of its own, beside the writes) what is stored of the
members a file touches: their settlements, enrolments (with their payment dates, for coverage
start), the claims of those settlements, and their claims filed by hand. `adjudicate_and_book`
then runs the vectorised rules (`settlement.engine`, proven equal to `protection.rules`) over
every stay of those members and books what changed:

- a new settlement of a stay that was filed by hand (the claim's `stay_ref` is its id, or,
  without one, the same member, admission and discharge) takes the claim over: the claim is
  linked to it, the bureau's figures stand, and what the claim already booked counts as paid
  for the stay, so only the difference is booked. Should the settlement not fall in the claim's
  version, the claim is a duplicate of it and is closed (`DUPLICATE_STAY`), its money clawed back;
- claims filed by hand and approved take part as stays of their own version, held to the
  approved amount, so that the two channels share one deductible and one cap;
- claims are created or updated, and every difference between what the rules give a claim and
  its net is one entry, booked by `protection.ledger` (the only writer of the ledger).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
from django.db import connection
from django.utils import timezone

from huzhu.accounts.models import User
from huzhu.core.bulk import (
    Background,
    fen_text,
    frame_csv,
    insert_frame,
    update_frame,
)
from huzhu.protection.ledger import FrameWriter, ledger_book_frame
from huzhu.protection.models import (
    Claim,
    ClaimEvent,
    ClaimSource,
    ClaimState,
)
from huzhu.protection.reasons import DUPLICATE_STAY
from huzhu.settlement.engine import VersionSpec, adjudicate, fen
from huzhu.settlement.touched import Touched

CENT = Decimal("0.01")
APPROVED, PAID, REJECTED, HELD, AWAITING = (
    ClaimState.APPROVED.value,
    ClaimState.PAID.value,
    ClaimState.REJECTED.value,
    ClaimState.HELD.value,
    ClaimState.AWAITING_SECOND_APPROVAL.value,
)
HELD_FOR_REVIEW = "HELD_FOR_REVIEW"
Stage = Callable[[str], None]


@dataclass(frozen=True)
class Booked:
    """What `adjudicate_and_book` did: entries written, rows adjudicated (by reason), claims
    filed by hand that a settlement took over, and duplicates closed."""

    entries: int
    moves: pl.DataFrame
    rows: pl.DataFrame
    taken_over: int
    duplicates: int


def _hand_matches(hand: pl.DataFrame, in_hand: pl.DataFrame) -> pl.DataFrame:
    """Claims filed by hand (claim_id) whose stay is a new, live settlement of this file (spk):
    by the claim's settlement id, or, for a claim without one, by member, admission and
    discharge; a claim that matches several takes the first by (settled_on, settlement_id)."""
    empty = pl.DataFrame(schema={"claim_id": pl.Int64, "spk": pl.Int64})
    if hand.height == 0 or in_hand.height == 0:
        return empty
    live = in_hand.filter(~pl.col("reversed") & pl.col("member_id").is_not_null()).select(
        "spk",
        "member_id",
        "admitted_on",
        "discharged_on",
        pl.col("sid").alias("s_sid"),
        pl.col("settled_on").alias("s_settled"),
    )
    keys = hand.select("claim_id", "member_id", "stay_ref", "admitted_on", "discharged_on")
    by_ref = keys.filter(pl.col("stay_ref") != "").join(
        live.drop("admitted_on", "discharged_on").with_columns(pl.col("s_sid").alias("stay_ref")),
        on=["member_id", "stay_ref"],
        how="inner",
    )
    by_dates = keys.filter(pl.col("stay_ref") == "").join(
        live, on=["member_id", "admitted_on", "discharged_on"], how="inner"
    )
    both = pl.concat(
        [f.select("claim_id", "spk", "s_settled", "s_sid") for f in (by_ref, by_dates)]
    )
    if both.height == 0:
        return empty
    return (
        both.sort("claim_id", "s_settled", "s_sid")
        .unique("claim_id", keep="first", maintain_order=True)
        .select("claim_id", "spk")
    )


def _hand_stays(hand: pl.DataFrame, matched: pl.DataFrame) -> pl.DataFrame:
    """Approved claims filed by hand that no settlement of this file takes over, as stays of
    their own version (row key minus the claim id; ordering key the claim's settlement id, or
    C<claim id>)."""
    return hand.filter(
        pl.col("old_state").is_in([APPROVED, PAID])
        & ~pl.col("claim_id").is_in(matched["claim_id"].implode())
    ).select(
        (-pl.col("claim_id")).alias("spk"),
        pl.when(pl.col("stay_ref") != "")
        .then(pl.col("stay_ref"))
        .otherwise(pl.format("C{}", pl.col("claim_id")))
        .alias("sid"),
        "member_id",
        "admitted_on",
        "discharged_on",
        "settled_on",
        "in_fen",
        "out_fen",
        pl.col("diagnosis_code").fill_null(""),
        "is_accident",
        pl.lit(False).alias("reversed"),
        pl.col("version_id").alias("only_version"),
    )


KNOWN_COLUMNS = [
    "claim_id",
    "spk",
    "version_id",
    "old_base",
    "old_target",
    "old_reason",
    "net",
    "old_state",
    "limit_fen",
    "old_held",
    "kind",
]


def _known_claims(
    stored: Touched, matched: pl.DataFrame, stays: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every claim a row of the rules may belong to, keyed by (spk, version): the settlements'
    own (kind `bureau`), those filed by hand that a new settlement may take over (`taken`,
    their limit cleared: the bureau's figures stand), and those that are stays (`hand`).
    Also the claims taken over or duplicated, with their version."""
    old = ["old_base", "old_target", "old_reason", "net", "old_state", "limit_fen", "old_held"]
    bureau = stored.claims.with_columns(pl.lit("bureau").alias("kind")).select(KNOWN_COLUMNS)
    matched_claims = matched.join(stored.hand, on="claim_id", how="inner")
    taken = matched_claims.select(
        "claim_id",
        "spk",
        "version_id",
        *[pl.lit(None, pl.Int64).alias(c) if c == "limit_fen" else pl.col(c) for c in old],
        pl.lit("taken").alias("kind"),
    )
    hand = stored.hand.join(
        stays.select((-pl.col("spk")).alias("claim_id")), on="claim_id", how="semi"
    ).select(
        "claim_id",
        (-pl.col("claim_id")).alias("spk"),
        "version_id",
        *old,
        pl.lit("hand").alias("kind"),
    )
    known = pl.concat([bureau, taken.cast(bureau.schema), hand.cast(bureau.schema)])
    return known, matched_claims


def _limits(known: pl.DataFrame) -> pl.DataFrame:
    return known.filter(pl.col("limit_fen").is_not_null()).select("spk", "version_id", "limit_fen")


def _place_hand_rows(result: pl.DataFrame, stored: Touched) -> pl.DataFrame:
    """A stay filed by hand that its version does not cover is still that claim's row (paid
    nothing, `NOT_ENROLLED`), under its version."""
    if stored.hand.height == 0:
        return result
    own = stored.hand.select(
        (-pl.col("claim_id")).alias("spk"),
        pl.col("version_id").alias("own_version"),
        pl.col("plan_code").alias("own_plan"),
    )
    placed = result.join(own, on="spk", how="left")
    lost = pl.col("version_id").is_null() & pl.col("own_version").is_not_null()
    return placed.with_columns(
        pl.when(lost)
        .then(pl.col("own_version"))
        .otherwise(pl.col("version_id"))
        .alias("version_id"),
        pl.when(lost).then(pl.col("own_plan")).otherwise(pl.col("plan_code")).alias("plan_code"),
    ).drop("own_version", "own_plan")


def _taken_or_duplicate(
    matched_claims: pl.DataFrame, result: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Of the claims a new settlement matched: those it takes over (it falls in their version;
    one claim per settlement and version, the oldest), and the duplicates (the rest)."""
    rows = result.select("spk", "version_id").unique()
    taken = (
        matched_claims.join(rows, on=["spk", "version_id"], how="semi")
        .sort("claim_id")
        .unique(["spk", "version_id"], keep="first", maintain_order=True)
    )
    duplicates = matched_claims.join(taken.select("claim_id"), on="claim_id", how="anti")
    return taken, duplicates


def _state() -> pl.Expr:
    """A claim's state once booked (as `protection.ledger._state_after`): the bureau's claims
    are approved when they pay (paid when nothing new is booked) and rejected when they don't;
    a claim filed by hand keeps the reviewer's decision, new money making it approved again."""
    delta = pl.col("target_fen") - pl.col("net")
    old = pl.col("old_state")
    return (
        pl.when(pl.col("held_fen").is_not_null())
        .then(pl.when(old == AWAITING).then(old).otherwise(pl.lit(HELD)))
        .when(pl.col("kind") == "hand")
        .then(pl.when((delta != 0) & (old == PAID)).then(pl.lit(APPROVED)).otherwise(old))
        .when(pl.col("target_fen") > 0)
        .then(pl.when((old == PAID) & (delta == 0)).then(pl.lit(PAID)).otherwise(pl.lit(APPROVED)))
        .otherwise(pl.lit(REJECTED))
    )


def _rows_with_claims(
    result: pl.DataFrame,
    stays: pl.DataFrame,
    known: pl.DataFrame,
    taken: pl.DataFrame,
    duplicates: pl.DataFrame,
) -> pl.DataFrame:
    """Every row of the rules with its claim (claim_id null: a claim to create), its state,
    and one row more for each duplicate, which is paid nothing."""
    vkey = pl.col("version_id").fill_null(-1).alias("vkey")
    usable = known.filter(
        (pl.col("kind") != "taken") | pl.col("claim_id").is_in(taken["claim_id"].implode())
    )
    df = (
        result.join(stays.select("spk", "member_id"), on="spk", how="left")
        .with_columns(vkey)
        .join(usable.with_columns(vkey).drop("version_id"), on=["spk", "vkey"], how="left")
        .with_columns(
            pl.col("reason").fill_null(""),
            pl.col("net").fill_null(0),
            pl.col("kind").fill_null("bureau"),
        )
    )
    if duplicates.height:
        df = pl.concat(
            [
                df,
                duplicates.select(
                    "spk",
                    "version_id",
                    "plan_code",
                    pl.col("old_base").alias("base_fen"),
                    pl.lit(0, pl.Int64).alias("assessed_fen"),
                    pl.lit(0, pl.Int64).alias("target_fen"),
                    pl.lit(DUPLICATE_STAY).alias("reason"),
                    "member_id",
                    pl.col("version_id").fill_null(-1).alias("vkey"),
                    "claim_id",
                    "old_base",
                    "old_target",
                    "old_reason",
                    "net",
                    "old_state",
                    pl.lit(None, pl.Int64).alias("limit_fen"),
                    "old_held",
                    pl.lit("duplicate").alias("kind"),
                ),
            ],
            how="vertical_relaxed",
        )
    return df


def _hold(df: pl.DataFrame, review: dict[int, int]) -> pl.DataFrame:
    """INTERFACES `review_above`: a bureau settlement whose payable under a version is above
    the version's threshold waits for a reviewer (state `held`, reason `HELD_FOR_REVIEW`):
    nothing more than its claim already holds is booked, and `held_fen` keeps what the rules
    give it. A claim a reviewer released (its limit set) pays as the rules say."""
    if not review:
        return df.with_columns(pl.lit(None, pl.Int64).alias("held_fen"))
    threshold = pl.col("version_id").replace_strict(review, default=None, return_dtype=pl.Int64)
    held = (
        threshold.is_not_null()
        & (pl.col("target_fen") > threshold)
        & pl.col("limit_fen").is_null()
        & (pl.col("target_fen") > pl.col("net"))
        & pl.col("kind").is_in(["bureau", "taken"])
    )
    return df.with_columns(
        pl.when(held).then(pl.col("target_fen")).otherwise(None).alias("held_fen"),
        pl.when(held).then(pl.col("net")).otherwise(pl.col("target_fen")).alias("target_fen"),
        pl.when(held).then(pl.lit(HELD_FOR_REVIEW)).otherwise(pl.col("reason")).alias("reason"),
    )


def _with_state(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.when(pl.col("kind") == "duplicate")
        .then(pl.lit(REJECTED))
        .otherwise(_state())
        .alias("state")
    )


def _write_claims(
    df: pl.DataFrame,
    *,
    bg: Background,
    now: Any,
    taken: pl.DataFrame,
    first_id: Callable[[int], int],
) -> pl.DataFrame:
    """New claims written (COPY), changed ones updated, claims taken over linked to their
    settlement; returns the new ones with their ids (`new_id`)."""
    claims = Claim._meta.db_table
    new = df.filter(pl.col("claim_id").is_null())
    new = (
        # In member order, as the settlements are numbered: all three indexes fill in order.
        new.sort("member_id", "spk", "version_id", nulls_last=True)
        .with_row_index("new_id", offset=first_id(new.height))
        .with_columns(pl.col("new_id").cast(pl.Int64))
    )
    claim_rows = new.select(
        pl.col("new_id").alias("id"),
        pl.lit(ClaimSource.SETTLEMENT.value).alias("source"),
        "state",
        "member_id",
        "version_id",
        "plan_code",
        pl.col("spk").alias("settlement_id"),
        fen_text(pl.col("base_fen")).alias("base_amount"),
        fen_text(pl.col("target_fen")).alias("target"),
        "reason",
        fen_text(pl.col("held_fen")).alias("held_amount"),
        pl.lit(False).alias("fast_track"),
        pl.lit("").alias("description"),
        pl.lit(now).alias("created_at"),
        pl.lit(now).alias("updated_at"),
    )
    bg.submit(insert_frame, claims, claim_rows, csv=frame_csv(claim_rows))
    old = df.filter(
        pl.col("claim_id").is_not_null()
        & (
            (pl.col("base_fen") != pl.col("old_base"))
            | (pl.col("target_fen") != pl.col("old_target"))
            | (pl.col("reason") != pl.col("old_reason").fill_null(""))
            | (pl.col("state") != pl.col("old_state").fill_null(""))
            | pl.col("held_fen").ne_missing(pl.col("old_held"))
            | pl.col("kind").is_in(["taken", "duplicate"])
        )
    )
    bg.submit(
        update_frame,
        claims,
        "id",
        old.select(
            pl.col("claim_id").alias("id"),
            "state",
            fen_text(pl.col("base_fen")).alias("base_amount"),
            fen_text(pl.col("target_fen")).alias("target"),
            "reason",
            fen_text(pl.col("held_fen")).alias("held_amount"),
            pl.lit(now).alias("updated_at"),
        ),
    )
    if taken.height:
        bg.submit(
            update_frame,
            claims,
            "id",
            taken.select(
                pl.col("claim_id").alias("id"),
                pl.col("spk").alias("settlement_id"),
                pl.lit(None, pl.String).alias("payout_limit"),
                pl.lit(None, pl.String).alias("pending_amount"),
            ),
        )
    return new


def _events(df: pl.DataFrame, *, actor: User | None) -> tuple[int, int]:
    """A ClaimEvent for each claim filed by hand that a settlement took over or showed to be a
    duplicate (a handful per file)."""
    changed = df.filter(pl.col("kind").is_in(["taken", "duplicate"])).select(
        "claim_id", "kind", "old_state", "state"
    )
    ClaimEvent.objects.bulk_create(
        [
            ClaimEvent(
                claim_id=claim_id,
                actor=actor,
                from_state=old or "",
                to_state=state,
                reason_code="settled_by_bureau" if kind == "taken" else "duplicate_claim",
            )
            for claim_id, kind, old, state in changed.unique("claim_id").iter_rows()
        ]
    )
    taken = changed.filter(pl.col("kind") == "taken")["claim_id"].n_unique()
    return taken, changed.height and changed["claim_id"].n_unique() - taken


def _moves(new: pl.DataFrame, df: pl.DataFrame) -> pl.DataFrame:
    """Every claim whose net differs from what the rules give it, with the difference."""
    columns = ["claim_id", "member_id", "plan_code", "version_id", "target_fen", "net"]
    return (
        pl.concat(
            [
                new.with_columns(pl.col("new_id").alias("claim_id")).select(columns),
                df.filter(pl.col("claim_id").is_not_null()).select(columns),
            ]
        )
        .with_columns((pl.col("target_fen") - pl.col("net")).alias("delta"))
        .filter(pl.col("delta") != 0)
    )


def _summary_keys(
    moves: pl.DataFrame, enrollments: pl.DataFrame, benefits: dict[int, str]
) -> pl.DataFrame:
    """What the summaries would look up for each moved claim: the enrolment's unit and the
    plan's benefit."""
    return moves.join(
        enrollments.filter(pl.col("unit_id").is_not_null()),
        on=["member_id", "version_id"],
        how="inner",
    ).select(
        "claim_id",
        "unit_id",
        pl.col("version_id").replace_strict(benefits, return_dtype=pl.String).alias("benefit"),
        "plan_code",
    )


def adjudicate_and_book(
    stored: Touched,
    in_hand: pl.DataFrame,
    *,
    specs: list[VersionSpec],
    benefits: dict[int, str],
    bg: Background,
    batch: str,
    actor: User | None,
    reserve: Callable[[int], int],
    stage: Stage,
    before_summaries: Callable[[], None],
) -> Booked:
    """Re-adjudicate every stay of the touched members (the stored ones, this file's new ones
    `in_hand`, and their claims filed by hand) and book every difference (module docstring)."""
    matched = _hand_matches(stored.hand, in_hand)
    hand_stays = _hand_stays(stored.hand, matched)
    stays = pl.concat(
        [
            in_hand.with_columns(pl.lit(None, pl.Int64).alias("only_version")),
            stored.settlements.select(in_hand.columns).with_columns(
                pl.lit(None, pl.Int64).alias("only_version")
            ),
            hand_stays.select([*in_hand.columns, "only_version"]),
        ],
        how="vertical_relaxed",
    )
    empty_moves = pl.DataFrame(
        schema={"claim_id": pl.Int64, "plan_code": pl.String, "delta": pl.Int64}
    )
    if stays.height == 0:
        before_summaries()
        return Booked(0, empty_moves, pl.DataFrame(schema={"reason": pl.String}), 0, 0)
    known, matched_claims = _known_claims(stored, matched, hand_stays)
    result = adjudicate(stays, stored.enrollments.drop("unit_id"), specs, _limits(known))
    result = _place_hand_rows(result, stored)
    stage("rules engine")
    taken, duplicates = _taken_or_duplicate(matched_claims, result)
    review = {
        s.version_id: fen(s.terms.review_above) for s in specs if s.terms.review_above is not None
    }
    df = _with_state(_hold(_rows_with_claims(result, stays, known, taken, duplicates), review))
    stamp = timezone.now()
    now = connection.ops.adapt_datetimefield_value(stamp)
    new = _write_claims(df, bg=bg, now=now, taken=taken, first_id=reserve)
    stage("claims prepared")
    moves = _moves(new, df)

    def keys() -> pl.DataFrame:
        return _summary_keys(moves, stored.enrollments, benefits)

    def wait() -> None:
        before_summaries()
        stage("settlements, claims and ledger entries written")

    written = ledger_book_frame(
        moves.select("claim_id", "member_id", "plan_code", "version_id", "delta", "net"),
        batch=batch,
        now=stamp,
        writer=FrameWriter(
            write=lambda table, rows: bg.submit(insert_frame, table, rows, csv=frame_csv(rows)),
            wait=wait,
        ),
        keys=keys,
        new_claims=new["new_id"],
    )
    stage("summaries")
    taken_n, duplicates_n = _events(df, actor=actor) if matched.height else (0, 0)
    return Booked(written, moves, df.select("reason"), taken_n, duplicates_n)
