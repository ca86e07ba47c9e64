"""The one way huzhu locks: only what is scarce, in a fixed order, with a short timeout, and a
timeout (or deadlock, or a locked SQLite file) becomes `Busy` — a 503 `busy` that says "try again"
— never a hang or a 500 (pretix's rule).

- `locked_rows(queryset)`: SELECT … FOR UPDATE of some rows, in primary-key order.
- `advisory_lock(key, sub)`: a transaction-scoped PostgreSQL advisory lock on a name (an
  import, a member's ledger), shared or exclusive.
- `busy_on_lock_failure()`: wraps any statement that may wait for a lock.

All of them need an open transaction (`transaction.atomic()`), whose end releases the locks.
SQLite has no row locks: huzhu opens its write transactions IMMEDIATE (core.config), so
writers queue on the file instead, and a wait past the file's timeout is Busy too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import DatabaseError, OperationalError, connection
from django.db.models import Model, QuerySet

from huzhu.core.errors import Busy

M = TypeVar("M", bound=Model)

LOCK_TIMEOUT = "2s"
# Advisory lock names (PostgreSQL bigint keys).
SETTLEMENT_IMPORT = 784513  # one settlement import at a time; hand decisions take it shared
MEMBER_LEDGER = 784514  # (key, member id): one decision on a member's money at a time
# sqlstates of waiting too long, a deadlock, a serialization failure
_LOCK_FAILURES = frozenset({"55P03", "40P01", "40001"})


def is_lock_failure(exc: BaseException) -> bool:
    state = getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None)
    return state in _LOCK_FAILURES or "database is locked" in str(exc)


@contextmanager
def busy_on_lock_failure(message: str = "busy, try again") -> Iterator[None]:
    """A lock timeout, deadlock or serialization failure inside → `Busy(message)`."""
    try:
        yield
    except (OperationalError, DatabaseError) as exc:
        if is_lock_failure(exc):
            raise Busy(message) from None
        raise


def set_lock_timeout(timeout: str = LOCK_TIMEOUT) -> None:
    """Wait at most `timeout` for any lock for the rest of this transaction (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{timeout}'")


def locked_rows(queryset: QuerySet[M], *, of_self: bool = True) -> list[M]:
    """The rows of `queryset`, locked FOR UPDATE in primary-key order (the one order, so two
    transactions never wait for each other in a circle), with the short timeout."""
    set_lock_timeout()
    qs = queryset.order_by("pk")
    locking = qs.select_for_update(of=("self",)) if of_self else qs.select_for_update()
    with busy_on_lock_failure():
        return list(locking)


def locked_row(queryset: QuerySet[M], pk: object) -> M:
    """One row by primary key, locked; `DoesNotExist` as Django raises it."""
    set_lock_timeout()
    with busy_on_lock_failure():
        return queryset.select_for_update(of=("self",)).get(pk=pk)


def advisory_lock(
    key: int,
    sub: int | None = None,
    *,
    shared: bool = False,
    timeout: str = LOCK_TIMEOUT,
    message: str = "busy, try again",
) -> None:
    """A PostgreSQL advisory lock until the end of the transaction: on `key` (a fixed number
    naming what is locked), or on (`key`, `sub`) for one of many (`sub` is cast to int4, so
    take it modulo 2^31: a rare collision only makes two callers queue). Shared locks let
    each other in and keep exclusive ones out. No-op on SQLite (see above)."""
    if connection.vendor != "postgresql":
        return
    name = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    set_lock_timeout(timeout)
    with busy_on_lock_failure(message), connection.cursor() as cur:
        if sub is None:
            cur.execute(f"SELECT {name}(%s)", [key])
        else:
            cur.execute(f"SELECT {name}(%s, %s)", [key, sub % 2**31])
