"""The 12:00 flash crowd: 40,000 card holders press "book" at once for 16,000 tickets.

Runs `huzhu serve --workers 4` on PostgreSQL, then an asyncio load generator in this process
(raw HTTP/1.1 over loopback sockets, bounded concurrency) where every member books once with
its own bearer token and an Idempotency-Key. Prints the time to sell out, bookings/s,
p50/p99 latency, errors by kind and the oversold count (must be 0), then a baseline: pgbench
running the same booking transaction (booking insert + conditional quota update) directly on
the same PostgreSQL, and the ratio between the two.

    .venv/bin/python bench/flash_crowd.py \\
        --pg-url postgres://postgres@127.0.0.1:5432/huzhu_bench_benefits

The database named in --pg-url is dropped and created again.
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
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    status: int
    code: str
    started: float
    finished: float

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
    from huzhu.benefits.services import activity_create
    from huzhu.cli import ensure_migrated
    from huzhu.core.pii import mask_id_number, vault
    from huzhu.members.models import Card, Member
    from huzhu.members.services import org_create
    from huzhu.synth import make_id_number, make_name

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
        rows = []
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
                ApiToken(user=u, key_hash=hashlib.sha256(t.encode()).hexdigest())
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
        # Its own group: the same members book it, and the group's unique index is still used.
        kwargs["group"] = "pgbench基准"
        baseline = activity_create(title="pgbench baseline", **kwargs)  # type: ignore[arg-type]
    from huzhu.benefits.models import Quota

    info = {
        "activity": ski.pk,
        "tokens": tokens,
        "baseline_activity": baseline.pk,
        "baseline_quota": Quota.objects.get(activity=baseline, day__isnull=True).pk,
        "first_member": min(m.pk for m in created),
        "group": baseline.group_id,
    }
    connection.close()
    return info


def check_invariants(activity: int) -> dict[str, int]:
    from django.db import connection
    from django.db.models import Count

    from huzhu.benefits.models import HOLDING, Booking, Quota

    quota = Quota.objects.get(activity_id=activity, day__isnull=True)
    held = Booking.objects.filter(activity_id=activity, status__in=HOLDING).count()
    doubles = (
        Booking.objects.filter(status__in=HOLDING, group__isnull=False)
        .values("member", "group")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    connection.close()
    return {
        "quota": quota.size,
        "used": quota.used,
        "bookings": held,
        "oversold": max(0, held - quota.size) + max(0, quota.used - quota.size),
        "members_twice_in_group": doubles,
    }


# -- the server -----------------------------------------------------------------------------------


def start_server(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "huzhu", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
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
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# -- the load generator ---------------------------------------------------------------------------


async def http(
    port: int, method: str, path: str, token: str, body: bytes = b"", key: str = ""
) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    )
    if key:
        head += f"Idempotency-Key: {key}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, raw.partition(b"\r\n\r\n")[2]


async def book(port: int, activity: int, token: str, sem: asyncio.Semaphore) -> Result:
    async with sem:
        started = time.perf_counter()
        key = secrets.token_hex(8)
        code = ""
        for _attempt in range(20):
            try:
                status, body = await http(
                    port, "POST", f"/api/v1/activities/{activity}/bookings", token, b"{}", key
                )
            except OSError as exc:
                status, body = 0, json.dumps({"error": {"code": type(exc).__name__}}).encode()
            if status >= 400:
                try:
                    code = json.loads(body)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = f"http_{status}"
            else:
                code = "booked" if status == 201 else f"http_{status}"
            if code != "busy":
                break
            await asyncio.sleep(0.05)  # "busy, try again": the client retries with the same key
        return Result(status, code, started, time.perf_counter())


async def warm_up(port: int, activity: int, token: str, workers: int) -> None:
    # Each worker imports lazily on its first request; touch them all before the clock starts.
    await asyncio.gather(
        *(http(port, "GET", f"/api/v1/activities/{activity}", token) for _ in range(workers * 8))
    )


async def crowd(
    port: int, activity: int, tokens: list[str], concurrency: int
) -> tuple[float, list[Result]]:
    sem = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()
    results = await asyncio.gather(*(book(port, activity, t, sem) for t in tokens))
    for r in results:
        r.started -= t0
        r.finished -= t0
    return t0, list(results)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- pgbench baseline -----------------------------------------------------------------------------

PGBENCH_SCRIPT = """\
BEGIN;
INSERT INTO benefits_booking
  (activity_id, member_id, group_id, status, created_at, booked_at, redeemed_gate)
  VALUES (:activity, :first_member + nextval('bench_member_seq') - 1, :grp, 'booked',
          now(), now(), '');
UPDATE benefits_quota SET used = used + 1 WHERE id = :quota AND used < size;
COMMIT;
"""


def pgbench(url: str, info: dict[str, Any], quota: int, clients: int) -> dict[str, float]:
    import psycopg

    exe = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SEQUENCE IF EXISTS bench_member_seq")
        conn.execute("CREATE SEQUENCE bench_member_seq")
    parts = urlparse(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(PGBENCH_SCRIPT)
        script = fh.name
    per_client = quota // clients
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
        f"activity={info['baseline_activity']}",
        "-D",
        f"quota={info['baseline_quota']}",
        "-D",
        f"first_member={info['first_member']}",
        "-D",
        f"grp={info['group']}",
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
            "SELECT used, size FROM benefits_quota WHERE id = %s", (info["baseline_quota"],)
        ).fetchone()  # type: ignore[misc]
    return {
        "transactions": per_client * clients,
        "elapsed": elapsed,
        "tps": tps,
        "latency_ms": latency,
        "used": used,
        "size": size,
    }


# -- main -----------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/huzhu_bench_benefits")
    p.add_argument("--members", type=int, default=40_000)
    p.add_argument("--quota", type=int, default=16_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight at once")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--no-pgbench", action="store_true")
    args = p.parse_args()

    home = tempfile.mkdtemp(prefix="huzhu-bench-")
    env = {
        **os.environ,
        "DATABASE_URL": args.pg_url,
        "HUZHU_HOME": home,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "HUZHU_PII_KEY": secrets.token_urlsafe(32),
        "DJANGO_SETTINGS_MODULE": "huzhu.settings",
        "HUZHU_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))

    print(f"setting up {args.members:,} members with cards and tokens, quota {args.quota:,} …")
    recreate_database(args.pg_url)
    t = time.perf_counter()
    info = setup_data(args.members, args.quota)
    print(f"  done in {time.perf_counter() - t:.1f}s")

    server = start_server(args.port, args.workers, env)
    try:
        tokens = info["tokens"]
        random.Random(12).shuffle(tokens)
        asyncio.run(warm_up(args.port, info["activity"], tokens[0], args.workers))
        print(
            f"flash crowd: {len(tokens):,} members, {args.concurrency} in flight, "
            f"{args.workers} workers …"
        )
        _t0, results = asyncio.run(crowd(args.port, info["activity"], tokens, args.concurrency))
    finally:
        stop_server(server)

    booked = sorted(r.finished for r in results if r.code == "booked")
    total_time = max(r.finished for r in results)
    sell_out = booked[-1] if len(booked) >= args.quota else float("nan")
    latencies = [r.latency for r in results]
    by_kind = Counter(r.code for r in results)
    five_xx = sum(1 for r in results if r.status >= 500 and r.code != "busy")
    inv = check_invariants(info["activity"])
    rate = len(booked) / booked[-1] if booked else 0.0
    print()
    print(f"sold out            {sell_out:8.2f} s   ({len(booked):,} bookings)")
    print(f"bookings/s          {rate:8.1f}")
    print(
        f"all {len(results):,} answered  {total_time:8.2f} s   "
        f"({len(results) / total_time:.0f} requests/s)"
    )
    print(f"latency p50         {percentile(latencies, 50) * 1000:8.0f} ms")
    print(f"latency p99         {percentile(latencies, 99) * 1000:8.0f} ms")
    booked_latencies = [r.latency for r in results if r.code == "booked"]
    print(f"latency p99 booked  {percentile(booked_latencies, 99) * 1000:8.0f} ms")
    print(
        f"oversold            {inv['oversold']:8d}   "
        f"(quota {inv['quota']:,}, used {inv['used']:,}, "
        f"bookings {inv['bookings']:,}, members twice in group {inv['members_twice_in_group']})"
    )
    print(f"5xx                 {five_xx:8d}")
    print("answers by kind     " + ", ".join(f"{k} {v:,}" for k, v in by_kind.most_common()))

    if not args.no_pgbench:
        base = pgbench(args.pg_url, info, args.quota, args.pgbench_clients)
        print()
        print(
            f"pgbench baseline    {base['transactions']:,.0f} booking transactions "
            f"(insert + conditional quota update), {args.pgbench_clients} clients"
        )
        print(
            f"  sold out          {base['elapsed']:8.2f} s   tps {base['tps']:.0f}, "
            f"latency avg {base['latency_ms']:.1f} ms, quota used {base['used']:,}/{base['size']:,}"
        )
        print(f"ratio huzhu/pgbench {rate / base['tps']:8.2f}   (bookings/s over pgbench tps)")
    shutil.rmtree(home, ignore_errors=True)
    ok = inv["oversold"] == 0 and inv["members_twice_in_group"] == 0 and five_xx == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
