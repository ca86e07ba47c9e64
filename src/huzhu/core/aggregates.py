"""Aggregates that keep money exact on every database.

SQLite stores and sums DECIMAL columns as floating point: `SUM(amount)` over 2.01 and -2.00 gives
0.00999999999999979, and Django hands that back as a Decimal. `MoneySum` sums whole fen there
instead (each amount rounded to the fen, as stored, then added as integers) and gives yuan with
two places back; on PostgreSQL, whose numeric sums are exact, it is a plain SUM.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, Sum

CENT = Decimal("0.01")


class MoneySum(Sum):
    """SUM of a money column (yuan, two places), exact to the fen on SQLite and PostgreSQL."""

    output_field = DecimalField(max_digits=20, decimal_places=2)

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="SUM(CAST(ROUND(%(expressions)s * 100) AS INTEGER))",
            **extra_context,
        )

    def get_db_converters(self, connection: Any) -> list[Any]:
        converters = super().get_db_converters(connection)
        if connection.vendor == "sqlite":
            return [*converters, _from_fen]
        return [*converters, _to_cent]


def _from_fen(value: Any, expression: Any, connection: Any) -> Decimal | None:
    return None if value is None else (Decimal(int(value)) / 100).quantize(CENT)


def _to_cent(value: Any, expression: Any, connection: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT)
