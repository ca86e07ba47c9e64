"""Shared set-up for benchmarks: a throwaway database (SQLite or PostgreSQL), Django, timing."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse


def setup_database(database_url: str | None, name: str) -> str:
    """Point huzhu at a fresh database: a new SQLite file, or a recreated PostgreSQL database."""
    home = Path(tempfile.mkdtemp(prefix=f"huzhu-bench-{name}-"))
    os.environ["HUZHU_HOME"] = str(home)
    if database_url:
        parts = urlparse(database_url)
        # HUZHU_BENCH_DB_SUFFIX keeps runs of the test suite apart from each other and from a
        # real benchmark on the same server.
        db_name = f"huzhu_bench_{name}{os.environ.get('HUZHU_BENCH_DB_SUFFIX', '')}"
        admin_url = urlunparse(parts._replace(path="/postgres"))
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name}"')
        os.environ["DATABASE_URL"] = urlunparse(parts._replace(path=f"/{db_name}"))
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huzhu.settings")
    import django

    django.setup()
    from huzhu.cli import ensure_migrated

    ensure_migrated()
    from django.db import connection

    return connection.vendor


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start
    print(f"  {label}: {results[label]:.2f} s", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def model_rows(
    model: Any, given: Sequence[str], rows: Iterable[Sequence[Any]]
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Every column of `model`'s table (but its primary key) and the rows to write in them:
    the `given` columns as in `rows`, every other one its field's default. A benchmark that
    writes a table directly then keeps working when the model gains a column with a default,
    and fails at once, naming the column, when it gains one without (the tiny-size runs in the
    test suite see it first)."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    unknown = set(given) - set(columns)
    if unknown:
        raise SystemExit(f"{model._meta.db_table} has no column {', '.join(sorted(unknown))}")
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.column in given:
            continue
        if f.has_default():
            defaults[f.column] = f.get_db_prep_save(f.get_default(), connection=None)
        elif f.null:
            defaults[f.column] = None
        else:
            raise SystemExit(
                f"{model._meta.db_table}.{f.column} has no default: give it a value in the "
                "benchmark"
            )
    position = {c: i for i, c in enumerate(given)}

    def full(row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(row[position[c]] if c in position else defaults[c] for c in columns)

    return columns, (full(row) for row in rows)
