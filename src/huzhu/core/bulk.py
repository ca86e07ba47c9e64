"""Bulk writes: one statement per table, COPY on PostgreSQL and executemany on SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert rows in the current transaction; returns how many."""
    count = 0
    with connection.cursor() as cursor:
        if is_postgres():
            cols = ", ".join(f'"{c}"' for c in columns)
            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            with raw.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cols = ", ".join(f'"{c}"' for c in columns)
            sql = f'INSERT INTO "{table}" ({cols}) VALUES ({placeholders})'
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= 50_000:
                    cursor.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
    return count


def bulk_update(table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """UPDATE table SET columns... WHERE key = last value of each row."""
    if not rows:
        return 0
    sets = ", ".join(f'"{c}" = %s' for c in columns)
    sql = f'UPDATE "{table}" SET {sets} WHERE "{key}" = %s'
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 50_000):
            cursor.executemany(sql, rows[start : start + 50_000])
    return len(rows)


def fetch_pairs(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
