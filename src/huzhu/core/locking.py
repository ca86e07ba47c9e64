"""The one way huzhu locks: only what is scarce, in a fixed order, with a short timeout, and a
timeout (or deadlock, or a locked SQLite file) becomes `Busy` — a 503 `busy` that says "try again"
— never a hang or a 500 (pretix's rule).

- `locked_rows(queryset)`: SELECT … FOR UPDATE of some rows, in primary-key order (or the
  one order the caller names for that table).
- `advisory_lock(key, sub)`: a transaction-scoped PostgreSQL advisory lock on a name (an
  import, a member's ledger), shared or exclusive.
- `busy_on_lock_failure()`: wraps any statement that may wait for a lock.
- `short_locks()`: the body of a transaction whose statements wait for scarce rows (an UPDATE
  of a quota, several row locks): the short timeout is set once, and a lock failure anywhere
  inside is Busy; `locked_rows` and `locked_row` inside it leave both to the block.

All of them need an open transaction (`transaction.atomic()`), whose end releases the locks.
SQLite has no row locks: huzhu opens its write transactions IMMEDIATE (core.config), so
writers queue on the file instead, and a wait past the file's timeout is Busy too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from django.db import DatabaseError, OperationalError, connection
from django.db.models import Model, OrderBy, QuerySet
from django.utils.translation import gettext_lazy

from huzhu.core.errors import Busy

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

M = TypeVar("M", bound=Model)
BUSY = gettext_lazy("系统繁忙，请稍后重试")

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
def busy_on_lock_failure(message: StrOrPromise = BUSY) -> Iterator[None]:
    """A lock timeout, deadlock or serialization failure inside → `Busy(message)` (a lazy
    message is translated when raised)."""
    try:
        yield
    except (OperationalError, DatabaseError) as exc:
        if is_lock_failure(exc):
            raise Busy(str(message)) from None
        raise


def set_lock_timeout(timeout: str | None = None) -> None:
    """Wait at most `timeout` (LOCK_TIMEOUT as it is now) for any lock for the rest of this
    transaction (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{timeout or LOCK_TIMEOUT}'")


# Set inside `short_locks`: the timeout is set and failures are answered for the whole block.
_in_short_locks: ContextVar[bool] = ContextVar("huzhu_in_short_locks", default=False)


@contextmanager
def short_locks(message: StrOrPromise = BUSY) -> Iterator[None]:
    """The body of a transaction that waits for scarce rows: the short timeout, set once for
    the rest of the transaction, and `Busy(message)` for a lock failure anywhere inside."""
    with busy_on_lock_failure(message):
        set_lock_timeout()
        token = _in_short_locks.set(True)
        try:
            yield
        finally:
            _in_short_locks.reset(token)


@contextmanager
def _waiting() -> Iterator[None]:
    """Around one lock: the timeout and Busy, unless a `short_locks` block gives them."""
    if _in_short_locks.get():
        yield
        return
    set_lock_timeout()
    with busy_on_lock_failure():
        yield


def locked_rows(
    queryset: QuerySet[M],
    *,
    of_self: bool = True,
    order_by: Sequence[str | OrderBy] = ("pk",),
    limit: int | None = None,
) -> list[M]:
    """The rows of `queryset` (the first `limit` of them), locked FOR UPDATE in primary-key
    order, or in `order_by`: the one order of that table, so that two transactions never wait
    for each other in a circle. With the short timeout. `of_self=False` locks the rows of the
    tables it joins too."""
    qs = queryset.order_by(*order_by)
    locking = qs.select_for_update(of=("self",)) if of_self else qs.select_for_update()
    if limit is not None:
        locking = locking[:limit]
    with _waiting():
        return list(locking)


def locked_row(queryset: QuerySet[M], pk: object, *, of_self: bool = True) -> M:
    """One row by primary key, locked; `DoesNotExist` as Django raises it."""
    locking = queryset.select_for_update(of=("self",)) if of_self else queryset.select_for_update()
    with _waiting():
        return locking.get(pk=pk)


def advisory_lock(
    key: int,
    sub: int | None = None,
    *,
    shared: bool = False,
    timeout: str | None = None,
    message: StrOrPromise = BUSY,
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
