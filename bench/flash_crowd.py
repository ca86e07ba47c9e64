"""The 12:00 flash crowd: 40,000 card holders press "book" at once for 16,000 tickets.

Runs `huzhu serve --workers 4` on PostgreSQL (or, with --servers N, N such servers on the one
database, the requests sent to each in turn, after the same crowd against one server with as
many workers in all, for the ratio) and an asyncio load generator in this process (raw
HTTP/1.1 over loopback, one connection per request, a bounded number in flight) where every
member books once with its own bearer token and an Idempotency-Key, retrying a `busy` answer
with the same key. Prints the time to sell out, bookings/s, p50/p99 latency, the oversold count
(must be 0), answers by kind and the CPU spent per request (server, PostgreSQL, load generator).

Baselines in the same run, on the same PostgreSQL:
- the floor: pgbench running the same booking transaction (booking INSERT + conditional quota
  UPDATE on one hot row) directly on the database; and, for orientation, the same with the
  quota spread over shards as huzhu spreads it;
- with --with-pretix: pretix, installed from PyPI into its own virtual environment, in its own
  database, one event with one free item and the same quota, run by gunicorn with as many
  workers, driven through its REST API (POST …/orders/ with payment_provider free, status p)
  by the same load generator for --pretix-seconds (pretix sells far slower: its sell-out time is
  projected from the rate it sustained). Without network access to PyPI this says so and skips.

    .venv/bin/python bench/flash_crowd.py \\
        --pg-url postgres://postgres@127.0.0.1:5432/huzhu_bench_benefits [--with-pretix]

The database named in --pg-url is dropped and created again; pretix gets `<that name>_pretix`.
Exit status 1 if anything was oversold, a member holds two bookings in a group, or a 5xx came.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass
class Result:
    status: int
    code: str
    started: float
    finished: float
    attempts: int = 1

    @property
    def latency(self) -> float:
        return self.finished - self.started


# -- database and data ----------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name) or not name.startswith(("huzhu_bench", "bench")):
        raise SystemExit(f"refusing to drop {name!r}: use a database named huzhu_bench_…")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_data(members: int, quota: int) -> dict[str, Any]:
    """Organisations, members with active cards, member logins with tokens, one FCFS activity
    (and a second one for the pgbench baseline). Bulk inserts: seconds, not minutes."""
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from huzhu.accounts.models import ApiToken, Role, User
    from huzhu.accounts.services import credentials_stamp
    from huzhu.benefits.activities import activity_create
    from huzhu.cli import ensure_migrated
    from huzhu.core.pii import mask_id_number, vault
    from huzhu.members.models import Card, Member
    from huzhu.members.services import org_create
    from huzhu.members.synth import make_id_number, make_name

    ensure_migrated()
    rng = random.Random(2021)
    v = vault()
    now = timezone.now()
    with transaction.atomic():
        city = org_create(code="BJ", name="北京市总工会", kind="city", parent=None)
        district = org_create(code="BJ16", name="怀柔区总工会", kind="district", parent=city)
        town = org_create(code="BJ16T01", name="怀柔镇总工会", kind="town", parent=district)
        unit = org_create(code="BJ16U01", name="怀柔滑雪场工会", kind="unit", parent=town)
        seen: set[str] = set()
        rows: list[Any] = []
        while len(rows) < members:
            born = date(1966, 1, 1) + timedelta(days=rng.randrange(14000))
            number = make_id_number(rng, "110116", born)
            if number in seen:
                continue
            seen.add(number)
            rows.append(
                Member(
                    id_hash=v.lookup_hash(number),
                    id_cipher=v.encrypt(number),
                    id_masked=mask_id_number(number),
                    name=make_name(rng),
                    birth_date=born,
                    unit=unit,
                )
            )
        created = Member.objects.bulk_create(rows, batch_size=5000)
        Card.objects.bulk_create(
            (
                Card(member=m, card_no=f"62{i + 10**13:014d}", issued_at=now)
                for i, m in enumerate(created)
            ),
            batch_size=5000,
        )
        unusable = make_password(None)
        users = User.objects.bulk_create(
            (
                User(username=f"m{m.pk}", role=Role.MEMBER, member=m, password=unusable)
                for m in created
            ),
            batch_size=5000,
        )
        tokens = [secrets.token_urlsafe(24) for _ in users]
        ApiToken.objects.bulk_create(
            (
                ApiToken(
                    user=u,
                    key_hash=hashlib.sha256(t.encode()).hexdigest(),
                    stamp=credentials_stamp(u),
                    last_used_at=now,
                )
                for u, t in zip(users, tokens, strict=True)
            ),
            batch_size=5000,
        )
        kwargs = dict(
            actor=None,
            venue="怀柔区滑雪场",
            quota=quota,
            group="2021冬季冰雪",
            opens_at=now - timedelta(minutes=1),
            closes_at=now + timedelta(days=45),
            valid_from=timezone.localdate(),
            valid_to=timezone.localdate() + timedelta(days=45),
            eligible_org=district,
        )
        ski = activity_create(title="职工免费滑雪（怀柔滑雪场）", **kwargs)  # type: ignore[arg-type]
        # Their own groups: the same members book them, and the group's unique index is still
        # used. One baseline's quota is one row (the floor the aim names), the other's is
        # spread over shards as huzhu's own.
        kwargs["group"] = "pgbench基准"
        baseline = activity_create(title="pgbench baseline", shards=1, **kwargs)  # type: ignore[arg-type]
        kwargs["group"] = "pgbench基准（分片）"
        sharded = activity_create(title="pgbench baseline, sharded", **kwargs)  # type: ignore[arg-type]
    from huzhu.benefits.models import Quota

    info = {
        "activity": ski.pk,
        "shards": Quota.objects.filter(activity=ski, day__isnull=True).count(),
        "tokens": tokens,
        "first_member": min(m.pk for m in created),
        "baselines": {
            "one row": {"activity": baseline.pk, "group": baseline.group_id},
            "sharded": {"activity": sharded.pk, "group": sharded.group_id},
        },
    }
    connection.close()
    return info


def check_invariants(activity: int) -> dict[str, int]:
    from django.db import connection
    from django.db.models import Count

    from huzhu.benefits.models import HOLDING, Booking, Quota

    shards = list(Quota.objects.filter(activity_id=activity, day__isnull=True))
    held = Booking.objects.filter(activity_id=activity, status__in=HOLDING).count()
    doubles = (
        Booking.objects.filter(status__in=HOLDING, group__isnull=False)
        .values("member", "group")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    connection.close()
    size, used = sum(q.size for q in shards), sum(q.used for q in shards)
    return {
        "quota": size,
        "used": used,
        "shards": len(shards),
        "bookings": held,
        "oversold": max(0, held - size) + sum(max(0, q.used - q.size) for q in shards),
        "members_twice_in_group": doubles,
    }


# -- servers and the CPU they use -----------------------------------------------------------------


def start_server(
    cmd: list[str], port: int, env: dict[str, str], log: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit("server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of a process and all its descendants, by pid."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _proc_stat(int(entry))) is not None:
            stats[int(entry)] = st
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found[pid] = stats[pid][1]
            todo.extend(p for p, (ppid, _cpu) in stats.items() if ppid == pid)
    return found


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the database of `url` (on this machine)."""
    import psycopg

    parts = urlparse(url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (parts.path.lstrip("/"),)
        ).fetchall()
    return [r[0] for r in rows]


class CpuSampler(threading.Thread):
    """CPU seconds used by the server's processes and by its database's backends, sampled every
    half second: backends come and go (persistent connections are renewed after a minute)."""

    def __init__(self, server_pids: list[int], db_url: str):
        super().__init__(daemon=True)
        self.server_pids, self.db_url = server_pids, db_url
        self.server: dict[int, tuple[float, float]] = {}  # pid -> (first seen, last seen)
        self.db: dict[int, tuple[float, float]] = {}
        self.done = threading.Event()
        self.sample()

    def sample(self) -> None:
        db = {p: st[1] for p in backend_pids(self.db_url) if (st := _proc_stat(p))}
        servers: dict[int, float] = {}
        for pid in self.server_pids:
            servers.update(tree_cpu(pid))
        for seen, now in ((self.server, servers), (self.db, db)):
            for pid, cpu in now.items():
                seen[pid] = (seen.get(pid, (cpu, cpu))[0], cpu)

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.sample()

    def stop(self) -> tuple[float, float]:
        """(server, database) CPU seconds since the sampler started."""
        self.done.set()
        self.join()
        self.sample()
        started = self.started_pids

        def used(seen: dict[int, tuple[float, float]]) -> float:
            return sum(
                last - (first if pid in started else 0.0) for pid, (first, last) in seen.items()
            )

        return used(self.server), used(self.db)

    def start(self) -> None:
        self.started_pids = set(self.server) | set(self.db)
        super().start()


# -- the load generator ---------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: str  # extra header lines, each ending in \r\n
    body: bytes


class _Exchange(asyncio.Protocol):
    """One request and its answer on a connection of its own, as a phone sends it. A bare
    protocol, not asyncio's streams: the generator shares the 2 cores with the server it
    measures, and streams cost it about twice the CPU per request."""

    def __init__(self, payload: bytes, answer: asyncio.Future[tuple[int, bytes]]):
        self.payload, self.answer = payload, answer
        self.buffer = bytearray()
        self.status = 0
        self.body_at = -1
        self.length: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.payload)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.body_at < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            self.status = int(head.split(b" ", 2)[1])
            found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            self.length = int(found.group(1)) if found else None
            self.body_at = end + 4
        if self.length is not None and len(self.buffer) - self.body_at >= self.length:
            self._finish()

    def _finish(self) -> None:
        if not self.answer.done():
            body = bytes(self.buffer[self.body_at :])
            self.answer.set_result((self.status, body[: self.length] if self.length else body))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer.done():
            return
        if self.body_at >= 0 and self.length is None:
            self._finish()  # read to the end of the connection
        else:
            self.answer.set_exception(exc or asyncio.IncompleteReadError(bytes(self.buffer), None))


async def http(port: int, method: str, req: Request) -> tuple[int, bytes]:
    """One request on its own connection; the answer read by its Content-Length."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[tuple[int, bytes]] = loop.create_future()
    payload = (
        f"{method} {req.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{req.headers}"
        f"Content-Type: application/json\r\nContent-Length: {len(req.body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + req.body
    transport, _ = await loop.create_connection(
        lambda: _Exchange(payload, answer), "127.0.0.1", port
    )
    try:
        return await answer
    finally:
        transport.close()


def huzhu_code(status: int, body: bytes) -> str:
    if status == 201:
        return "booked"
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{status}"


def pretix_code(status: int, body: bytes) -> str:
    if status == 201:
        return "booked"
    text = body.decode(errors="replace").lower()
    if status == 400 and "quota" in text:
        return "sold_out"
    if status in (409, 503) and ("busy" in text or "lock" in text):
        return "busy"
    return f"http_{status}"


async def book(
    port: int,
    req: Request,
    classify: Callable[[int, bytes], str],
    sem: asyncio.Semaphore,
    t0: float,
    stop_at: float | None,
) -> Result | None:
    async with sem:
        started = time.perf_counter()
        if stop_at is not None and started >= stop_at:
            return None
        code, status, attempts = "", 0, 0
        while attempts < 20:
            attempts += 1
            try:
                status, body = await http(port, "POST", req)
                code = classify(status, body)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                status, code = 0, type(exc).__name__
            if code != "busy":
                break
            await asyncio.sleep(0.05)  # "busy, try again": the client retries with the same key
        return Result(status, code, started - t0, time.perf_counter() - t0, attempts)


async def crowd(
    ports: list[int],
    requests: list[Request],
    classify: Callable[[int, bytes], str],
    concurrency: int,
    seconds: float | None = None,
) -> list[Result]:
    """Everyone at once, `concurrency` in flight; with `seconds`, nobody new after that. With
    several servers the requests go to each in turn, as a round-robin load balancer sends them."""
    sem = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()
    stop_at = t0 + seconds if seconds else None
    results = await asyncio.gather(
        *(
            book(ports[i % len(ports)], r, classify, sem, t0, stop_at)
            for i, r in enumerate(requests)
        )
    )
    return [r for r in results if r is not None]


async def warm_up(port: int, requests: list[Request], method: str = "GET") -> None:
    # Each worker imports lazily on its first requests; touch them all before the clock starts.
    await asyncio.gather(*(http(port, method, r) for r in requests), return_exceptions=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Run:
    """What one crowd did, as the report needs it."""

    results: list[Result]
    quota: int
    cpu_server: float = 0.0
    cpu_db: float = 0.0
    cpu_client: float = 0.0
    version: str = ""

    @property
    def booked(self) -> list[float]:
        return sorted(r.finished for r in self.results if r.code == "booked")

    @property
    def sold_out_at(self) -> float:
        b = self.booked
        return b[-1] if len(b) >= self.quota else float("nan")

    @property
    def rate(self) -> float:
        b = self.booked
        return len(b) / b[-1] if b else 0.0

    @property
    def five_xx(self) -> int:
        return sum(1 for r in self.results if r.status >= 500 and r.code != "busy")

    def print(self, label: str) -> None:
        res = self.results
        total = max(r.finished for r in res)
        booked = self.booked
        lat = [r.latency for r in res]
        print(f"{label}")
        if len(booked) >= self.quota:
            print(f"  sold out            {self.sold_out_at:8.2f} s   ({len(booked):,} bookings)")
        else:
            print(
                f"  sold                {len(booked):8,}    in {booked[-1] if booked else 0:.2f} s"
                f" (quota {self.quota:,}; projected sell-out "
                f"{self.quota / self.rate if self.rate else float('inf'):,.0f} s)"
            )
        print(f"  bookings/s          {self.rate:8.1f}")
        print(f"  {len(res):,} answered     {total:8.2f} s   ({len(res) / total:.0f} requests/s)")
        print(f"  latency p50         {percentile(lat, 50) * 1000:8.0f} ms")
        print(f"  latency p99         {percentile(lat, 99) * 1000:8.0f} ms")
        booked_lat = [r.latency for r in res if r.code == "booked"]
        print(f"  latency p99 booked  {percentile(booked_lat, 99) * 1000:8.0f} ms")
        print(f"  5xx                 {self.five_xx:8d}")
        kinds = Counter(r.code for r in res)
        print("  answers by kind     " + ", ".join(f"{k} {v:,}" for k, v in kinds.most_common()))
        retried = sum(r.attempts - 1 for r in res)
        if retried:
            print(f"  busy retries        {retried:8,}")
        n = len(res)
        print(
            f"  CPU per request     server {self.cpu_server / n * 1000:.2f} ms, "
            f"PostgreSQL {self.cpu_db / n * 1000:.2f} ms, "
            f"load generator {self.cpu_client / n * 1000:.2f} ms"
        )


def measure(
    *,
    ports: list[int],
    servers: list[subprocess.Popen[bytes]],
    db_url: str,
    requests: list[Request],
    classify: Callable[[int, bytes], str],
    concurrency: int,
    quota: int,
    seconds: float | None = None,
) -> Run:
    sampler = CpuSampler([s.pid for s in servers], db_url)
    sampler.start()
    client_before = time.thread_time()  # this thread runs the event loop; the sampler has its own
    results = asyncio.run(crowd(ports, requests, classify, concurrency, seconds))
    run = Run(results, quota, cpu_client=time.thread_time() - client_before)
    run.cpu_server, run.cpu_db = sampler.stop()
    return run


# -- pgbench baseline -----------------------------------------------------------------------------

# The booking transaction of huzhu's one statement, as plain SQL: the booking, then a place from
# the quota. On one row (the floor the aim names: a conditional UPDATE of that row), or from one
# of several shards picked as huzhu picks them (any shard no one holds, else wait for the first
# with room; huzhu runs the statement again in the rare case that shard filled meanwhile,
# pgbench cannot, so such a transaction books without a place and "quota used" shows it).
_PGBENCH_BOOKING = """\
BEGIN;
INSERT INTO benefits_booking
  (activity_id, member_id, group_id, status, created_at, booked_at, redeemed_gate)
  VALUES (:activity, :first_member + nextval('bench_member_seq') - 1, :grp, 'booked',
          now(), now(), '');
{claim};
COMMIT;
"""


def pgbench_script(baseline: str) -> str:
    """The pgbench script of a baseline (after Django's set-up: the sharded one runs huzhu's own
    shard pick, benefits.shards.shard_pick_sql)."""
    if baseline == "one row":
        claim = (
            "UPDATE benefits_quota SET used = used + 1 "
            "WHERE activity_id = :activity AND day IS NULL AND used < size"
        )
    else:
        from huzhu.benefits.shards import shard_pick_sql

        pick = shard_pick_sql(activity=":activity", room="used < size", step="1")
        claim = f"WITH {pick} SELECT count(*) FROM claim"
    return _PGBENCH_BOOKING.format(claim=claim)


def pgbench(url: str, info: dict[str, Any], baseline: str, clients: int) -> dict[str, float]:
    """Book the baseline activity's whole quota with pgbench; its tps and the quota's use."""
    import psycopg

    exe = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    target = info["baselines"][baseline]
    with psycopg.connect(url, autocommit=True) as conn:
        # from scratch: the same members book the whole quota again
        conn.execute("DELETE FROM benefits_booking WHERE activity_id = %s", (target["activity"],))
        conn.execute(
            "UPDATE benefits_quota SET used = 0 WHERE activity_id = %s", (target["activity"],)
        )
        conn.execute("DROP SEQUENCE IF EXISTS bench_member_seq")
        conn.execute("CREATE SEQUENCE bench_member_seq")
        quota, rows = conn.execute(
            "SELECT sum(size), count(*) FROM benefits_quota WHERE activity_id = %s",
            (target["activity"],),
        ).fetchone()  # type: ignore[misc]
    parts = urlparse(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(pgbench_script(baseline))
        script = fh.name
    per_client = quota // clients  # the rest of the quota stays unsold
    cmd = [
        exe,
        "-n",
        "-f",
        script,
        "-c",
        str(clients),
        "-j",
        "2",
        "-t",
        str(per_client),
        "-D",
        f"activity={target['activity']}",
        "-D",
        f"first_member={info['first_member']}",
        "-D",
        f"grp={target['group']}",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        parts.path.lstrip("/"),
    ]
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    os.unlink(script)
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed: {out.stderr}")
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1))  # type: ignore[union-attr]
    with psycopg.connect(url) as conn:
        used, size = conn.execute(
            "SELECT sum(used), sum(size) FROM benefits_quota WHERE activity_id = %s",
            (target["activity"],),
        ).fetchone()  # type: ignore[misc]
    return {
        "transactions": per_client * clients,
        "elapsed": elapsed,
        "tps": tps,
        "latency_ms": latency,
        "used": used,
        "size": size,
        "rows": rows,
    }


# -- pretix baseline ------------------------------------------------------------------------------


def run_pretix(args: argparse.Namespace, home: Path) -> Run | str:
    """The pretix crowd, or why there is none."""
    import _pretix

    venv = Path(args.pretix_venv) if args.pretix_venv else home / "pretix-venv"
    database = urlparse(args.pg_url).path.lstrip("/") + "_pretix"
    port = args.port + 1
    pretix_home = home / "pretix"
    pretix_home.mkdir(exist_ok=True)
    try:
        python, version = _pretix.install(venv)
        print(f"  pretix {version} in {venv}", flush=True)
        config = _pretix.configure(
            python=python,
            pg_url=args.pg_url,
            database=database,
            home=pretix_home,
            port=port,
            fresh=not args.pretix_venv,
        )
        event = _pretix.create_event(
            python=python, config=config, home=pretix_home, quota=args.quota, version=version
        )
    except _pretix.PretixUnavailable as exc:
        return str(exc)
    log = pretix_home / "gunicorn.log"
    server = _pretix.serve(event, pretix_home, port, args.workers)
    try:
        start_server_wait(server, port, log)
        auth = f"Authorization: Token {event.token}\r\n"

        def order(i: int, simulate: bool = False) -> Request:
            body = {
                "email": f"m{i}@example.org",
                "positions": [{"item": event.item}],
                "payment_provider": "free",
                "status": "p",
                "simulate": simulate,
            }
            return Request(
                event.orders_path,
                f"{auth}X-Idempotency-Key: {secrets.token_hex(8)}\r\n",
                json.dumps(body).encode(),
            )

        # simulate: true runs the whole order path without keeping the order
        asyncio.run(warm_up(port, [order(-i, True) for i in range(args.workers * 4)], "POST"))
        print(
            f"pretix crowd (load average {os.getloadavg()[0]:.2f}): "
            f"the same {args.members:,} buyers, {args.concurrency} in flight, "
            f"{args.workers} workers, for {args.pretix_seconds:.0f} s …",
            flush=True,
        )
        run = measure(
            ports=[port],
            servers=[server],
            db_url=urlparse(args.pg_url)._replace(path=f"/{database}").geturl(),
            requests=[order(i) for i in range(args.members)],
            classify=pretix_code,
            concurrency=args.concurrency,
            quota=args.quota,
            seconds=args.pretix_seconds,
        )
    finally:
        stop_server(server)
    run.version = version
    return run


def start_server_wait(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"pretix exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    raise SystemExit("pretix did not start")


# -- main -----------------------------------------------------------------------------------------


def crowd_on(
    args: argparse.Namespace, env: dict[str, str], home: Path, *, servers: int, workers: int
) -> tuple[Run, dict[str, Any], str]:
    """A fresh data set, `servers` × `huzhu serve --workers W`, and the crowd against them."""
    print(f"setting up {args.members:,} members with cards and tokens, quota {args.quota:,} …")
    recreate_database(args.pg_url)
    t = time.perf_counter()
    info = setup_data(args.members, args.quota)
    print(f"  done in {time.perf_counter() - t:.1f}s")
    ports = [args.port + i for i in range(servers)]
    started: list[subprocess.Popen[bytes]] = []
    label = f"{servers} server{'s' if servers > 1 else ''} x {workers} workers"
    try:
        for port in ports:
            serve = [sys.executable, "-m", "huzhu", "serve", "--port", str(port)]
            serve += ["--workers", str(workers)]
            if args.threads:
                serve += ["--threads", str(args.threads)]
            started.append(start_server(serve, port, env, home / f"huzhu-{port}.log"))
        tokens = info["tokens"]
        random.Random(12).shuffle(tokens)
        path = f"/api/v1/activities/{info['activity']}/bookings"
        requests = [
            Request(
                path,
                f"Authorization: Bearer {tok}\r\nIdempotency-Key: {secrets.token_hex(8)}\r\n",
                b"{}",
            )
            for tok in tokens
        ]
        probe = Request(f"/api/v1/activities/{info['activity']}", requests[0].headers, b"")
        nowhere = Request("/api/v1/activities/0/bookings", requests[0].headers, b"{}")
        for port in ports:
            asyncio.run(warm_up(port, [probe] * (workers * 8)))
            asyncio.run(warm_up(port, [nowhere] * (workers * 8), "POST"))
        print(
            f"flash crowd (load average {os.getloadavg()[0]:.2f}): "
            f"{len(tokens):,} members, {args.concurrency} in flight, {label}"
            + (f" --threads {args.threads}" if args.threads else "")
            + " …",
            flush=True,
        )
        run = measure(
            ports=ports,
            servers=started,
            db_url=args.pg_url,
            requests=requests,
            classify=huzhu_code,
            concurrency=args.concurrency,
            quota=args.quota,
        )
    finally:
        for proc in started:
            stop_server(proc)
    return run, info, label


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/huzhu_bench_benefits")
    p.add_argument("--members", type=int, default=40_000)
    p.add_argument("--quota", type=int, default=16_000)
    p.add_argument("--workers", type=int, default=4, help="huzhu serve --workers, per server")
    p.add_argument(
        "--servers",
        type=int,
        default=1,
        help="app servers on one PostgreSQL, requests sent to each in turn; above 1 the same "
        "run first measures one server with as many workers in all, for the ratio",
    )
    p.add_argument("--threads", type=int, default=0, help="huzhu serve --threads (0: its default)")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight at once")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--pgbench-clients",
        default="4,8,16",
        help="client counts the floor is measured at; the best is the floor (16: as many as "
        "the server's database connections, 4 workers x 4 threads)",
    )
    p.add_argument("--no-pgbench", action="store_true")
    p.add_argument("--with-pretix", action="store_true", help="also measure pretix (from PyPI)")
    p.add_argument("--pretix-seconds", type=float, default=120.0)
    p.add_argument(
        "--pretix-venv", help="keep pretix's virtual environment (and database) here for reuse"
    )
    args = p.parse_args()

    load_start = os.getloadavg()
    home = Path(tempfile.mkdtemp(prefix="huzhu-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": args.pg_url,
        "HUZHU_HOME": str(home),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "HUZHU_PII_KEY": secrets.token_urlsafe(32),
        "DJANGO_SETTINGS_MODULE": "huzhu.settings",
        "HUZHU_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))

    layouts = [(args.servers, args.workers)]
    if args.servers > 1:  # the baseline: one server with as many workers in all
        layouts.insert(0, (1, args.servers * args.workers))
    layout_runs: list[tuple[str, Run]] = []
    for servers, workers in layouts:
        huzhu, info, label = crowd_on(args, env, home, servers=servers, workers=workers)
        layout_runs.append((label, huzhu))
    for shown, run in layout_runs[:-1]:
        print()
        run.print(f"huzhu, {shown}")
    inv = check_invariants(info["activity"])
    print()
    huzhu.print(f"huzhu, {label} (load average at the end {os.getloadavg()[0]:.2f})")
    print(
        f"  oversold            {inv['oversold']:8d}   "
        f"(quota {inv['quota']:,} on {inv['shards']} shards, used {inv['used']:,}, "
        f"bookings {inv['bookings']:,}, members twice in group {inv['members_twice_in_group']})"
    )

    floors: dict[str, dict[str, float]] = {}
    if not args.no_pgbench:
        clients = [int(c) for c in args.pgbench_clients.split(",")]
        # the servers', one per thread
        connections = args.servers * args.workers * (args.threads or 4)
        for baseline in ("one row", "sharded"):
            runs = []
            for count in clients:
                load_pgbench = os.getloadavg()[0]
                runs.append(pgbench(args.pg_url, info, baseline, count))
                floor = runs[-1]
                if count == clients[0]:
                    print()
                    print(
                        f"pgbench floor, quota on {floor['rows']:.0f} row(s): "
                        f"{floor['transactions']:,.0f} booking transactions (insert + "
                        "conditional quota update)"
                    )
                print(
                    f"  {count:3d} clients       {floor['elapsed']:6.2f} s   "
                    f"tps {floor['tps']:5.0f}, "
                    f"latency avg {floor['latency_ms']:.1f} ms, "
                    f"quota used {floor['used']:,}/{floor['size']:,}, "
                    f"load average {load_pgbench:.2f}"
                )
            floors[baseline] = max(runs, key=lambda r: r["tps"])
            for count, run in zip(clients, runs, strict=True):
                if count == connections:
                    floors[f"{baseline} at {count}"] = run

    pretix: Run | str | None = None
    if args.with_pretix:
        print()
        print("pretix baseline …", flush=True)
        pretix = run_pretix(args, home)
        print()
        if isinstance(pretix, str):
            print("pretix baseline     NOT MEASURED: pretix could not be installed or set up here.")
            print(textwrap.indent(pretix, "    "))
        else:
            pretix.print(f"pretix {pretix.version} (orders via REST API)")

    print()
    print("ratios")
    if floors:
        print(
            f"  huzhu / pgbench floor  {huzhu.rate / floors['one row']['tps']:8.2f}   "
            f"(bookings/s over the best pgbench tps, quota on one row; aim ≥ 0.50)"
        )
        alike = next((k for k in floors if k.startswith("one row at ")), None)
        if alike:
            print(
                f"  huzhu / floor at {alike.rsplit(' ', 1)[1]:>3}   "
                f"{huzhu.rate / floors[alike]['tps']:8.2f}   (pgbench with as many clients as "
                "the server has database connections)"
            )
        print(
            f"  huzhu / sharded floor  {huzhu.rate / floors['sharded']['tps']:8.2f}   "
            f"(the best pgbench tps, quota on shards as huzhu's)"
        )
    if len(layout_runs) > 1:
        (one_label, one), (_label, many) = layout_runs[0], layout_runs[-1]
        print(
            f"  {label} / {one_label}  {many.rate / one.rate:8.2f}   (bookings/s; the same "
            f"workers in all, behind a round-robin balancer: 1.00 means the second server "
            f"costs nothing)"
        )
        per = [(r.cpu_server + r.cpu_db) / len(r.results) for r in (one, many)]
        print(
            f"  CPU per answer         {per[1] / per[0]:8.2f}   ({label} over {one_label}, "
            "server + PostgreSQL)"
        )
    if isinstance(pretix, Run) and pretix.rate:
        print(
            f"  huzhu / pretix         {huzhu.rate / pretix.rate:8.1f}x  "
            f"(bookings/s over pretix orders/s; aim ≥ 50x)"
        )
        # The machine may be shared: CPU per answer does not depend on what else runs.
        ours = (huzhu.cpu_server + huzhu.cpu_db) / len(huzhu.results)
        theirs = (pretix.cpu_server + pretix.cpu_db) / len(pretix.results)
        print(
            f"  CPU per answer         {theirs / ours:8.1f}x  less than pretix "
            f"(server + PostgreSQL: {ours * 1000:.2f} ms vs {theirs * 1000:.1f} ms)"
        )
    elif args.with_pretix:
        print("  huzhu / pretix         not measured (see above)")
    p99 = percentile([r.latency for r in huzhu.results], 99)
    print("aims")
    print(f"  sold out under 40 s    {'yes' if huzhu.sold_out_at < 40 else 'NO'}")
    print(f"  p99 under 1 s          {'yes' if p99 < 1 else 'NO'}")
    print(f"  0 oversold             {'yes' if inv['oversold'] == 0 else 'NO'}")
    print(f"  no 5xx                 {'yes' if huzhu.five_xx == 0 else 'NO'}")
    load_end = os.getloadavg()
    print(
        f"load average (1, 5, 15 min): at start {' '.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {' '.join(f'{x:.2f}' for x in load_end)}; {os.cpu_count()} cores"
    )
    shutil.rmtree(home, ignore_errors=True)
    ok = inv["oversold"] == 0 and inv["members_twice_in_group"] == 0 and huzhu.five_xx == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
