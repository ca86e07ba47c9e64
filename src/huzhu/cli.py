"""The `huzhu` command (also `python -m huzhu`). Every command migrates the database first.

Exit status: 0 on success, 2 on bad input (with a report naming file, row, column and reason on
stderr; nothing is written unless --keep-valid was given), 1 when an output file could not be
written (e.g. the disk is full: the message names the file, and nothing was written there).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from huzhu.core.args import whole_number

Handler = Callable[[argparse.Namespace], int]
Importer = Callable[..., Any]
Exporter = Callable[[argparse.Namespace], int]

# The apps' own commands, collected here (this module sits above the apps and imports them;
# they never import it). Each module may hold COMMANDS (functions adding subcommands to the
# parser), IMPORTERS (`huzhu import KIND FILE`) and EXPORTERS (`huzhu export KIND --out FILE`).
APP_COMMANDS = (
    "huzhu.protection.commands",
    "huzhu.settlement.commands",
    "huzhu.benefits.commands",
    "huzhu.stations.commands",
    "huzhu.reports.commands",
)


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huzhu.settings")
    import django

    django.setup()


def ensure_migrated(verbose: bool = False) -> None:
    """Apply pending migrations (under an advisory lock on PostgreSQL, so servers starting
    together do not race)."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def pending() -> bool:
        executor = MigrationExecutor(connection)
        return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))

    if not pending():
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(784512)")
            try:
                if pending():
                    call_command("migrate", verbosity=1 if verbose else 0, interactive=False)
            finally:
                cur.execute("SELECT pg_advisory_unlock(784512)")
    else:
        call_command("migrate", verbosity=1 if verbose else 0, interactive=False)


class Progress:
    """Progress lines on a terminal (stderr); silent when output is not a terminal."""

    def __init__(self, label: str, stream: Any = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()

    def __call__(self, stage: str, count: int) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            print(
                f"\r{self.label}: {stage} {count:,} ({elapsed:.1f}s)\033[K",
                end="",
                file=self.stream,
                flush=True,
            )

    def done(self) -> None:
        if self.enabled:
            print(file=self.stream)


# The largest synthetic data set `huzhu generate` writes (benchmarks use 4,000,000 members).
MAX_GENERATED_MEMBERS = 10_000_000
MAX_GENERATED_SETTLEMENTS = 50_000_000
SEED_LIMIT = 2**63 - 1


def _report_errors(errors: Sequence[Any], stream: Any = None) -> None:
    stream = stream or sys.stderr
    for e in errors:
        print(str(e), file=stream)
    print(f"{len(errors)} problem(s) found", file=stream)


def _read_input(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(path)
    return p.read_bytes()


# -- handlers -------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from huzhu.demo import demo_load_if_empty

    if demo_load_if_empty():
        print("loaded the demo data set", file=sys.stderr)
    from django.conf import settings

    from huzhu.core import jobs

    if ran := jobs.jobs_left_over():  # local jobs only; the queue keeps its own
        print(f"finished {ran} job(s) left by the last run", file=sys.stderr)

    from huzhu.core import static

    static.static_collect(settings.STATIC_ROOT)
    os.environ[static.ENV] = "1"  # the workers link the hashed, compressed files
    # The workers count their metrics in files of one folder, summed by any scrape; counts of an
    # earlier run are gone (huzhu.core.metrics).
    metrics_dir = Path(settings.HUZHU_HOME) / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    host = args.host
    print(
        f"huzhu serving on http://{host}:{args.port}/ with {args.workers} worker(s)",
        file=sys.stderr,
    )
    sys.stderr.flush()
    # Granian: an HTTP server written in Rust that calls the WSGI application from a pool of
    # Python threads per worker process. Parsing requests, accepting and closing connections
    # happen outside Python; in the flash crowd that took a fifth of the server's CPU per
    # request off gunicorn's (0.84 -> 0.65 ms, bench/flash_crowd.py).
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--blocking-threads",
        str(args.threads),
        "--backlog",
        "2048",
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        "10",
        "--log-level",
        "warning",
        "--access-log" if args.access_log else "--no-access-log",
        "huzhu.wsgi:application",
    ]
    os.environ["HUZHU_HOME"] = str(settings.HUZHU_HOME)
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover - exec does not return


def cmd_worker(args: argparse.Namespace) -> int:
    """Run queued jobs until stopped (SIGTERM or Ctrl-C finish the jobs in hand first)."""
    from huzhu.core import jobs

    if not jobs.queued():
        print(
            "error: huzhu worker runs the PostgreSQL job queue (HUZHU_JOBS=queue, DATABASE_URL="
            "postgres://...); without it jobs run inside `huzhu serve`",
            file=sys.stderr,
        )
        return 2
    print(f"huzhu worker: {args.concurrency} job(s) at a time", file=sys.stderr)
    sys.stderr.flush()
    jobs.worker_run(concurrency=args.concurrency, wait=not args.once)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from huzhu.demo import demo_load

    summary = demo_load()
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from huzhu.core.tabular import TableError

    data = _read_input(args.file)
    progress = Progress(f"import {args.kind}")
    try:
        report = importers()[args.kind](
            data, file=args.file, keep_valid=args.keep_valid, progress=progress
        )
    except TableError as exc:
        progress.done()
        _report_errors(exc.errors)
        return 2
    progress.done()
    summary = report.as_dict()
    errors = summary.pop("errors")
    created_orgs: Any = summary.pop("created_orgs", [])
    print(" ".join(f"{k}={v}" for k, v in summary.items() if k != "file"))
    for org in created_orgs:  # every organisation the import created, one line each
        under = f" under {org['parent_code']}" if org["parent_code"] else ""
        print(f"created {org['kind']} {org['code']} {org['name']}{under}")
    if errors:
        _report_errors(report.errors)
        print(f"kept the valid rows; {len(errors)} row problem(s) skipped", file=sys.stderr)
    return 0


def _import_orgs(data: bytes, *, file: str, keep_valid: bool, progress: Progress) -> Any:
    from huzhu.members.roster import orgs_import

    return orgs_import(data, file=file, keep_valid=keep_valid)


def _import_members(data: bytes, *, file: str, keep_valid: bool, progress: Progress) -> Any:
    from huzhu.members.roster import members_import

    return members_import(data, file=file, keep_valid=keep_valid, progress=progress)


def importers() -> dict[str, Importer]:
    """`huzhu import KIND FILE`: the rosters', and the apps' own."""
    found: dict[str, Importer] = {"orgs": _import_orgs, "members": _import_members}
    for module in _app_modules():
        found.update(getattr(module, "IMPORTERS", {}))
    return found


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.kind == "members":
        from huzhu.members.roster_export import members_export

        if out.suffix.lower() not in (".csv", ".xlsx"):
            print(f"{args.out}: use a .csv or .xlsx file name", file=sys.stderr)
            return 2
        count = members_export(out)
    else:
        count = exporters()[args.kind](args)
    print(f"wrote {count} rows to {out}")
    return 0


def exporters() -> dict[str, Exporter]:
    """`huzhu export KIND --out FILE` besides the roster: the apps' own."""
    found: dict[str, Exporter] = {}
    for module in _app_modules():
        found.update(getattr(module, "EXPORTERS", {}))
    return found


def cmd_create_staff(args: argparse.Namespace) -> int:
    from huzhu.members.logins import staff_create

    staff_create(username=args.username, password=args.password, org_code=args.org, role=args.role)
    print(f"created {args.role} {args.username} at {args.org}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from huzhu.synth import generate_dataset

    files = generate_dataset(
        out=Path(args.out),
        members=args.members,
        settlements=args.settlements,
        seed=args.seed,
        progress=Progress("generate"),
    )
    for name, count in files.items():
        print(f"{name}: {count} rows")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from huzhu.core.backup import backup_verify, backup_write

    if args.verify:
        summary = backup_verify(Path(args.verify))
        print(
            f"{args.verify}: whole, and restorable here: {sum(summary.tables.values()):,} rows "
            f"of {len(summary.tables)} tables, {summary.documents:,} documents, "
            f"PII key {summary.pii_key or '(not recorded: format 1)'}"
        )
    else:
        summary = backup_write(Path(args.out))
        print(
            f"wrote {sum(summary.tables.values()):,} rows of {len(summary.tables)} tables and "
            f"{summary.documents:,} documents to {args.out} (PII key {summary.pii_key})"
        )
    for name in summary.missing:
        print(f"warning: document {name} is named by a row but was not in storage", file=sys.stderr)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from huzhu.core.backup import backup_restore

    summary = backup_restore(Path(args.file))
    print(
        f"restored {sum(summary.tables.values()):,} rows of {len(summary.tables)} tables and "
        f"{summary.documents:,} documents from {args.file}"
    )
    return 0


def cmd_pii_rotate(args: argparse.Namespace) -> int:
    from huzhu.audit.pii_rotate import pii_rotate

    counts = pii_rotate(args.new_key)
    for column, n in counts.items():
        print(f"{column}: {n:,} re-encrypted")
    if os.environ.get("HUZHU_PII_KEY"):
        print(
            "HUZHU_PII_KEY comes from the environment: start the servers with the new key.",
            file=sys.stderr,
        )
    else:
        print("the new key is in $HUZHU_HOME/pii_key (the old one in pii_key.old)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from huzhu.accounts.models import Role

    p = argparse.ArgumentParser(prog="huzhu", description="互助 — the union federation's platform")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the web app on a production server")
    s.add_argument("--port", type=whole_number(1, 65535), default=int(os.environ.get("PORT", 8000)))
    s.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    s.add_argument("--workers", type=whole_number(1, 256), default=2)
    # Threads overlap a request's database waits (a hot quota row, a commit) with another's
    # Python work: on 2 cores, 4 workers x 4 threads sold a flash crowd ~20-40% faster than
    # 4 workers of one thread each.
    s.add_argument(
        "--threads", type=whole_number(1, 256), default=4, help="Python threads per worker"
    )
    s.add_argument("--access-log", action="store_true")
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="run background jobs from the PostgreSQL queue")
    w.add_argument("--concurrency", type=whole_number(1, 64), default=1)
    w.add_argument("--once", action="store_true", help="stop when the queue is empty")
    w.set_defaults(func=cmd_worker)

    sub.add_parser("demo", help="load the demo data set").set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="import a file")
    imp.add_argument("kind", choices=sorted(importers()))
    imp.add_argument("file")
    imp.add_argument(
        "--keep-valid", action="store_true", help="import the good rows, report the bad"
    )
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser("export", help="export a file")
    exp.add_argument("kind", choices=sorted({"members", *exporters()}))
    exp.add_argument("--out", required=True)
    exp.add_argument("--plan", default=None)
    exp.set_defaults(func=cmd_export)

    acc = sub.add_parser("accounts", help="logins")
    acc_sub = acc.add_subparsers(dest="action", required=True)
    cs = acc_sub.add_parser("create-staff", help="create a staff login")
    cs.add_argument("--username", required=True)
    cs.add_argument("--password", required=True)
    cs.add_argument("--org", required=True, help="organisation code")
    cs.add_argument("--role", required=True, choices=[r.value for r in Role if r != Role.MEMBER])
    cs.set_defaults(func=cmd_create_staff)

    g = sub.add_parser("generate", help="a synthetic, realistic data set")
    g.add_argument("--members", type=whole_number(1, MAX_GENERATED_MEMBERS), required=True)
    g.add_argument("--settlements", type=whole_number(0, MAX_GENERATED_SETTLEMENTS), default=0)
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=whole_number(-SEED_LIMIT, SEED_LIMIT), default=1)
    g.set_defaults(func=cmd_generate)

    b = sub.add_parser("backup", help="every table and document into one portable archive")
    what = b.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", help="write a backup to this file")
    what.add_argument("--verify", metavar="FILE", help="check a backup, restoring nothing")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="load a backup archive into a new database")
    r.add_argument("file")
    r.set_defaults(func=cmd_restore)

    pii = sub.add_parser("pii", help="personal-data keys")
    pii_sub = pii.add_subparsers(dest="action", required=True)
    rot = pii_sub.add_parser("rotate", help="re-encrypt everything under a new HUZHU_PII_KEY")
    rot.add_argument("--new-key", default=None, help="the new key (default: generate one)")
    rot.set_defaults(func=cmd_pii_rotate)

    for module in _app_modules():
        for add in getattr(module, "COMMANDS", ()):
            add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever the command or the server it starts creates (the database, uploads, exports,
    # progress files) is its owner's only; the server's workers inherit this through exec.
    os.umask(0o077)
    _setup_django()
    from huzhu.core.errors import DomainError
    from huzhu.core.files import WriteFailed

    args = build_parser().parse_args(argv)
    if args.command != "generate":
        ensure_migrated()
    try:
        return int(args.func(args))
    except FileNotFoundError as exc:
        print(f"{exc.filename or exc}: no such file", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except WriteFailed as exc:
        # Not bad input: the machine could not take the file (a full disk, a quota, permissions).
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _app_modules() -> list[ModuleType]:
    """The apps' command modules (APP_COMMANDS), imported."""
    return [importlib.import_module(name) for name in APP_COMMANDS]


if __name__ == "__main__":
    raise SystemExit(main())
