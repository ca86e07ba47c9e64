"""Django's PostgreSQL backend, with two changes for hot paths and one for flushing.

Server-side prepared statements are allowed on the connection (psycopg's `prepare_threshold`),
for the few queries that ask for them through huzhu.core.prepared; Django's own cursors bind on
the client and never prepare, so nothing else changes. `prepare_threshold` in the database
OPTIONS still wins (set it to None behind a transaction-pooling PgBouncer).

A persistent connection used within the last second is not health-checked again.

With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of every request: one
more round trip for each of a flash crowd's 40,000 requests. A connection that answered a
moment ago is as healthy as that check would find it; should the server go away within that
second, the requests then in flight fail in any case, and Django drops the broken connection at
the end of the request as it always does.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.backends.postgresql import base, operations

RECENT_SECONDS = 1.0


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self, style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False
    ) -> list[str]:
        """Django's flush (tests, a deliberate reset) empties tables with TRUNCATE, which the
        append-only tables refuse (core.append_only.refuse_truncate) unless the transaction
        says so."""
        statements = super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if not statements:
            return statements
        return ["SET LOCAL huzhu.allow_truncate = 'on';", *statements]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _used_at = float("-inf")

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if "prepare_threshold" not in self.settings_dict["OPTIONS"]:
            params["prepare_threshold"] = 5  # psycopg's default
        return params

    def close_if_health_check_failed(self) -> None:
        # Called before every cursor is made: the time of the previous call is the last use.
        now = time.monotonic()
        if self.connection is not None and now - self._used_at < RECENT_SECONDS:
            self.health_check_done = True
        self._used_at = now
        super().close_if_health_check_failed()
