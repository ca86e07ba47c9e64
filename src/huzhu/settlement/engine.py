"""The adjudication rules of INTERFACES.md as vectorised Polars expressions, for whole files.

Pure: DataFrames in, a DataFrame out, no ORM and no I/O. Money is integer fen; ratios are scaled
to integers, so every step is exact and the one rounding (half-up to the fen) happens where the
rule says. `huzhu.protection.rules` is the readable reference; a property test proves that both
give the same answer for every settlement.

It computes, for many members at once, exactly what `rules.adjudicate_member` computes for one:
tests/settlement/test_engine_agrees.py draws random plans, enrolments (renewals, payment dates),
stays of both channels, reversals and limits, and checks that every row agrees to the fen.

Inputs
- settlements (stays): spk (Int64, row key; a claim filed by hand uses minus its claim id), sid
  (String: the ordering key), member_id (Int64, null = unknown member), admitted_on,
  discharged_on, settled_on (Date), in_fen, out_fen (Int64), diagnosis_code (String),
  is_accident (Boolean), reversed (Boolean); optional only_version (Int64: a hand claim's own
  version, the only one it falls in)
- enrollments: member_id, version_id (Int64); optional paid_on (Date) for coverage start
- versions: a list of VersionSpec (one per plan version)
- limits (optional): spk, version_id, limit_fen: the most a stay may be paid under a version

Output: one row per (stay, enrolled version covering admitted_on from coverage start), or one
row with a null version when none applies: spk, version_id, plan_code, base_fen, assessed_fen,
target_fen, reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from huzhu.protection.rules import Benefit, Reason, VersionTerms

OUTPUT_SCHEMA = {
    "spk": pl.Int64,
    "version_id": pl.Int64,
    "plan_code": pl.String,
    "base_fen": pl.Int64,
    "assessed_fen": pl.Int64,
    "target_fen": pl.Int64,
    "reason": pl.String,
}
NO_LIMIT = 2**62  # stands for "no limit" in min(); larger than any sum of fen


def fen(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


@dataclass(frozen=True)
class VersionSpec:
    """A plan version as the engine needs it."""

    version_id: int
    terms: VersionTerms
    previous_version_id: int | None  # the same plan's version ending the day before this starts


def _ratio_scale(terms: VersionTerms) -> int:
    assert terms.inpatient is not None
    places = 0
    for band in terms.inpatient.bands:
        exponent = band.ratio.normalize().as_tuple().exponent
        places = max(places, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return 10**places


def _prev(expr: pl.Expr, group: str) -> pl.Expr:
    """The cumulative value before this row within the group (rows already in order)."""
    return expr.cum_sum().over(group) - expr


def _held(expr: pl.Expr) -> pl.Expr:
    """`expr` held to the row's limit (`limit_fen`; null: none)."""
    return pl.min_horizontal(expr, pl.col("limit_fen").fill_null(NO_LIMIT))


def _inpatient(df: pl.DataFrame, terms: VersionTerms) -> pl.DataFrame:
    ip = terms.inpatient
    assert ip is not None
    scale = _ratio_scale(terms)
    deductible = fen(ip.deductible)
    # Band k covers cumulative base (lo_k, hi_k]; hi None = open.
    bands: list[tuple[int, int | None, int]] = []
    lo = deductible
    for band in ip.bands:
        hi = None if band.upto is None else deductible + fen(band.upto)
        bands.append((lo, hi, int(band.ratio * scale)))
        if hi is None:
            break
        lo = hi

    def integral(x: pl.Expr) -> pl.Expr:
        """Exact payout (fen × scale) for cumulative base 0..x."""
        total = pl.lit(0, dtype=pl.Int64)
        for b_lo, b_hi, ratio in bands:
            part = (x - b_lo).clip(lower_bound=0)
            if b_hi is not None:
                part = part.clip(upper_bound=b_hi - b_lo)
            total = total + part * ratio
        return total

    base = pl.when(pl.col("eligible")).then(pl.col("in_fen")).otherwise(0)
    df = df.with_columns(_prev(base, "member_id").alias("b_before"))
    df = df.with_columns(
        (
            (integral(pl.col("b_before") + pl.col("in_fen")) - integral(pl.col("b_before"))) * 2
            + scale
        )
        .floordiv(2 * scale)
        .alias("raw")
    )
    # What each stay takes of the cap: its payout, held to its limit.
    raw = pl.when(pl.col("eligible")).then(_held(pl.col("raw"))).otherwise(0)
    cap = fen(ip.cap)
    df = df.with_columns(_prev(raw, "member_id").alias("raw_before"))
    before = pl.min_horizontal(pl.col("raw_before"), cap)
    assessed = pl.min_horizontal(pl.col("raw_before") + pl.col("raw"), cap) - before
    paid = _held(assessed)
    return df.with_columns(
        pl.col("in_fen").alias("base_fen"),
        pl.when(~pl.col("eligible")).then(0).otherwise(assessed).alias("assessed_fen"),
        pl.when(~pl.col("eligible")).then(0).otherwise(paid).alias("target_fen"),
        pl.when(~pl.col("eligible"))
        .then(pl.col("reason"))
        .when(pl.col("raw") == 0)
        .then(pl.lit(Reason.BELOW_DEDUCTIBLE.value))
        .when(paid == 0)
        .then(pl.lit(Reason.CAP_REACHED.value))
        .otherwise(None)
        .alias("reason"),
    )


def _allowance(df: pl.DataFrame, terms: VersionTerms) -> pl.DataFrame:
    al = terms.allowance
    assert al is not None
    stay = (pl.col("discharged_on") - pl.col("admitted_on")).dt.total_days()
    days = pl.max_horizontal(stay, 1) - al.excluded_days
    df = df.with_columns(days.alias("days"))
    counted = pl.when(pl.col("eligible") & (pl.col("days") > 0)).then(pl.col("days")).otherwise(0)
    df = df.with_columns(_prev(counted, "member_id").alias("days_before"))
    paid_days = pl.min_horizontal(
        pl.col("days_before") + pl.col("days"), al.max_days
    ) - pl.min_horizontal(pl.col("days_before"), al.max_days)
    assessed = (
        pl.when(pl.col("eligible") & (pl.col("days") > 0))
        .then(paid_days.clip(lower_bound=0) * fen(al.per_day))
        .otherwise(0)
    )
    return df.with_columns(
        (pl.col("days").clip(lower_bound=0) * 100).alias("base_fen"),
        assessed.alias("assessed_fen"),
        _held(assessed).alias("target_fen"),
        pl.when(~pl.col("eligible"))
        .then(pl.col("reason"))
        .when(pl.col("days") <= 0)
        .then(pl.lit(Reason.BELOW_DEDUCTIBLE.value))
        .when(paid_days <= 0)
        .then(pl.lit(Reason.CAP_REACHED.value))
        .otherwise(None)
        .alias("reason"),
    )


def _critical_illness(df: pl.DataFrame, terms: VersionTerms) -> pl.DataFrame:
    ci = terms.critical_illness
    assert ci is not None
    code = pl.col("diagnosis_code").fill_null("").str.strip_chars().str.to_uppercase()
    covered = pl.any_horizontal(
        [code.str.starts_with(p.strip().upper()) for p in ci.icd10_prefixes]
    ) & (code != "")
    df = df.with_columns(covered.alias("covered"))
    hit = (pl.col("eligible") & pl.col("covered")).cast(pl.Int64)
    df = df.with_columns(_prev(hit, "member_id").alias("hits_before"))
    amount = fen(ci.amount)
    first = pl.col("eligible") & pl.col("covered") & (pl.col("hits_before") == 0)
    assessed = pl.when(first).then(amount).otherwise(0)
    return df.with_columns(
        pl.lit(amount, dtype=pl.Int64).alias("base_fen"),
        assessed.alias("assessed_fen"),
        _held(assessed).alias("target_fen"),
        pl.when(~pl.col("eligible"))
        .then(pl.col("reason"))
        .when(~pl.col("covered"))
        .then(pl.lit(Reason.NOT_COVERED.value))
        .when(~first)
        .then(pl.lit(Reason.CAP_REACHED.value))
        .otherwise(None)
        .alias("reason"),
    )


def _accident(df: pl.DataFrame, terms: VersionTerms) -> pl.DataFrame:
    ac = terms.accident
    assert ac is not None
    cap = fen(ac.cap)
    base = pl.col("in_fen") + pl.col("out_fen")
    counts = pl.col("eligible") & pl.col("is_accident")
    df = df.with_columns(base.alias("base_fen"))
    consumed = pl.when(counts).then(_held(pl.col("base_fen"))).otherwise(0)
    df = df.with_columns(_prev(consumed, "member_id").alias("used_before"))
    remaining = cap - pl.min_horizontal(pl.col("used_before"), cap)
    assessed = pl.min_horizontal(pl.col("base_fen"), remaining)
    return df.with_columns(
        pl.when(counts).then(assessed).otherwise(0).alias("assessed_fen"),
        pl.when(counts).then(_held(assessed)).otherwise(0).alias("target_fen"),
        pl.when(~pl.col("eligible"))
        .then(pl.col("reason"))
        .when(~pl.col("is_accident"))
        .then(pl.lit(Reason.NOT_COVERED.value))
        .when(remaining <= 0)
        .then(pl.lit(Reason.CAP_REACHED.value))
        .when(pl.col("base_fen") == 0)
        .then(pl.lit(Reason.NOT_COVERED.value))
        .otherwise(None)
        .alias("reason"),
    )


def _rule_base(df: pl.DataFrame, terms: VersionTerms) -> pl.Expr:
    """The base of one settlement on its own (for reversed and waiting-period rows)."""
    match terms.benefit:
        case Benefit.INPATIENT:
            return pl.col("in_fen")
        case Benefit.ALLOWANCE:
            assert terms.allowance is not None
            stay = (pl.col("discharged_on") - pl.col("admitted_on")).dt.total_days()
            days = pl.max_horizontal(stay, 1) - terms.allowance.excluded_days
            return days.clip(lower_bound=0) * 100
        case Benefit.CRITICAL_ILLNESS:
            assert terms.critical_illness is not None
            return pl.lit(fen(terms.critical_illness.amount), dtype=pl.Int64)
        case Benefit.ACCIDENT:
            return pl.col("in_fen") + pl.col("out_fen")


_RULES = {
    Benefit.INPATIENT: _inpatient,
    Benefit.ALLOWANCE: _allowance,
    Benefit.CRITICAL_ILLNESS: _critical_illness,
    Benefit.ACCIDENT: _accident,
}


def adjudicate(
    settlements: pl.DataFrame,
    enrollments: pl.DataFrame,
    versions: list[VersionSpec],
    limits: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Adjudicate every given stay against every enrolled version covering it.

    `settlements` must hold all stays (reversed ones too) of every member it mentions, since a
    member's payouts depend on the member's whole period.
    """
    out: list[pl.DataFrame] = []
    covered_spk: list[pl.Series] = []
    if "only_version" not in settlements.columns:
        settlements = settlements.with_columns(pl.lit(None, pl.Int64).alias("only_version"))
    enrolled = enrollments.select(
        pl.col("member_id").cast(pl.Int64),
        pl.col("version_id").cast(pl.Int64),
        (pl.col("paid_on") if "paid_on" in enrollments.columns else pl.lit(None))
        .cast(pl.Date)
        .alias("paid_on"),
    )
    for spec in versions:
        df = _adjudicate_version(settlements, enrolled, spec, limits)
        if df is None:
            continue
        covered_spk.append(df["spk"])
        out.append(df)
    done = pl.concat(covered_spk) if covered_spk else pl.Series("spk", [], dtype=pl.Int64)
    rest = settlements.filter(~pl.col("spk").is_in(done.implode()))
    out.append(
        rest.select(
            "spk",
            pl.lit(None, dtype=pl.Int64).alias("version_id"),
            pl.lit("").alias("plan_code"),
            pl.col("in_fen").alias("base_fen"),
            pl.lit(0, dtype=pl.Int64).alias("assessed_fen"),
            pl.lit(0, dtype=pl.Int64).alias("target_fen"),
            pl.when(pl.col("reversed"))
            .then(pl.lit(Reason.REVERSED.value))
            .when(pl.col("member_id").is_null())
            .then(pl.lit(Reason.NOT_MEMBER.value))
            .otherwise(pl.lit(Reason.NOT_ENROLLED.value))
            .alias("reason"),
        )
    )
    return pl.concat([o.cast(OUTPUT_SCHEMA) for o in out]).sort(["spk", "plan_code"])  # type: ignore[arg-type]


def _adjudicate_version(
    settlements: pl.DataFrame,
    enrolled: pl.DataFrame,
    spec: VersionSpec,
    limits: pl.DataFrame | None,
) -> pl.DataFrame | None:
    """The rows of one version: its members' stays from coverage start to period end, with
    the waiting period, reversals and limits, through the version's benefit rule."""
    terms = spec.terms
    members = enrolled.filter(pl.col("version_id") == spec.version_id).select(
        "member_id", "paid_on"
    )
    if members.height == 0:
        return None
    df = settlements.join(members, on="member_id", how="inner").filter(
        pl.col("admitted_on").is_between(terms.period_start, terms.period_end)
        & (pl.col("only_version").is_null() | (pl.col("only_version") == spec.version_id))
    )
    if df.height == 0:
        return None
    df = _with_coverage(df, enrolled, spec)
    if df.height == 0:
        return None
    df = _with_limits(df, limits, spec.version_id)
    waiting = (
        pl.col("new_to_plan")
        & (pl.col("admitted_on") < pl.col("covered_from") + pl.duration(days=terms.waiting_days))
        & ~pl.col("is_accident")
    )
    held_to_nothing = pl.col("limit_fen").fill_null(-1) == 0
    df = df.with_columns(
        (~pl.col("reversed") & ~waiting & ~held_to_nothing).alias("eligible"),
        pl.when(pl.col("reversed"))
        .then(pl.lit(Reason.REVERSED.value))
        .when(waiting)
        .then(pl.lit(Reason.WAITING_PERIOD.value))
        .when(held_to_nothing)
        .then(pl.lit(Reason.NOT_COVERED.value))
        .otherwise(None)
        .alias("reason"),
    ).sort(["member_id", "settled_on", "sid"])
    df = _RULES[terms.benefit](df, terms)
    df = df.with_columns(
        pl.when(pl.col("eligible"))
        .then(pl.col("base_fen"))
        .otherwise(_rule_base(df, terms))
        .alias("base_fen")
    )
    return df.select(
        "spk",
        pl.lit(spec.version_id, dtype=pl.Int64).alias("version_id"),
        pl.lit(terms.plan_code).alias("plan_code"),
        pl.col("base_fen").cast(pl.Int64),
        pl.col("assessed_fen").cast(pl.Int64),
        pl.col("target_fen").cast(pl.Int64),
        pl.col("reason").cast(pl.String),
    )


def _with_coverage(df: pl.DataFrame, enrolled: pl.DataFrame, spec: VersionSpec) -> pl.DataFrame:
    """Who renews (`new_to_plan` false) and when each enrolment's cover starts (`covered_from`):
    a renewal from period_start, anyone new from the later of period_start and paid_on; a
    stay admitted before it is not in this version."""
    if spec.previous_version_id is not None:
        previous = enrolled.filter(pl.col("version_id") == spec.previous_version_id)
        df = df.with_columns(
            (~pl.col("member_id").is_in(previous["member_id"].implode())).alias("new_to_plan")
        )
    else:
        df = df.with_columns(pl.lit(True).alias("new_to_plan"))
    start = pl.lit(spec.terms.period_start)
    return df.with_columns(
        pl.when(pl.col("new_to_plan") & pl.col("paid_on").is_not_null())
        .then(pl.max_horizontal(start, pl.col("paid_on")))
        .otherwise(start)
        .alias("covered_from")
    ).filter(pl.col("admitted_on") >= pl.col("covered_from"))


def _with_limits(df: pl.DataFrame, limits: pl.DataFrame | None, version_id: int) -> pl.DataFrame:
    """`limit_fen` of each row under this version (null: no limit); no join when none is set."""
    mine = (
        None
        if limits is None or limits.height == 0
        else limits.filter(pl.col("version_id") == version_id).select(
            pl.col("spk").cast(pl.Int64), pl.col("limit_fen").cast(pl.Int64)
        )
    )
    if mine is None or mine.height == 0:
        return df.with_columns(pl.lit(None, pl.Int64).alias("limit_fen"))
    return df.join(mine, on="spk", how="left")
