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


def fetchone(
    sql: str, params: Sequence[Any] | dict[str, Any], *, lock_timeout: str | None = None
) -> tuple[Any, ...] | None:
    """The first row of `sql` (%s or %(name)s placeholders), or None. With `lock_timeout`, the
    statement waits at most that long for a lock: the setting is sent ahead of it in the same
    round trip and lasts until the end of its transaction (the statement itself, outside one)."""
    with connection.cursor() as cur:
        if connection.vendor != "postgresql":
            cur.execute(sql, params)
            return cur.fetchone()
        started = time.monotonic()
        conn = cur.connection
        try:
            row = _run(conn, sql, params, lock_timeout)
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
    conn: psycopg.Connection[Any],
    sql: str,
    params: Sequence[Any] | dict[str, Any],
    lock_timeout: str | None,
) -> tuple[Any, ...] | None:
    with connection.wrap_database_errors:
        if lock_timeout is None:
            raw = psycopg.Cursor(conn)
            raw.execute(sql, params, prepare=True)
            return raw.fetchone()
        # Pipelined: both reach the server before the first answer comes back, and run in one
        # implicit transaction up to the pipeline's Sync.
        with conn.pipeline():
            setting = psycopg.Cursor(conn)
            setting.execute(
                "SELECT set_config('lock_timeout', %s, true)", [lock_timeout], prepare=True
            )
            raw = psycopg.Cursor(conn)
            raw.execute(sql, params, prepare=True)
        return raw.fetchone()
