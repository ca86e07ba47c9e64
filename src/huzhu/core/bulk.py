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


def lookup_many(
    table: str, key: str, value: str | Sequence[str], keys: Iterable[Any], *, where: str = ""
) -> dict[Any, Any]:
    """key -> value(s) for the given keys. Scans the table once when the keys cover much of it,
    else asks in chunks; raw SQL, because building ORM queries with thousands of values is slow."""
    wanted = set(keys)
    wanted.discard(None)
    wanted.discard("")
    if not wanted:
        return {}
    cols = [value] if isinstance(value, str) else list(value)
    select = ", ".join(f'"{c}"' for c in [key, *cols])
    single = isinstance(value, str)
    found: dict[Any, Any] = {}
    extra = f" AND ({where})" if where else ""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        (total,) = cursor.fetchone()
        if total <= 4 * len(wanted):
            cursor.execute(f'SELECT {select} FROM "{table}" WHERE 1=1{extra}')
            while batch := cursor.fetchmany(50_000):
                for k, *rest in batch:
                    if k in wanted:
                        found[k] = rest[0] if single else tuple(rest)
        else:
            chunk = list(wanted)
            for start in range(0, len(chunk), 900):
                part = chunk[start : start + 900]
                marks = ", ".join(["%s"] * len(part))
                cursor.execute(
                    f'SELECT {select} FROM "{table}" WHERE "{key}" IN ({marks}){extra}', part
                )
                for k, *rest in cursor.fetchall():
                    found[k] = rest[0] if single else tuple(rest)
    return found
