"""Telling a lost database connection from a bug."""

from __future__ import annotations

from contextlib import suppress

from django.db import DatabaseError, InterfaceError, connection


def database_lost(exc: BaseException) -> bool:
    """The database went away (restarted, connection cut), as opposed to a bug in a query.

    SQLSTATE class 08 is a connection exception and 57P01-57P03 a server shutting down; a
    connection that Django has closed after failing to roll back, or that no longer answers,
    is lost too (psycopg reports "server closed the connection" with no SQLSTATE)."""
    if isinstance(exc, InterfaceError):
        return True
    state = getattr(exc.__cause__, "sqlstate", None) or ""
    if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return True
    return connection.vendor == "postgresql" and (
        connection.connection is None or not connection.is_usable()
    )


def drop_lost_connection() -> None:
    """Close a lost connection now, so that the next query opens a new one (Django also does at
    the end of a request, but not in its test client, nor for work later in this request)."""
    with suppress(DatabaseError):  # closing what is already gone
        connection.close()
