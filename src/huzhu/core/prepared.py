"""Hot queries as server-side prepared statements on PostgreSQL.

Django's psycopg cursors bind parameters on the client, so PostgreSQL parses and plans every
query again: for the bearer-token lookup (five tables) and the FCFS booking statement that
planning costs as much as running them. A query run through here is prepared once per
connection and then only executed. Elsewhere (SQLite) it runs as usual.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import DatabaseError, connection


def fetchone(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple[Any, ...] | None:
    """The first row of `sql` (%s or %(name)s placeholders), or None.

    A statement that needs a setting sets it itself (see the FCFS booking's lock timeout): a
    psycopg pipeline sending the setting ahead cost more client CPU than the statement."""
    with connection.cursor() as cur:
        if connection.vendor != "postgresql":
            cur.execute(sql, params)
            return cur.fetchone()
        started = time.monotonic()
        conn = cur.connection
        try:
            row = _run(conn, sql, params)
        except DatabaseError:
            if conn.broken:
                # As Django's atomic() does: drop a lost connection so that the next query
                # (a retry, or the caller's cleanup) connects again instead of failing too.
                connection.close()
            raise
        if connection.queries_logged:  # as Django's debug cursor would, for query counts
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
        return row


def _run(
    conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] | dict[str, Any]
) -> tuple[Any, ...] | None:
    with connection.wrap_database_errors:
        raw = psycopg.Cursor(conn)
        raw.execute(sql, params, prepare=True)
        return raw.fetchone()
