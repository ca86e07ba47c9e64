"""Bulk writes: one statement per table, COPY on PostgreSQL and executemany on SQLite."""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

import polars as pl
from django.db import connection

log = logging.getLogger(__name__)


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
        elif len(wanted) > 20_000:
            kind = "TEXT" if isinstance(next(iter(wanted)), str) else "BIGINT"
            keys = temp_keys("_lookup_keys", wanted, sql_type=kind)
            sel = ", ".join(f't."{c}"' for c in [key, *cols])
            cursor.execute(
                f'SELECT {sel} FROM "{table}" t JOIN "{keys}" k ON k.k = t."{key}"'
                f"{' WHERE ' + where if where else ''}"
            )
            while batch := cursor.fetchmany(50_000):
                for k, *rest in batch:
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


# -- whole DataFrames in and out ------------------------------------------------------------------

_NULL = "\\N"


def fen_text(expr: pl.Expr) -> pl.Expr:
    """Integer fen → exact yuan text with two places (`-1234` → `-12.34`), for bulk writes."""
    sign = pl.when(expr < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    absolute = expr.abs()
    return pl.concat_str(
        [
            sign,
            (absolute // 100).cast(pl.String),
            pl.lit("."),
            (absolute % 100).cast(pl.String).str.zfill(2),
        ]
    )


def frame_csv(df: pl.DataFrame) -> bytes | None:
    """`df` as the CSV that `insert_frame` sends to COPY, to build it ahead of the COPY (while
    a `Background` job writes something else); None on SQLite, which has no COPY."""
    return _csv(df) if is_postgres() else None


def _csv(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_csv(buf, include_header=False, null_value=_NULL)
    return buf.getvalue()


def insert_frame(
    table: str, df: pl.DataFrame, *, conn: Any = None, csv: bytes | None = None
) -> int:
    """Insert every row of `df` (its column names are the table's) in one statement: COPY on
    PostgreSQL, executemany on SQLite.

    `conn`: a psycopg connection to use instead of Django's (a `Background` job's);
    `csv`: `frame_csv(df)`, when the caller built it already."""
    if df.height == 0:
        return 0
    cols = ", ".join(f'"{c}"' for c in df.columns)
    pg = _pg(conn)
    if pg is not None:
        payload = csv if csv is not None else _csv(df)
        sql = f"COPY \"{table}\" ({cols}) FROM STDIN WITH (FORMAT csv, NULL '{_NULL}')"
        with _wrapped(conn), pg.cursor() as raw, raw.copy(sql) as copy:
            copy.write(payload)
        return df.height
    marks = ", ".join(["%s"] * df.width)
    sql = f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'
    with connection.cursor() as cursor:
        for start in range(0, df.height, 100_000):
            cursor.executemany(sql, df.slice(start, 100_000).rows())
    return df.height


def update_frame(table: str, key: str, df: pl.DataFrame, *, conn: Any = None) -> int:
    """UPDATE table SET <other columns> FROM df WHERE table.key = df.key, in bulk."""
    if df.height == 0:
        return 0
    columns = [c for c in df.columns if c != key]
    pg = _pg(conn)
    if pg is not None:
        cols_sql = ", ".join(f'"{c}"' for c in df.columns)
        with _wrapped(conn):
            pg.execute(
                f'CREATE TEMP TABLE "_upd_{table}" ON COMMIT DROP AS '
                f'SELECT {cols_sql} FROM "{table}" WITH NO DATA'
            )
        insert_frame(f"_upd_{table}", df, conn=conn)
        analyze_temp(f"_upd_{table}", conn=conn)
        sets = ", ".join(f'"{c}" = u."{c}"' for c in columns)
        with _wrapped(conn):
            pg.execute(
                f'UPDATE "{table}" t SET {sets} FROM "_upd_{table}" u WHERE t."{key}" = u."{key}"'
            )
            pg.execute(f'DROP TABLE "_upd_{table}"')
        return df.height
    sets = ", ".join(f'"{c}" = %s' for c in columns)
    sql = f'UPDATE "{table}" SET {sets} WHERE "{key}" = %s'
    ordered = df.select([*columns, key])
    with connection.cursor() as cursor:
        for start in range(0, ordered.height, 100_000):
            cursor.executemany(sql, ordered.slice(start, 100_000).rows())
    return df.height


def query_frame(
    sql: str, params: Sequence[Any], schema: dict[str, Any], *, conn: Any = None
) -> pl.DataFrame:
    """Run a SELECT and return its rows as a DataFrame (COPY out as CSV on PostgreSQL).
    `conn`: as for `insert_frame`."""
    pg = _pg(conn)
    if pg is not None:
        buf = io.BytesIO()
        with (
            _wrapped(conn),
            pg.cursor() as raw,
            raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, NULL '{_NULL}')", params) as copy,
        ):
            for block in copy:
                buf.write(block)
        if buf.tell() == 0:
            return pl.DataFrame(schema=_real_schema(schema))
        buf.seek(0)
        text_schema = {k: pl.String for k in schema}
        df = pl.read_csv(
            buf,
            has_header=False,
            new_columns=list(schema),
            schema_overrides=text_schema,
            null_values=[_NULL],
            infer_schema=False,
        )
        return _cast_text(df, schema)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return pl.DataFrame(schema=_real_schema(schema))
    df = pl.DataFrame(rows, schema=list(schema), orient="row", infer_schema_length=None)
    return _cast_text(df, schema)


def _real_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: pl.Int64 if v == "fen" else v for k, v in schema.items()}


def _cast_text(df: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name)
        if dtype == pl.Date:
            exprs.append(col.cast(pl.String).str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d"))
        elif dtype == pl.Boolean:
            exprs.append(col.cast(pl.String).is_in(["t", "true", "1", "True"]))
        elif dtype == "fen":
            # Money as exact integer fen: PostgreSQL sends exact text; SQLite stores NUMERIC
            # as binary floating point, exact to the fen when rounded at this scale.
            if df.schema[name] == pl.String:
                fen = (col.cast(pl.Decimal(20, 2)) * 100).cast(pl.Int64)
            else:
                fen = (col.cast(pl.Float64) * 100).round(0).cast(pl.Int64)
            exprs.append(fen.alias(name))
        else:
            exprs.append(col.cast(dtype))
    return df.select(exprs)


def temp_frame(name: str, df: pl.DataFrame, columns_sql: str, *, conn: Any = None) -> str:
    """A temporary table `name(columns_sql)` holding the rows of `df`, to join against instead
    of building huge IN lists. Dropped at commit on PostgreSQL; replaced on each call.

    Rows go in sorted by the first column, so a primary key there is filled from its right
    edge (random keys into a big b-tree thrash the small temp_buffers); the table is analysed,
    so the planner knows its size when joining. `conn`: as for `insert_frame`."""
    pg = _pg(conn)
    if pg is not None:
        with _wrapped(conn):
            pg.execute(f'DROP TABLE IF EXISTS "{name}"')
            pg.execute(f'CREATE TEMP TABLE "{name}" ({columns_sql}) ON COMMIT DROP')
    else:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
            cursor.execute(f'CREATE TEMP TABLE "{name}" ({columns_sql})')
    insert_frame(name, df.sort(df.columns[0]), conn=conn)
    analyze_temp(name, conn=conn)
    return name


def temp_keys(
    name: str,
    values: Iterable[Any] | pl.Series,
    *,
    sql_type: str = "BIGINT",
    indexed: bool = True,
    conn: Any = None,
) -> str:
    """`temp_frame` of one distinct-key column `k`. `indexed=False` leaves out its primary key
    on PostgreSQL: for a table that is only ever the side of a hash join or the outer side of a
    nested loop, the index is work for nothing (a third of a million-key table's cost)."""
    keys = values if isinstance(values, pl.Series) else pl.Series("k", list(values))
    unique = keys.alias("k").drop_nulls().unique()
    # SQLite's planner has no hash join: there the index is kept.
    indexed = indexed or _pg(conn) is None
    column = f"k {sql_type} PRIMARY KEY" if indexed else f"k {sql_type} NOT NULL"
    return temp_frame(name, unique.to_frame(), column, conn=conn)


def analyze_temp(name: str, *, conn: Any = None) -> None:
    """Give the planner a temporary table's statistics (autovacuum never analyses them)."""
    pg = _pg(conn)
    if pg is not None:
        with _wrapped(conn):
            pg.execute(f'ANALYZE "{name}"')


def _psycopg() -> Any:
    """The psycopg connection under Django's (in its current transaction)."""
    connection.ensure_connection()
    return connection.connection


def _pg(conn: Any) -> Any:
    """The psycopg connection to write with: `conn` (a `Background` job's), else Django's on
    PostgreSQL; None on SQLite."""
    if conn is not None:
        return conn
    return _psycopg() if is_postgres() else None


def _wrapped(conn: Any) -> Any:
    """Django's database errors for psycopg's, as its own cursors raise them; a `Background`
    job's are translated when the caller collects them (Django's connection object, which
    does it, belongs to the caller's thread)."""
    return connection.wrap_database_errors if conn is None else contextlib.nullcontext()


class Background:
    """Database work of the current transaction, run on threads of their own while the caller
    computes (two cores: PostgreSQL writes while Python prepares the next step).

        with transaction.atomic(), Background() as bg:
            stored = bg.submit(store_rows, frame)      # the job gets conn=<psycopg connection>
            result = compute(...)                      # meanwhile
            bg.result(stored)

    `submit`: jobs run in order on the transaction's own psycopg connection, and must use only
    the `conn` they get (helpers here take `conn=`): Django's connection object belongs to the
    calling thread. While a job runs, the caller's own queries wait for it (psycopg serialises
    a connection's use).

    `submit_read`: a job that reads only what was committed before the transaction began its
    work (never the transaction's own writes). With `reads_apart`, such jobs run in order on a
    second connection, each in a short transaction of its own, beside the writing jobs; the
    caller passes it only when nothing uncommitted precedes the block (not inside an outer
    `atomic`, whose writes a second connection could not see). Without it they are `submit`ted.

    A job that fails fails the jobs queued after it, on both connections; the first error is
    raised by `bg.result(job)` or at the end of the block, which waits for every job before the
    transaction ends.

    On SQLite (one connection per thread, and nothing to overlap) jobs run at once, in the
    caller's thread, with `conn=None`."""

    def __init__(self, *, reads_apart: bool = False) -> None:
        self._reads_apart = reads_apart
        self._pool: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._conn: Any = None
        self._reader_conn: Any = None
        self._failed: BaseException | None = None
        self._reported = False  # the failure was raised to the caller already
        self._lock = threading.Lock()

    def __enter__(self) -> Background:
        if is_postgres():
            self._conn = _psycopg()
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huzhu-db")
            if self._reads_apart:
                try:
                    self._reader_conn = connection.get_new_connection(
                        connection.get_connection_params()
                    )
                except Exception:  # no connection to spare: every job on this one, slower
                    log.warning("no second database connection; reading on the first one")
                    return self
                self._reader_conn.autocommit = True  # each job opens its own transaction
                self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huzhu-read")
        return self

    def submit(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `job(*args, conn=..., **kwargs)` after the jobs submitted before it."""
        if self._pool is None:
            return self._inline(job, *args, **kwargs)

        def write() -> Any:
            return job(*args, conn=self._conn, **kwargs)

        return self._pool.submit(self._guarded(job, args, write))

    def submit_read(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run a reading job (see the class), beside the writing ones when reads are apart."""
        if self._reader is None:
            return self.submit(job, *args, **kwargs)
        conn = self._reader_conn

        def read() -> Any:
            with conn.transaction():  # its temporary tables live until the job ends
                return job(*args, conn=conn, **kwargs)

        return self._reader.submit(self._guarded(job, args, read))

    def _inline(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        # Run at once: a failure is raised here, to the caller, as Django's own statement would
        # (kept in a future nobody waits for, it was lost and the transaction committed).
        done: Future[Any] = Future()
        done.set_result(job(*args, conn=None, **kwargs))
        return done

    def _guarded(
        self, job: Callable[..., Any], args: tuple[Any, ...], call: Callable[[], Any]
    ) -> Callable[[], Any]:
        # Logged as the job's name and, for the helpers here, the table it works on.
        name = getattr(job, "__name__", "job")
        label = f"{name} {args[0]}" if args and isinstance(args[0], str) else name

        def run() -> Any:
            with self._lock:
                if self._failed is not None:
                    raise RuntimeError("an earlier database job of this transaction failed")
            start = time.perf_counter()
            try:
                return call()
            except BaseException as exc:
                with self._lock:
                    self._failed = self._failed or exc
                raise
            finally:
                log.debug("background %s %.3f s", label, time.perf_counter() - start)

        return run

    def result(self, job: Future[Any]) -> Any:
        """Wait for a job and return what it returned, or raise its error (as Django would)."""
        try:
            return job.result()
        except BaseException as exc:
            if exc is self._failed:
                self._reported = True
            with connection.wrap_database_errors:
                raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pool is None:
            return
        # After an error here, the jobs not started yet are dropped (the transaction is lost).
        for pool in (self._reader, self._pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=kind is not None)
        if self._reader_conn is not None:
            self._reader_conn.close()
        if self._failed is not None and not self._reported:
            # A failed job is the cause of what the caller ran into after it (its statements
            # then met an aborted transaction), so its error is the one raised.
            with connection.wrap_database_errors:
                raise self._failed from error
