"""`huzhu export payouts`: net payouts per stay and plan (INTERFACES.md "payouts").

Each stay once: a bureau settlement under its `settlement_id` (with the claim filed by hand for
the same stay, if any, which the settlement took over), and a claim filed by hand and approved
whose stay the bureau has not sent (yet) under its own key: its `settlement_id` as filed, or
`C<claim id>`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import connection

from huzhu.core import sheets
from huzhu.core.files import atomic_write
from huzhu.core.pii import vault
from huzhu.members.models import Member
from huzhu.protection.models import Claim, ClaimSource, ClaimState, LedgerEntry
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
    m = Member._meta.db_table
    net = f'LEFT JOIN (SELECT claim_id, SUM(amount) AS net FROM "{e}" GROUP BY claim_id) n '
    bureau = (
        f"SELECT s.settlement_id AS sid, s.id_cipher, c.plan_code, c.base_amount, "
        f"COALESCE(n.net, 0), c.reason "
        f'FROM "{s}" s JOIN "{c}" c ON c.settlement_id = s.id {net}'
        f"ON n.claim_id = c.id WHERE s.reverses = ''"
    )
    # Claims filed by hand and approved whose stay no bureau settlement has taken over.
    by_hand = (
        f"SELECT CASE WHEN c.stay_ref <> '' THEN c.stay_ref "
        f"ELSE 'C' || CAST(c.id AS VARCHAR(20)) END AS sid, "
        f"m.id_cipher, c.plan_code, c.base_amount, COALESCE(n.net, 0), c.reason "
        f'FROM "{c}" c JOIN "{m}" m ON m.id = c.member_id {net}'
        f"ON n.claim_id = c.id WHERE c.source = '{ClaimSource.APPLICATION.value}' "
        f"AND c.settlement_id IS NULL AND c.disability_grade IS NULL "
        f"AND c.state IN ('{ClaimState.APPROVED.value}', '{ClaimState.PAID.value}')"
    )
    params: list[Any] = []
    if plan_code is not None:
        bureau += " AND c.plan_code = %s"
        by_hand += " AND c.plan_code = %s"
        params += [plan_code, plan_code]
    sql = f"SELECT * FROM ({bureau} UNION ALL {by_hand}) rows ORDER BY 1, 3"
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
    """Write the payouts CSV, all or nothing (core.files.atomic_write); cells through
    core.sheets, so a settlement id from the bureau's file is never a formula."""
    rows = payout_rows(plan_code)
    with atomic_write(out) as fh:
        writer = sheets.csv_writer(fh)
        writer.writerow(PAYOUT_HEADER)
        writer.writerows(rows)
    return len(rows)
