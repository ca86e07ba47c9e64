"""Benchmark: `huzhu import settlements` at city scale (default 4,000,000 members, 1,000,000
settlements), end to end through the command line, on SQLite or PostgreSQL.

Prints seconds, rows/s and peak memory of the import, and ratios to two baselines measured in
the same run on the same database:
- the floor: reading the same CSV with Polars plus a bare bulk insert (no indexes) of as many
  rows as the import wrote (claims + ledger entries);
- the per-row path: the plain ORM with the readable rule engine, one settlement at a time,
  timed on a sample (rolled back) and scaled to the file.

    .venv/bin/python bench/settlements.py
    .venv/bin/python bench/settlements.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/settlements.py --members 200000 --settlements 50000   # a quick look
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import setup_database, timed


class _PeakMemory:
    """Samples a process's high-water mark of resident memory (Linux: VmHWM in /proc)."""

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/status")
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.05):
            try:
                status = self.path.read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def load_members_and_enrolments(out: Path) -> None:
    """Set-up (not timed as the import): members and enrolments straight into the tables."""
    import polars as pl
    from django.db import connection, transaction
    from django.utils import timezone

    from huzhu.core.bulk import insert_frame
    from huzhu.core.pii import mask_id_number, vault
    from huzhu.members.models import Member, Organisation
    from huzhu.members.roster import orgs_import
    from huzhu.protection.models import Enrollment, PlanVersion
    from huzhu.protection.plans import plan_load_toml

    orgs_import((out / "orgs.csv").read_bytes(), file="orgs.csv")
    for toml in sorted((out / "plans").glob("*.toml")):
        plan_load_toml(toml.read_bytes(), file=toml.name)
    v = vault()
    members = pl.read_csv(out / "members.csv", infer_schema=False).select(
        "id_number", "name", "unit_code"
    )
    units = dict(Organisation.objects.filter(kind="unit").values_list("code", "id"))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    numbers = members["id_number"].to_list()
    frame = members.with_row_index("id", offset=1).select(
        pl.col("id").cast(pl.Int64),
        pl.Series("id_hash", [v.lookup_hash(n) for n in numbers]),
        pl.Series("id_cipher", [v.encrypt(n) for n in numbers]),
        pl.Series("id_masked", [mask_id_number(n) for n in numbers]),
        "name",
        (
            pl.col("id_number").str.slice(6, 4)
            + "-"
            + pl.col("id_number").str.slice(10, 2)
            + "-"
            + pl.col("id_number").str.slice(12, 2)
        ).alias("birth_date"),
        pl.lit("").alias("phone_cipher"),
        pl.lit("").alias("phone_hash"),
        pl.lit("").alias("phone_masked"),
        pl.col("unit_code").replace_strict(units, return_dtype=pl.Int64).alias("unit_id"),
        pl.lit(True).alias("is_active"),
        pl.lit(now).alias("created_at"),
        pl.lit(now).alias("updated_at"),
    )
    versions = {
        (p, s.isoformat()): (vid, payer)
        for vid, p, s, payer in PlanVersion.objects.values_list(
            "id", "plan__code", "period_start", "payer"
        )
    }
    ids = pl.DataFrame(
        {"id_number": numbers, "member_id": frame["id"], "unit_id": frame["unit_id"]}
    )
    enrol = pl.read_csv(out / "enrollments.csv", infer_schema=False).join(ids, on="id_number")
    keys = [f"{p}|{s}" for p, s in versions]
    enrol = enrol.with_columns((pl.col("plan_code") + "|" + pl.col("period_start")).alias("k"))
    vid = {k: versions[tuple(k.split("|"))][0] for k in keys}  # type: ignore[index]
    payer = {k: versions[tuple(k.split("|"))][1] for k in keys}  # type: ignore[index]
    enrol_frame = enrol.select(
        "member_id",
        "unit_id",
        pl.col("k").replace_strict(vid, return_dtype=pl.Int64).alias("version_id"),
        "paid_on",
        "amount",
        pl.col("k").replace_strict(payer, return_dtype=pl.String).alias("payer"),
        pl.lit(now).alias("created_at"),
    )
    with transaction.atomic():
        insert_frame(Member._meta.db_table, frame)
        insert_frame(Enrollment._meta.db_table, enrol_frame)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [frame.height]
            )
            cur.execute("ANALYZE")
    print(f"  loaded {frame.height:,} members, {enrol_frame.height:,} enrolments", file=sys.stderr)


def _pg_admin(url: str) -> tuple[str, str]:
    parts = urlparse(url)
    return urlunparse(parts._replace(path="/postgres")), parts.path.lstrip("/")


def keep_setup(kept: Path) -> None:
    """Keep the loaded database (a PostgreSQL template database, or a copy of the SQLite file)
    and HUZHU_HOME (its keys made the ID hashes; on SQLite it holds the database) in `kept`."""
    from django.db import connection

    connection.close()
    home = Path(os.environ["HUZHU_HOME"])
    shutil.copytree(home, kept / "home", dirs_exist_ok=True)
    if connection.vendor == "postgresql":
        import psycopg

        admin, name = _pg_admin(os.environ["DATABASE_URL"])
        with psycopg.connect(admin, autocommit=True) as conn:
            # One template per set-up (its directory's name holds the sizes and the seed):
            # a set-up of other sizes must not replace it.
            template = f"{name}_{kept.name.replace('-', '_')}"
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
        (kept / "database").write_text(template)
    else:  # the SQLite file is in HUZHU_HOME, copied above
        (kept / "database").write_text("sqlite")
    (kept / "ready").write_text("")


def reuse_setup(kept: Path, database_url: str | None) -> str:
    """A fresh copy of the kept database to run on, with the kept HUZHU_HOME."""
    home = Path(tempfile.mkdtemp(prefix="huzhu-bench-settlements-"))
    shutil.copytree(kept / "home", home, dirs_exist_ok=True)
    os.environ["HUZHU_HOME"] = str(home)
    source = (kept / "database").read_text()
    if database_url:
        if source == "sqlite":
            raise SystemExit(f"{kept} holds a SQLite set-up; leave out --database-url")
        import psycopg

        admin, _ = _pg_admin(database_url)
        name = f"huzhu_bench_settlements{os.environ.get('HUZHU_BENCH_DB_SUFFIX', '')}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        os.environ["DATABASE_URL"] = urlunparse(urlparse(database_url)._replace(path=f"/{name}"))
    else:
        if source != "sqlite":
            raise SystemExit(f"{kept} holds a PostgreSQL set-up; give --database-url")
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huzhu.settings")
    import django

    django.setup()
    from huzhu.cli import ensure_migrated

    ensure_migrated()  # the kept database may predate a migration
    from django.db import connection

    return connection.vendor


def floor(csv_path: Path, rows: int) -> float:
    """Polars reads the file; one bare bulk insert writes `rows` result rows."""
    import polars as pl
    from django.db import connection, transaction

    from huzhu.core.bulk import fen_text, insert_frame

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_floor")
        cur.execute(
            "CREATE TABLE bench_floor (claim_id BIGINT, settlement_id BIGINT, "
            "plan_code VARCHAR(32), amount NUMERIC(14, 2), reason VARCHAR(32))"
        )
    start = time.perf_counter()
    df = pl.read_csv(csv_path, infer_schema=False)
    n = df.height
    frame = pl.DataFrame({"i": range(rows)}).select(
        pl.col("i").alias("claim_id"),
        (pl.col("i") % n).alias("settlement_id"),
        pl.lit("ZY").alias("plan_code"),
        fen_text(pl.col("i") % 100_000).alias("amount"),
        pl.lit("").alias("reason"),
    )
    with transaction.atomic():
        insert_frame("bench_floor", frame)
    return time.perf_counter() - start


def write_floor() -> tuple[float, float] | None:
    """For orientation beside the floor (PostgreSQL only): the rows the import itself wrote
    (settlements, claims, ledger entries, with their real widths), COPYed again into empty
    copies of their tables, first without indexes, then with the tables' own indexes. Returns
    seconds (bare, indexed); the CSV is made before the clock starts."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    tables = ["settlement_settlement", "protection_claim", "protection_ledgerentry"]
    connection.ensure_connection()
    raw = connection.connection  # autocommit: each COPY commits
    data = {}
    for t in tables:
        with raw.cursor().copy(f'COPY "{t}" TO STDOUT') as copy:
            data[t] = b"".join(bytes(block) for block in copy)
    seconds = []
    for like in ("", " INCLUDING ALL"):
        for t in tables:
            raw.execute(f'DROP TABLE IF EXISTS "bench_{t}"')
            raw.execute(f'CREATE TABLE "bench_{t}" (LIKE "{t}"{like})')
        start = time.perf_counter()
        for t in tables:
            with raw.cursor().copy(f'COPY "bench_{t}" FROM STDIN') as copy:
                copy.write(data[t])
        seconds.append(time.perf_counter() - start)
        for t in tables:
            raw.execute(f'DROP TABLE "bench_{t}"')
    return seconds[0], seconds[1]


def per_row(csv_path: Path, sample: int) -> float:
    """Seconds per settlement for the plain ORM path (rolled back)."""
    import polars as pl
    from django.db import transaction

    from huzhu.core.pii import vault
    from huzhu.members.models import Member
    from huzhu.protection import rules
    from huzhu.protection.models import Claim, Enrollment, LedgerEntry, PlanVersion
    from huzhu.protection.plans import terms_of
    from huzhu.settlement.models import Settlement, SettlementImport

    rows = (
        pl.read_csv(csv_path, infer_schema=False, n_rows=sample * 2)
        .filter(pl.col("reverses").is_null())
        .head(sample)
    )
    v = vault()

    class Rollback(Exception):
        pass

    start = time.perf_counter()
    try:
        with transaction.atomic():
            batch = SettlementImport.objects.create(file_name="per-row", file_sha256="-")
            for r in rows.iter_rows(named=True):
                member = Member.objects.filter(id_hash=v.lookup_hash(r["id_number"])).first()
                s = Settlement.objects.create(
                    settlement_id=r["settlement_id"] + "-PR",
                    id_hash=v.lookup_hash(r["id_number"]),
                    id_cipher=v.encrypt(r["id_number"]),
                    member=member,
                    hospital=r["hospital"] or "",
                    admitted_on=date.fromisoformat(r["admitted_on"]),
                    discharged_on=date.fromisoformat(r["discharged_on"]),
                    settled_on=date.fromisoformat(r["settled_on"]),
                    in_scope_self_pay=Decimal(r["in_scope_self_pay"]),
                    out_of_scope_self_pay=Decimal(r["out_of_scope_self_pay"] or 0),
                    diagnosis_code=r["diagnosis_code"] or "",
                    is_accident=r["is_accident"] == "1",
                    content_hash="-",
                    batch=batch,
                )
                if member is None:
                    continue
                for enrolment in Enrollment.objects.filter(member=member).select_related(
                    "version__plan"
                ):
                    version: PlanVersion = enrolment.version
                    terms = terms_of(version)
                    if not terms.covers_admission(s.admitted_on):
                        continue
                    previous = PlanVersion.objects.filter(
                        plan=version.plan, period_end=version.period_start - timedelta(days=1)
                    ).first()
                    new = (
                        previous is None
                        or not Enrollment.objects.filter(member=member, version=previous).exists()
                    )
                    mine = Settlement.objects.filter(
                        member=member,
                        reverses="",
                        reversed_by="",
                        admitted_on__range=(version.period_start, version.period_end),
                    )
                    facts = [
                        rules.SettlementFacts(
                            settlement_id=x.settlement_id,
                            admitted_on=x.admitted_on,
                            discharged_on=x.discharged_on,
                            settled_on=x.settled_on,
                            in_scope_self_pay=x.in_scope_self_pay,
                            out_of_scope_self_pay=x.out_of_scope_self_pay or Decimal(0),
                            diagnosis_code=x.diagnosis_code or None,
                            is_accident=x.is_accident,
                        )
                        for x in mine
                    ]  # type: ignore[arg-type]
                    for a in rules.adjudicate_period(terms, new_to_plan=new, settlements=facts):
                        target = Settlement.objects.get(settlement_id=a.settlement_id)
                        claim, _ = Claim.objects.get_or_create(
                            settlement=target,
                            version=version,
                            defaults={
                                "source": "settlement",
                                "state": "approved",
                                "member": member,
                                "plan_code": version.plan.code,
                            },
                        )
                        net = sum((e.amount for e in claim.entries.all()), Decimal(0))
                        if a.payable != net:
                            LedgerEntry.objects.create(
                                claim=claim,
                                member=member,
                                kind="adjustment",
                                amount=a.payable - net,
                            )
            raise Rollback
    except Rollback:
        pass
    return (time.perf_counter() - start) / rows.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=4_000_000)
    parser.add_argument("--settlements", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--sample", type=int, default=300, help="rows for the per-row baseline")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--keep-setup",
        type=Path,
        metavar="DIR",
        help="keep the generated files and the loaded database in DIR and reuse them on the "
        "next run with the same sizes (the set-up of 4M members takes many minutes)",
    )
    args = parser.parse_args()
    results: dict[str, float] = {}
    kept = None
    if args.keep_setup:
        kept = args.keep_setup / f"m{args.members}-s{args.settlements}-seed{args.seed}"
    if kept is not None and (kept / "ready").exists():
        vendor = reuse_setup(kept, args.database_url)
        out = kept / "files"
        print(f"  reusing the set-up kept in {kept}", file=sys.stderr)
    else:
        vendor = setup_database(args.database_url, "settlements")
        from huzhu.synth import generate_dataset

        out = Path(tempfile.mkdtemp(prefix="huzhu-settle-"))
        if kept is not None:
            out = kept / "files"
            out.mkdir(parents=True, exist_ok=True)
        with timed("generate", results):
            generate_dataset(
                out=out, members=args.members, settlements=args.settlements, seed=args.seed
            )
        with timed("set-up: members and enrolments", results):
            load_members_and_enrolments(out)
        if kept is not None:
            keep_setup(kept)
    print(
        f"settlement benchmark: {args.members:,} members, {args.settlements:,} settlements "
        f"on {vendor}",
        file=sys.stderr,
    )

    from django.db import connection

    connection.close()
    csv_path = out / "settlements.csv"
    env = dict(os.environ, HUZHU_LOG_LEVEL="DEBUG")  # the import logs its stages at DEBUG
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "huzhu", "import", "settlements", str(csv_path)],
            env=env,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        # The import's own peak. Neither RUSAGE_CHILDREN nor the child's own ru_maxrss will
        # do: the first counts earlier children of the set-up, and the second keeps the size
        # of this (big, after a set-up) process at the fork, from before the exec. The
        # kernel's high-water mark of the import's memory (VmHWM) does not.
        sampler = _PeakMemory(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    peak = sampler.peak_kib / 1024 if sampler.peak_kib else usage.ru_maxrss / 1024
    if proc.returncode != 0:
        print(err[-3000:], file=sys.stderr)
        raise SystemExit(f"import failed with exit {proc.returncode}")
    summary = dict(
        part.split("=", 1)
        for part in out.split()
        if "=" in part and part.split("=", 1)[0] in {"rows", "new", "entries", "matched"}
    )
    from huzhu.protection.models import Claim, LedgerEntry

    written = Claim.objects.count() + LedgerEntry.objects.count()
    with timed("floor", results):
        floor_s = floor(csv_path, written)
    own = write_floor()
    per_row_s = per_row(csv_path, args.sample)
    per_row_total = per_row_s * args.settlements
    n = args.settlements
    print(f"database:              {vendor}")
    print(f"members / settlements: {args.members:,} / {n:,}")
    print(
        f"import (end to end):   {elapsed:.1f} s  ({n / elapsed:,.0f} rows/s), exit 0, "
        f"{summary.get('entries', '?')} ledger entries, {written:,} rows written"
    )
    print(f"peak memory (import):  {peak:,.0f} MiB")
    stages = re.findall(
        r"huzhu\.(?:settlement\.services stage|core\.bulk (background)) (.+) ([0-9.]+) s$",
        err,
        re.M,
    )
    if stages:
        print("where the import's time went (background: database jobs overlapping the rest):")
        for background, name, seconds in stages:
            print(f"  {float(seconds):6.2f} s  {'  background: ' if background else ''}{name}")
    print(
        f"floor:                 {floor_s:.1f} s  (Polars read + bare insert of {written:,} rows)"
    )
    print(
        f"per-row ORM path:      {per_row_s * 1000:.1f} ms/row on {args.sample} rows "
        f"-> {per_row_total:,.0f} s for the file"
    )
    if own is not None:
        print(
            f"its own rows again:    {own[0]:.1f} s  (COPY of the {written + n:,} settlements, "
            f"claims and entries it wrote, real widths, no indexes); {own[1]:.1f} s with the "
            f"tables' indexes  -> import/that: {elapsed / own[1]:.2f}x"
        )
    print(f"ratio import/floor:    {elapsed / floor_s:.2f}x  (aim: within 3x)")
    print(f"speed-up vs per-row:   {per_row_total / elapsed:.0f}x  (aim: at least 50x)")


if __name__ == "__main__":
    main()
