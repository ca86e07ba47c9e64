"""Keeping the payout summaries equal to the ledger: applied as entries are written, rebuilt from
scratch on demand. See `models.py` for what month, unit and person-times mean.

Whoever writes `LedgerEntry` rows calls `summaries_apply_entries` (bulk) or
`summaries_apply_entry` (one ORM-created entry) once for those entries, in the same
transaction. `summaries_recount` rebuilds both tables from the raw ledger, and
`summaries_differences` says where the stored summaries disagree with a recount (none, unless a
writer forgot to call in).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from django.db import connection, transaction

from huzhu.core.bulk import is_postgres
from huzhu.members.models import Member
from huzhu.protection.models import Claim, Enrollment, LedgerEntry, Plan, PlanVersion
from huzhu.reports.models import ClaimBalance, PayoutSummary, PayoutYearSummary

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHUNK = 900  # below SQLite's older 999-variable limit

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


KEY_COLUMNS = "COALESCE(en.unit_id, m.unit_id), COALESCE(p.benefit, ''), c.plan_code"


def _claim_keys(claim_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
    found: dict[int, tuple[int, str, str]] = {}
    with connection.cursor() as cur:
        for start in range(0, len(claim_ids), CHUNK):
            part = list(claim_ids[start : start + CHUNK])
            cur.execute(
                f'SELECT c.id, {KEY_COLUMNS} FROM "{Claim._meta.db_table}" c {_key_joins()} '
                f"WHERE c.id IN ({', '.join(['%s'] * len(part))})",
                part,
            )
            for cid, unit_id, benefit, plan_code in cur.fetchall():
                found[cid] = (unit_id, benefit, plan_code)
    missing = set(claim_ids) - set(found)
    if missing:
        raise ValueError(f"ledger entries on claims without a member: {sorted(missing)[:10]}")
    return found


def _balances_add(changes: Sequence[tuple[int, int, date]]) -> dict[int, tuple[int, date | None]]:
    """Add (claim, delta, earliest month) to the balances; return each claim's balance before.

    The rows are created first (empty) and then locked, both in claim order: two writers on the
    same claims on PostgreSQL queue behind each other in the same order instead of deadlocking,
    and the second sees the first's committed balance.
    """
    table = ClaimBalance._meta.db_table
    ids = [c[0] for c in changes]
    before: dict[int, tuple[int, date | None]] = {}
    lock = " ORDER BY claim_id FOR UPDATE" if is_postgres() else ""
    with connection.cursor() as cur:
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            cur.execute(
                f'INSERT INTO "{table}" (claim_id, net_fen, first_month) '
                f"VALUES {', '.join(['(%s, 0, NULL)'] * len(part))} "
                "ON CONFLICT (claim_id) DO NOTHING",
                part,
            )
            cur.execute(
                f'SELECT claim_id, net_fen, first_month FROM "{table}" '
                f"WHERE claim_id IN ({', '.join(['%s'] * len(part))}){lock}",
                part,
            )
            for cid, net, first in cur.fetchall():
                before[cid] = (int(net), None if first is None else as_date(first))
    adapt = connection.ops.adapt_datefield_value
    updates = []
    for cid, delta, month in changes:
        net, first = before[cid]
        updates.append((net + delta, adapt(month if first is None else min(first, month)), cid))
    with connection.cursor() as cur:
        cur.executemany(
            f'UPDATE "{table}" SET net_fen = %s, first_month = %s WHERE claim_id = %s', updates
        )
    return before


def _upsert(table: str, period: str, rows: list[tuple[Any, ...]]) -> None:
    sql = (
        f'INSERT INTO "{table}" ({period}, unit_id, benefit, plan_code, amount_fen, entries, '
        "persons) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT ({period}, unit_id, benefit, plan_code) DO UPDATE SET "
        f'amount_fen = "{table}".amount_fen + excluded.amount_fen, '
        f'entries = "{table}".entries + excluded.entries, '
        f'persons = "{table}".persons + excluded.persons'
    )
    with connection.cursor() as cur:
        # In key order, for the same reason as the balances.
        cur.executemany(sql, sorted(rows))


def _summaries_add(rows: Sequence[tuple[SummaryKey, SummaryValue]]) -> None:
    adapt = connection.ops.adapt_datefield_value
    _upsert(
        PayoutSummary._meta.db_table,
        "month",
        [(adapt(k[0]), k[1], k[2], k[3], *v) for k, v in rows],
    )
    years: dict[tuple[int, int, str, str], list[int]] = {}
    for (month, *rest), value in rows:
        total = years.setdefault((month.year, *rest), [0, 0, 0])  # type: ignore[arg-type]
        for i in range(3):
            total[i] += value[i]
    _upsert(
        PayoutYearSummary._meta.db_table,
        "year",
        [(*k, *v) for k, v in years.items() if any(v)],
    )


# (claim_id, amount, created_at): amount a Decimal or its text, created_at a datetime or the
# text Django's SQLite adapter makes of one; `object` because bulk writers pass adapted values.
EntryRow = tuple[int, object, object]


def summaries_apply_entries(rows: Iterable[EntryRow] | pl.DataFrame) -> int:
    """Fold just-written ledger entries into the summaries; returns how many entries.

    `rows` are (claim_id, amount, created_at), in any order (amount in yuan,
    as Decimal or text; created_at aware, or naive UTC as Django's SQLite adapter writes it),
    or a DataFrame with those three columns. Call it once for every entry, in the transaction
    that wrote it: the summaries are then equal to `summaries_recount()` at every commit.
    """
    if isinstance(rows, pl.DataFrame):
        rows = rows.select("claim_id", "amount", "created_at").iter_rows()
    seen: dict[Any, date] = {}  # bulk writes share one timestamp
    claim_ids: list[int] = []
    fens: list[int] = []
    months: list[date] = []
    for claim_id, amount, created_at in rows:
        if created_at not in seen:
            seen[created_at] = month_of(_as_datetime(created_at))
        claim_ids.append(int(claim_id))
        fens.append(_as_fen(amount))
        months.append(seen[created_at])
    if not claim_ids:
        return 0
    df = pl.DataFrame(
        {"claim_id": claim_ids, "fen": fens, "month": months},
        schema={"claim_id": pl.Int64, "fen": pl.Int64, "month": pl.Date},
    )
    with transaction.atomic():
        totals = (
            df.group_by("claim_id")
            .agg(pl.col("fen").sum().alias("delta"), pl.col("month").min().alias("first"))
            .sort("claim_id")
        )
        before = _balances_add(list(totals.iter_rows()))
        keys = _claim_keys(totals["claim_id"].to_list())
        sums: dict[SummaryKey, list[int]] = {}

        def add(key: SummaryKey, fen: int, n: int, persons: int) -> None:
            total = sums.setdefault(key, [0, 0, 0])
            total[0] += fen
            total[1] += n
            total[2] += persons

        by_month = df.group_by("claim_id", "month").agg(pl.col("fen").sum(), pl.len())
        for claim_id, month, fen, n in by_month.iter_rows():
            add((month, *keys[claim_id]), fen, n, 0)
        # Person-times: the claim leaves its old first month if it was counted there, and
        # counts in its (possibly earlier) first month if its net is above zero now.
        for claim_id, delta, first in totals.iter_rows():
            net, old_first = before[claim_id]
            if net > 0:
                assert old_first is not None
                add((old_first, *keys[claim_id]), 0, 0, -1)
            if net + delta > 0:
                add(
                    (first if old_first is None else min(first, old_first), *keys[claim_id]),
                    0,
                    0,
                    1,
                )
        _summaries_add([(k, (v[0], v[1], v[2])) for k, v in sums.items() if any(v)])
    return len(claim_ids)


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
        "SELECT r.month AS month, COALESCE(en.unit_id, m.unit_id) AS unit_id, "
        "COALESCE(p.benefit, '') AS benefit, c.plan_code AS plan_code, "
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
    """Rebuild both summary tables from the ledger; returns the number of summary rows."""
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
    ]
    for table, stored_rows, recounted_rows in pairs:
        for key in sorted(stored_rows.keys() | recounted_rows.keys(), key=str):
            if stored_rows.get(key) != recounted_rows.get(key):
                out.append(Difference(table, key, stored_rows.get(key), recounted_rows.get(key)))
    return out
