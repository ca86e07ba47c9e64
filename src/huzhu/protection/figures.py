"""The enrolment figures (EnrollmentFigures), as the database's triggers keep them, recounted
from the enrolments themselves: to rebuild them and to check them."""

from __future__ import annotations

from django.db import connection

from huzhu.protection.models import Enrollment, EnrollmentFigures

FigureKey = tuple[int, int, str]  # version, unit, payer
FigureValue = tuple[int, int]  # members, amount in fen


def _recount_sql() -> str:
    return (
        "SELECT version_id, unit_id, payer, COUNT(*), "
        "SUM(CAST(ROUND(amount * 100) AS BIGINT)) "
        f'FROM "{Enrollment._meta.db_table}" GROUP BY version_id, unit_id, payer'
    )


def figures_recounted() -> dict[FigureKey, FigureValue]:
    with connection.cursor() as cur:
        cur.execute(_recount_sql())
        return {(v, u, p): (int(n), int(fen)) for v, u, p, n, fen in cur.fetchall()}


def figures_stored() -> dict[FigureKey, FigureValue]:
    """The stored figures; a row brought back to nothing (its enrolments deleted) is none."""
    return {
        (v, u, p): (n, fen)
        for v, u, p, n, fen in EnrollmentFigures.objects.values_list(
            "version_id", "unit_id", "payer", "members", "amount_fen"
        )
        if (n, fen) != (0, 0)
    }


def figures_rebuild() -> int:
    """Replace the figures by a recount (in the caller's transaction); the rows written."""
    table = EnrollmentFigures._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        cur.execute(f'DELETE FROM "{table}"')
        cur.execute(
            f'INSERT INTO "{table}" (version_id, unit_id, payer, members, amount_fen) '
            + _recount_sql()
        )
        return int(cur.rowcount)
