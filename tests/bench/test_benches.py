"""Every benchmark in bench/ runs at a tiny size, end to end, in the suite: on SQLite in
`make test`, on PostgreSQL in `make test-pg` (and the flash crowd, which needs PostgreSQL and a
server, only there). A benchmark that nothing runs rots: its figures in the README could then be
reproduced by nobody. Each must exit 0 and print its ratio against the baseline it measured in
the same run; the figures themselves are not asserted (the machine is shared and noisy)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]

# Each script at a size of seconds, and a line its output must have.
TINY = {
    "roster_import": (["--members", "300"], "ratio import/floor:"),
    "stations": (["--stations", "300", "--queries", "5"], "ratio (mean)"),
    "stats": (["--entries", "3000", "--members", "300", "--units", "10"], "by direct recount ("),
    "waiting_phones": (["--requests", "30"], "ratio polling/booking (CPU over the sell-out):"),
    "settlements": (
        ["--members", "500", "--settlements", "200", "--sample", "20"],
        "ratio import/floor:",
    ),
}


def _pg_admin_url() -> str | None:
    """The PostgreSQL server of this test run (its `postgres` database), or None on SQLite."""
    if connection.vendor != "postgresql":
        return None
    url = os.environ["DATABASE_URL"]
    return urlunparse(urlparse(url)._replace(path="/postgres"))


@pytest.fixture(scope="module", autouse=True)
def _drop_bench_databases() -> object:
    """The databases the benchmarks made on PostgreSQL go when the module is done."""
    yield
    admin = _pg_admin_url()
    if admin is None:
        return
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        names = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            [f"huzhu\\_bench\\_%\\_t{os.getpid()}"],
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_bench(script: str, *args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "HUZHU_BENCH_DB_SUFFIX": f"_t{os.getpid()}",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)  # each benchmark makes its own database
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{script}.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.parametrize("script", list(TINY))
def test_every_benchmark_runs_at_a_tiny_size_and_prints_its_ratio(script: str) -> None:
    args, says = TINY[script]
    admin = _pg_admin_url()
    if admin is not None:
        args = [*args, "--database-url", admin]
    out = run_bench(script, *args)
    assert says in out, out[-2000:]


def _two_free_ports() -> int:
    """A port free on this machine whose next port is free too (the second server's)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two free ports in a row")


@pytest.mark.postgres
def test_the_flash_crowd_runs_at_a_tiny_size_and_prints_its_ratios() -> None:
    admin = _pg_admin_url()
    assert admin is not None
    port = _two_free_ports()
    database = urlunparse(urlparse(admin)._replace(path=f"/huzhu_bench_crowd_t{os.getpid()}"))
    out = run_bench(
        "flash_crowd",
        "--pg-url",
        database,
        "--members",
        "200",
        "--quota",
        "80",
        "--workers",
        "1",
        "--servers",
        "2",
        "--concurrency",
        "8",
        "--pgbench-clients",
        "4",
        "--port",
        str(port),
    )
    assert "huzhu / pgbench floor" in out and "0 oversold             yes" in out, out[-2000:]
    # Two servers on the one database, against one with as many workers, in the same run.
    assert "huzhu, 1 server x 2 workers" in out and "huzhu, 2 servers x 1 workers" in out
    assert "2 servers x 1 workers / 1 server x 2 workers" in out, out[-2000:]


def test_the_page_weight_of_the_public_pages_is_measured_as_huzhu_serve_serves_them() -> None:
    """bench/lighthouse.py without Lighthouse (which needs npx and the npm registry): the bytes
    a phone downloads, gzipped, against the same page and files uncompressed."""
    out = run_bench("lighthouse", "--bytes-only", "--pages", "/m/login/")
    assert "/m/login/" in out and "x)" in out, out[-2000:]
