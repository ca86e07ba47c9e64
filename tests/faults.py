"""Helpers of the fault-injection tests: a small city with money to pay, a disk that fills up, a
PostgreSQL connection cut from outside in the middle of a service, and the environment of a
worker process that is killed at a chosen point (tests/fault_worker.py)."""

from __future__ import annotations

import errno
import io
import itertools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
from django.conf import settings
from django.db import connection

from huzhu.members.roster import members_import
from huzhu.protection.enrollments import enrollments_import
from huzhu.protection.plans import plan_load_toml
from huzhu.settlement.services import settlements_import
from huzhu.settlement.synth import plan_toml, write_settlements
from tests.conftest import new_id_number

REPO = Path(__file__).resolve().parent.parent
ROSTER_HEADER = "id_number,name,unit_code,unit_name,district,phone,card_no,joined_on"


_cards = itertools.count(1)


def roster_csv(numbers: list[str], *, unit: str = "U1", cards: bool = True) -> bytes:
    """A roster of these ID numbers in one unit (named, so that the import creates it when it
    is new), each with a new card."""
    lines = [ROSTER_HEADER] + [
        f"{n},职工{i:04d},{unit},{unit}工会,,1390000{i:04d},{f'6222{next(_cards):012d}' if cards else ''},"
        "2020-01-01"
        for i, n in enumerate(numbers)
    ]
    return ("\n".join(lines) + "\n").encode()


def small_city(folder: Path, *, members: int = 40, settlements: int = 240, seed: int = 7) -> None:
    """Plans, a roster with cards, enrolments and a settlement file imported: approved claims
    whose payouts wait for a payment run."""
    for key in ("ZY_2026", "JT_2026"):
        plan_load_toml(plan_toml(key).encode(), file=f"{key}.toml")
    numbers = [new_id_number() for _ in range(members)]
    members_import(roster_csv(numbers), file="roster.csv")
    lines = ["id_number,plan_code,period_start"]
    lines += [f"{n},ZY,2026-01-01" for n in numbers] + [f"{n},JT,2026-01-01" for n in numbers[::2]]
    enrollments_import(("\n".join(lines) + "\n").encode(), file="enrollments.csv")
    path = folder / "settlements.csv"
    write_settlements(path, random.Random(seed), numbers, settlements)
    settlements_import(path.read_bytes(), file=path.name)


# -- a full disk ----------------------------------------------------------------------------------


class _Disk:
    def __init__(self, free: int):
        self.free = free


class _FillingFile(io.FileIO):
    """A file on a disk with little room: short writes until it is full, then ENOSPC, as the
    kernel answers."""

    disk: _Disk

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        if size and self.disk.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = min(size, self.disk.free)
        self.disk.free -= taken
        return super().write(memoryview(data)[:taken])


@contextmanager
def disk_full_after(free: int) -> Iterator[_Disk]:
    """Files that huzhu.core.files opens see a disk with `free` bytes left (shared by them all)."""
    disk = _Disk(free)
    real = os.fdopen

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" not in mode:
            return real(fd, mode, *args, **kwargs)
        raw = _FillingFile(fd, "w")
        raw.disk = disk
        buffered = io.BufferedWriter(raw)
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(
            buffered, encoding=kwargs.get("encoding"), newline=kwargs.get("newline")
        )

    with mock.patch("huzhu.core.files.os.fdopen", fdopen):
        yield disk


# -- a database connection cut from outside (PostgreSQL) ----------------------------------------


def second_connection(*, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection of its own to the test database, beside Django's (autocommit, unless it
    is to hold locks in a transaction of its own)."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        password=db["PASSWORD"] or None,
        autocommit=autocommit,
    )


def terminate_backend(pid: int) -> None:
    """pg_terminate_backend from a second connection, waiting until the backend has gone."""
    with second_connection() as admin:
        (gone,) = admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() or (
            False,
        )
        assert gone, f"backend {pid} did not terminate"


def cut_connection() -> None:
    """Cut this process's database connection now, in the middle of whatever it is doing."""
    raw = connection.connection
    assert raw is not None, "no open connection to cut"
    terminate_backend(raw.info.backend_pid)


def cut_before(target: Any, name: str, *, call: int = 1) -> Any:
    """Patch `target.name` so that its `call`-th call first cuts the connection (then runs,
    and fails as the real one would on a dropped connection)."""
    real: Callable[..., Any] = getattr(target, name)
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call:
            cut_connection()
        return real(*args, **kwargs)

    return mock.patch.object(target, name, wrapper)


# -- worker processes -----------------------------------------------------------------------------


def worker_env(home: Path) -> dict[str, str]:
    """The environment of a worker on the test's database: PostgreSQL's test database when the
    tests run there, else an SQLite file under `home` (its own HUZHU_HOME)."""
    env = dict(os.environ)
    env.update(
        HUZHU_PII_KEY=settings.HUZHU_PII_KEY,
        SECRET_KEY=settings.SECRET_KEY,
        HUZHU_HOME=str(home),
        HUZHU_SMS_BACKEND="huzhu.core.sms.MemoryBackend",
    )
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
    return env


class Worker:
    """Runs tests/fault_worker.py on the test's database, and reads that database from outside
    (its own connection, not Django's), as any other client would see it."""

    def __init__(self, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = worker_env(home)

    def _argv(self, args: tuple[str, ...], die_at: str | None) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.fault_worker",
            *(["--die-at", die_at] if die_at else []),
            *args,
        ]

    def run(self, *args: str, die_at: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._argv(args, die_at),
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def ok(self, *args: str) -> str:
        """Run to the end; its standard output."""
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def killed(self, *args: str, die_at: str) -> None:
        """Run until it kills itself at `die_at`."""
        done = self.run(*args, die_at=die_at)
        assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._argv(args, None),
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def peek(self, sql: str) -> list[tuple[Any, ...]]:
        if connection.vendor == "postgresql":
            with second_connection() as conn:
                cur = conn.execute(sql)
                return list(cur.fetchall()) if cur.description else []
        with closing(sqlite3.connect(self.home / "huzhu.sqlite3")) as conn, conn:
            return list(conn.execute(sql).fetchall())

    def count(self, table: str, where: str = "TRUE") -> int:
        return int(self.peek(f"SELECT COUNT(*) FROM {table} WHERE {where}")[0][0])


def sqlite_home_template(folder: Path) -> Path:
    """A migrated SQLite home to copy for each worker (migrating takes seconds)."""
    home = folder / "template"
    Worker(home).ok("huzhu", "benefits", "list")
    return home


def worker_for(folder: Path, template: Path | None) -> Worker:
    """A worker on the PostgreSQL test database, or on a fresh copy of the SQLite template."""
    home = folder / "home"
    if connection.vendor != "postgresql":
        assert template is not None
        shutil.copytree(template, home)
    return Worker(home)
