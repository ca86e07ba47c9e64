"""`huzhu export payouts`: net payouts per settlement and plan (INTERFACES.md "payouts")."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import connection

from huzhu.core.files import atomic_write
from huzhu.core.pii import vault
from huzhu.protection.models import Claim, LedgerEntry
from huzhu.settlement.models import Settlement

PAYOUT_HEADER = [
    "settlement_id",
    "id_number",
    "plan_code",
    "base_amount",
    "payable_amount",
    "reason",
]
CENT = Decimal("0.01")


def _two(value: object) -> str:
    return str(Decimal(str(value or 0)).quantize(CENT))


def payout_rows(plan_code: str | None = None) -> list[list[str]]:
    """One row per settlement and plan (or one plan-less row), ordered by settlement and plan, so
    the export depends only on what was received, never on how it arrived."""
    s, c, e = Settlement._meta.db_table, Claim._meta.db_table, LedgerEntry._meta.db_table
    sql = (
        f"SELECT s.settlement_id, s.id_cipher, c.plan_code, c.base_amount, "
        f"COALESCE(n.net, 0), c.reason "
        f'FROM "{s}" s JOIN "{c}" c ON c.settlement_id = s.id '
        f'LEFT JOIN (SELECT claim_id, SUM(amount) AS net FROM "{e}" GROUP BY claim_id) n '
        f"ON n.claim_id = c.id WHERE s.reverses = ''"
    )
    params: list[Any] = []
    if plan_code is not None:
        sql += " AND c.plan_code = %s"
        params.append(plan_code)
    sql += " ORDER BY s.settlement_id, c.plan_code"
    v = vault()
    cache: dict[str, str] = {}
    rows: list[list[str]] = []
    with connection.cursor() as cur:
        cur.execute(sql, params)
        while batch := cur.fetchmany(50_000):
            for sid, cipher, code, base, net, reason in batch:
                number = cache.get(cipher)
                if number is None:
                    number = cache[cipher] = v.decrypt(cipher)
                payable = Decimal(str(net)).quantize(CENT)
                rows.append(
                    [sid, number, code, _two(base), str(payable), "" if payable > 0 else reason]
                )
    return rows


def payouts_export(out: Path, *, plan_code: str | None = None) -> int:
    """Write the payouts CSV, all or nothing (core.files.atomic_write)."""
    rows = payout_rows(plan_code)
    with atomic_write(out) as fh:
        writer = csv.writer(fh)
        writer.writerow(PAYOUT_HEADER)
        writer.writerows(rows)
    return len(rows)
