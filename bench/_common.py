"""Shared set-up for benchmarks: a throwaway database (SQLite or PostgreSQL), Django, timing."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
        db_name = f"huzhu_bench_{name}"
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
