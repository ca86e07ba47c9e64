"""Keeping the payout summaries equal to the ledger: applied as entries are written, rebuilt from
scratch on demand. See `models.py` for what month, unit and person-times mean.

The ledger (`protection.ledger`, the only writer of `LedgerEntry` rows) calls
`summaries_apply_entries` for every entry it books, in the same transaction: this app registers
it there (`keep_in_step`, in `ReportsConfig.ready`). `summaries_recount` rebuilds both tables
from the raw ledger, and `summaries_differences` says where the stored summaries disagree with a
recount (none, unless an entry was written past the ledger).

Both cover the figures the database keeps with triggers too (huzhu.core.figures): enrolments
(protection.EnrollmentFigures), bookings, station visits and care money (`KEPT_FIGURES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from django.db import connection, transaction

from huzhu.benefits.figures import BOOKING_FIGURES
from huzhu.care.figures import FUND_FIGURES
from huzhu.core.bulk import insert_frame, is_postgres, query_frame, temp_frame, temp_keys
from huzhu.core.figures import KeptFigures
from huzhu.members.models import Member
from huzhu.protection.figures import figures_rebuild, figures_recounted, figures_stored
from huzhu.protection.models import Claim, Enrollment, LedgerEntry, Plan, PlanVersion
from huzhu.reports.models import ClaimBalance, PayoutSummary, PayoutYearSummary
from huzhu.stations.figures import VISIT_FIGURES

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The figures of the statistics kept by triggers, by the name a difference gives.
KEPT_FIGURES: dict[str, KeptFigures] = {
    "booking_figures": BOOKING_FIGURES,
    "station_visit_figures": VISIT_FIGURES,
    "care_fund_figures": FUND_FIGURES,
}
DISABILITY = "disability"  # the summaries' benefit of disability lump sums

SummaryKey = tuple[date, int, str, str]  # month, unit id, benefit, plan code
SummaryValue = tuple[int, int, int]  # amount in fen, entries, person-times


def month_of(moment: datetime) -> date:
    """The first day of the month of `moment` in Asia/Shanghai (naive values are UTC, as Django
    stores them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(SHANGHAI)
    return date(local.year, local.month, 1)


def _as_datetime(value: object) -> datetime:
    # Bulk writers hand over what they gave the database: Django's SQLite adapter turns aware
    # datetimes into naive UTC text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"created_at must be a datetime or ISO text, not {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_fen(value: object) -> int:
    amount = Decimal(str(value))
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"ledger amount with more than two decimals: {value}")
    return int(fen)


def _month_sql(column: str) -> str:
    """SQL for `month_of(column)`. Asia/Shanghai has been UTC+8 without daylight saving since
    1991, so SQLite's fixed offset agrees with the zone for every date this ledger can hold."""
    if is_postgres():
        return f"CAST(date_trunc('month', {column} AT TIME ZONE 'Asia/Shanghai') AS date)"
    # SQLite keeps times in milliseconds and would round 23:59:59.9995 up into the next month.
    return f"strftime('%%Y-%%m-01', substr({column}, 1, 19), '+8 hours')"


def year_sql(column: str) -> str:
    if is_postgres():
        return f"CAST(EXTRACT(YEAR FROM {column}) AS integer)"
    return f"CAST(substr({column}, 1, 4) AS integer)"


def _key_joins(claim: str = "c") -> str:
    """Joins from a claim alias to its summary key: plan code, benefit, unit (see models.py)."""
    return (
        f'JOIN "{Member._meta.db_table}" m ON m.id = {claim}.member_id '
        f'LEFT JOIN "{PlanVersion._meta.db_table}" v ON v.id = {claim}.version_id '
        f'LEFT JOIN "{Plan._meta.db_table}" p ON p.id = v.plan_id '
        f'LEFT JOIN "{Enrollment._meta.db_table}" en '
        f"ON en.member_id = {claim}.member_id AND en.version_id = {claim}.version_id"
    )


# A disability lump sum (伤残) is counted apart from the accident plan's medical costs.
KEY_UNIT = "COALESCE(en.unit_id, m.unit_id)"
KEY_BENEFIT = (
    f"CASE WHEN c.disability_grade IS NOT NULL THEN '{DISABILITY}' ELSE COALESCE(p.benefit, '') END"
)
KEY_COLUMNS = f"{KEY_UNIT}, {KEY_BENEFIT}, c.plan_code"


KEY_SCHEMA = {
    "claim_id": pl.Int64,
    "unit_id": pl.Int64,
    "benefit": pl.String,
    "plan_code": pl.String,
}
BALANCE_SCHEMA = {"claim_id": pl.Int64, "net": pl.Int64, "old_first": pl.Date}


def _claim_keys(claim_ids: pl.Series) -> pl.DataFrame:
    """Each claim's summary key (unit, benefit, plan code), by one join."""
    ids = temp_keys("_key_claims", claim_ids.to_list())
    return query_frame(
        f'SELECT c.id, {KEY_COLUMNS} FROM "{Claim._meta.db_table}" c '
        f'JOIN "{ids}" t ON t.k = c.id {_key_joins()}',
        [],
        KEY_SCHEMA,
    )


def _balances_add(changes: pl.DataFrame) -> pl.DataFrame:
    """Add each change (claim_id, delta, first month) to the balances of claims that existed
    before this transaction; return each one's balance before (`net`, `old_first`).

    The rows are created first (empty) and then locked, both in claim order: two writers on the
    same claims on PostgreSQL queue behind each other in the same order instead of deadlocking,
    and the second sees the first's committed balance.
    """
    if changes.height == 0:
        return pl.DataFrame(schema=BALANCE_SCHEMA)
    table = ClaimBalance._meta.db_table
    name = temp_frame(
        "_balance_changes",
        changes.select("claim_id", "delta", pl.col("first").cast(pl.String)),
        "claim_id BIGINT PRIMARY KEY, delta BIGINT, first DATE",
    )
    with connection.cursor() as cur:
        cur.execute(
            f'INSERT INTO "{table}" (claim_id, net_fen, first_month) '
            f'SELECT claim_id, 0, NULL FROM "{name}" WHERE true ORDER BY claim_id '
            "ON CONFLICT (claim_id) DO NOTHING"
        )
        if is_postgres():
            # Locked in claim order; the rows themselves are read below (COPY cannot lock).
            cur.execute(
                f'SELECT count(*) FROM (SELECT 1 FROM "{table}" b JOIN "{name}" t '
                "ON t.claim_id = b.claim_id ORDER BY b.claim_id FOR UPDATE OF b) locked"
            )
    before = query_frame(
        f'SELECT b.claim_id, b.net_fen, b.first_month FROM "{table}" b '
        f'JOIN "{name}" t ON t.claim_id = b.claim_id',
        [],
        BALANCE_SCHEMA,
    )
    with connection.cursor() as cur:
        cur.execute(
            f'UPDATE "{table}" SET net_fen = "{table}".net_fen + t.delta, '
            f'first_month = CASE WHEN "{table}".first_month IS NULL '
            f'OR t.first < "{table}".first_month THEN t.first ELSE "{table}".first_month END '
            f'FROM "{name}" t WHERE t.claim_id = "{table}".claim_id'
        )
    return before


def _balances_create(changes: pl.DataFrame) -> pl.DataFrame:
    """Balances of claims created in this transaction (nobody else can see them yet): written
    at once; their balance before is nothing."""
    insert_frame(
        ClaimBalance._meta.db_table,
        changes.select(
            "claim_id",
            pl.col("delta").alias("net_fen"),
            pl.col("first").cast(pl.String).alias("first_month"),
        ),
    )
    return changes.select(
        "claim_id", pl.lit(0, pl.Int64).alias("net"), pl.lit(None, pl.Date).alias("old_first")
    )


def _upsert(table: str, period: str, period_type: str, rows: pl.DataFrame) -> None:
    """Add `rows` (period, unit_id, benefit, plan_code, fen, n, persons) to a summary table:
    one INSERT … ON CONFLICT DO UPDATE from a temporary table, in key order (for the same
    reason as the balances)."""
    if rows.height == 0:
        return
    name = temp_frame(
        f"_add_{table}",
        rows,
        f"{period} {period_type}, unit_id BIGINT, benefit TEXT, plan_code TEXT, "
        "fen BIGINT, n BIGINT, persons BIGINT",
    )
    with connection.cursor() as cur:
        cur.execute(
            f'INSERT INTO "{table}" ({period}, unit_id, benefit, plan_code, amount_fen, entries, '
            f'persons) SELECT {period}, unit_id, benefit, plan_code, fen, n, persons FROM "{name}" '
            f"WHERE true ORDER BY {period}, unit_id, benefit, plan_code "
            f"ON CONFLICT ({period}, unit_id, benefit, plan_code) DO UPDATE SET "
            f'amount_fen = "{table}".amount_fen + excluded.amount_fen, '
            f'entries = "{table}".entries + excluded.entries, '
            f'persons = "{table}".persons + excluded.persons'
        )


def _summaries_add(sums: pl.DataFrame) -> None:
    """Add (month, unit_id, benefit, plan_code, fen, n, persons) to the month and year
    summaries."""
    key = ["unit_id", "benefit", "plan_code"]
    _upsert(
        PayoutSummary._meta.db_table,
        "month",
        "DATE",
        sums.with_columns(pl.col("month").cast(pl.String)),
    )
    years = (
        sums.group_by(pl.col("month").dt.year().cast(pl.Int64).alias("year"), *key)
        .agg(pl.col("fen").sum(), pl.col("n").sum(), pl.col("persons").sum())
        .filter((pl.col("fen") != 0) | (pl.col("n") != 0) | (pl.col("persons") != 0))
    )
    _upsert(PayoutYearSummary._meta.db_table, "year", "INTEGER", years)


# (claim_id, amount, created_at): amount a Decimal or its text, created_at a datetime or the
# text Django's SQLite adapter makes of one; `object` because bulk writers pass adapted values.
EntryRow = tuple[int, object, object]
ENTRY_SCHEMA = {"claim_id": pl.Int64, "fen": pl.Int64, "month": pl.Date}


def _entries_frame(rows: Iterable[EntryRow] | pl.DataFrame) -> pl.DataFrame:
    """(claim_id, fen, month) from entry rows, or from a DataFrame with `claim_id`, either `fen`
    (integer) or `amount` (yuan text or Decimal), and `created_at`."""
    if isinstance(rows, pl.DataFrame):
        if "fen" not in rows.columns:
            rows = rows.with_columns(
                pl.Series("fen", [_as_fen(a) for a in rows["amount"].to_list()], pl.Int64)
            )
        moments = rows["created_at"].unique().to_list()
        months = {m: month_of(_as_datetime(m)) for m in moments}
        return rows.select(
            pl.col("claim_id").cast(pl.Int64),
            pl.col("fen").cast(pl.Int64),
            pl.col("created_at").replace_strict(months, return_dtype=pl.Date).alias("month"),
        )
    seen: dict[Any, date] = {}  # bulk writes share one timestamp
    out: list[tuple[int, int, date]] = []
    for claim_id, amount, created_at in rows:
        if created_at not in seen:
            seen[created_at] = month_of(_as_datetime(created_at))
        out.append((int(claim_id), _as_fen(amount), seen[created_at]))
    return pl.DataFrame(out, schema=ENTRY_SCHEMA, orient="row")


def summaries_apply_entries(
    rows: Iterable[EntryRow] | pl.DataFrame,
    *,
    keys: pl.DataFrame | None = None,
    new_claims: pl.Series | None = None,
) -> int:
    """Fold just-written ledger entries into the summaries; returns how many entries.

    `rows` are (claim_id, amount, created_at), in any order (amount in yuan,
    as Decimal or text; created_at aware, or naive UTC as Django's SQLite adapter writes it),
    or a DataFrame with those three columns (or integer `fen` instead of `amount`). Call it
    once for every entry, in the transaction that wrote it: the summaries are then equal to
    `summaries_recount()` at every commit. Set-based: a million entries are a few statements.

    Bulk writers may save work: `keys` gives the summary key (claim_id, unit_id, benefit,
    plan_code, as `KEY_COLUMNS` defines them) of claims they know (the rest are looked up), and
    `new_claims` names claims created in this very transaction (no balance row can exist yet).
    """
    df = _entries_frame(rows)
    if df.height == 0:
        return 0
    key = ["unit_id", "benefit", "plan_code"]
    with transaction.atomic():
        totals = (
            df.group_by("claim_id")
            .agg(pl.col("fen").sum().alias("delta"), pl.col("month").min().alias("first"))
            .sort("claim_id")
        )
        keys = _keys_of(totals, keys)
        is_new = (
            pl.col("claim_id").is_in(new_claims.implode())
            if new_claims is not None
            else pl.lit(False)
        )
        before = pl.concat(
            [
                _balances_add(totals.filter(~is_new)),
                _balances_create(totals.filter(is_new)),
            ]
        )
        amounts = (
            df.group_by("claim_id", "month")
            .agg(pl.col("fen").sum(), pl.len().cast(pl.Int64).alias("n"))
            .with_columns(pl.lit(0, pl.Int64).alias("persons"))
        )
        left, counted = _person_times(totals.join(before, on="claim_id", how="left"))
        sums = (
            pl.concat([amounts.select(left.columns), left, counted])
            .join(keys, on="claim_id")
            .group_by("month", *key)
            .agg(pl.col("fen").sum(), pl.col("n").sum(), pl.col("persons").sum())
            .filter((pl.col("fen") != 0) | (pl.col("n") != 0) | (pl.col("persons") != 0))
        )
        _summaries_add(sums)
    return df.height


def _keys_of(totals: pl.DataFrame, keys: pl.DataFrame | None) -> pl.DataFrame:
    """The summary key of every claim in `totals`: those the caller gave, the rest looked up."""
    given = pl.DataFrame(schema=KEY_SCHEMA)
    if keys is not None:
        given = keys.select([pl.col(k).cast(v) for k, v in KEY_SCHEMA.items()]).join(
            totals.select("claim_id"), on="claim_id", how="semi"
        )
    unknown = totals.join(given, on="claim_id", how="anti")["claim_id"]
    if unknown.len():
        given = pl.concat([given, _claim_keys(unknown)])
    found = given.unique("claim_id")
    if found.height != totals.height:
        missing = totals.join(found, on="claim_id", how="anti")["claim_id"].head(10)
        raise ValueError(f"ledger entries on claims without a member: {missing.to_list()}")
    return found


def _person_times(claims: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Person-times: a claim leaves its old first month if it was counted there (`left`), and
    counts in its (possibly earlier) first month if its net is above zero now (`counted`)."""
    left = claims.filter(pl.col("net") > 0).select(
        "claim_id",
        pl.col("old_first").alias("month"),
        pl.lit(0, pl.Int64).alias("fen"),
        pl.lit(0, pl.Int64).alias("n"),
        pl.lit(-1, pl.Int64).alias("persons"),
    )
    counted = claims.filter(pl.col("net") + pl.col("delta") > 0).select(
        "claim_id",
        pl.min_horizontal("first", "old_first").alias("month"),
        pl.lit(0, pl.Int64).alias("fen"),
        pl.lit(0, pl.Int64).alias("n"),
        pl.lit(1, pl.Int64).alias("persons"),
    )
    return left, counted


def summaries_apply_entry(entry: LedgerEntry) -> None:
    """`summaries_apply_entries` for one entry saved through the ORM (after its save)."""
    summaries_apply_entries([(entry.claim_id, entry.amount, entry.created_at)])


def payout_recount_sql() -> str:
    """Every summary row recomputed from the ledger: amounts and entries by the month of each
    entry, person-times by the first month of each claim whose net is above zero."""
    entries, claims = LedgerEntry._meta.db_table, Claim._meta.db_table
    return (
        "WITH e AS ("
        " SELECT claim_id, CAST(ROUND(amount * 100) AS BIGINT) AS fen, "
        f" {_month_sql('created_at')} AS month "
        f' FROM "{entries}"'
        "), per_claim AS ("
        " SELECT claim_id, month, SUM(fen) AS fen, COUNT(*) AS n, 0 AS persons"
        " FROM e GROUP BY claim_id, month"
        " UNION ALL"
        " SELECT claim_id, MIN(month), 0, 0, 1 FROM e GROUP BY claim_id HAVING SUM(fen) > 0"
        ") "
        f"SELECT r.month AS month, {KEY_UNIT} AS unit_id, "
        f"{KEY_BENEFIT} AS benefit, c.plan_code AS plan_code, "
        "SUM(r.fen) AS fen, SUM(r.n) AS n, SUM(r.persons) AS persons "
        f'FROM per_claim r JOIN "{claims}" c ON c.id = r.claim_id {_key_joins()} '
        f"GROUP BY r.month, {KEY_COLUMNS}"
    )


def _balance_sql() -> str:
    return (
        "SELECT claim_id, SUM(CAST(ROUND(amount * 100) AS BIGINT)), "
        f"MIN({_month_sql('created_at')}) "
        f'FROM "{LedgerEntry._meta.db_table}" GROUP BY claim_id'
    )


def summaries_recount() -> int:
    """Rebuild the payout summaries from the ledger, and every figure kept by triggers from its
    rows, in one transaction; returns the number of payout summary rows."""
    summaries, balances = PayoutSummary._meta.db_table, ClaimBalance._meta.db_table
    years = PayoutYearSummary._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        if is_postgres():
            cur.execute(f'LOCK TABLE "{summaries}", "{years}", "{balances}" IN EXCLUSIVE MODE')
        for table in (summaries, years, balances):
            cur.execute(f'DELETE FROM "{table}"')
        cur.execute(
            f'INSERT INTO "{summaries}" '
            "(month, unit_id, benefit, plan_code, amount_fen, entries, persons) "
            + payout_recount_sql(),
            [],  # with parameters, so that %% in the SQL means %
        )
        cur.execute(
            f'INSERT INTO "{balances}" (claim_id, net_fen, first_month) ' + _balance_sql(), []
        )
        cur.execute(
            f'INSERT INTO "{years}" (year, unit_id, benefit, plan_code, amount_fen, entries, '
            f"persons) SELECT {year_sql('month')} AS y, unit_id, benefit, plan_code, "
            f'SUM(amount_fen), SUM(entries), SUM(persons) FROM "{summaries}" '
            "GROUP BY y, unit_id, benefit, plan_code",
            [],
        )
        cur.execute(f'SELECT COUNT(*) FROM "{summaries}"')
        (count,) = cur.fetchone()
        figures_rebuild()
        for figures in KEPT_FIGURES.values():
            figures.rebuild()
    return int(count)


Balances = dict[int, tuple[int, date | None]]


def summaries_recounted() -> tuple[dict[SummaryKey, SummaryValue], Balances]:
    """What the summaries and balances should hold, computed from the ledger (not stored)."""
    with connection.cursor() as cur:
        cur.execute(payout_recount_sql(), [])
        summaries: dict[SummaryKey, SummaryValue] = {
            (as_date(month), unit_id, benefit, plan_code): (int(fen), int(n), int(p))
            for month, unit_id, benefit, plan_code, fen, n, p in cur.fetchall()
        }
        cur.execute(_balance_sql(), [])
        balances: Balances = {
            int(cid): (int(net), as_date(first)) for cid, net, first in cur.fetchall()
        }
    return summaries, balances


YearKey = tuple[int, int, str, str]


def _years_of(summaries: dict[SummaryKey, SummaryValue]) -> dict[YearKey, SummaryValue]:
    years: dict[YearKey, list[int]] = {}
    for (month, *rest), value in summaries.items():
        total = years.setdefault((month.year, *rest), [0, 0, 0])  # type: ignore[arg-type]
        for i in range(3):
            total[i] += value[i]
    return {k: (v[0], v[1], v[2]) for k, v in years.items()}


def summaries_stored() -> tuple[dict[SummaryKey, SummaryValue], Balances]:
    summaries = {
        (s.month, s.unit_id, s.benefit, s.plan_code): (s.amount_fen, s.entries, s.persons)
        for s in PayoutSummary.objects.all()
    }
    balances = {
        cid: (net, first)
        for cid, net, first in ClaimBalance.objects.values_list(
            "claim_id", "net_fen", "first_month"
        )
    }
    return summaries, balances


@dataclass(frozen=True)
class Difference:
    table: str
    key: object
    stored: object
    recounted: object


def summaries_differences() -> list[Difference]:
    """Every key where the stored summaries disagree with a recount; empty when they agree."""
    out: list[Difference] = []
    stored_years = {
        (s.year, s.unit_id, s.benefit, s.plan_code): (s.amount_fen, s.entries, s.persons)
        for s in PayoutYearSummary.objects.all()
    }
    stored, recounted = summaries_stored(), summaries_recounted()
    pairs: list[tuple[str, dict[Any, Any], dict[Any, Any]]] = [
        ("payout_summary", stored[0], recounted[0]),
        ("payout_year_summary", stored_years, _years_of(recounted[0])),
        ("claim_balance", stored[1], recounted[1]),
        ("enrollment_figures", figures_stored(), figures_recounted()),
        *((name, f.stored(), f.recounted()) for name, f in KEPT_FIGURES.items()),
    ]
    for table, stored_rows, recounted_rows in pairs:
        for key in sorted(stored_rows.keys() | recounted_rows.keys(), key=str):
            if stored_rows.get(key) != recounted_rows.get(key):
                out.append(Difference(table, key, stored_rows.get(key), recounted_rows.get(key)))
    return out
