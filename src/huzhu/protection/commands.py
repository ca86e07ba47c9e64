"""CLI: `huzhu plans load FILE.toml`, `huzhu import enrollments FILE`, and payment runs:
`huzhu payments run --out FILE.csv`, `huzhu payments confirm FILE.csv` and `huzhu documents
encrypt`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _plans_load(args: argparse.Namespace) -> int:
    from huzhu.protection.plans import plan_load_toml

    path = Path(args.file)
    version, created = plan_load_toml(path.read_bytes(), file=str(path))
    print(f"{'created' if created else 'updated'} {version}", file=sys.stdout)
    return 0


def _add_plans(sub: Any) -> None:
    plans = sub.add_parser("plans", help="plan versions")
    plans_sub = plans.add_subparsers(dest="action", required=True)
    load = plans_sub.add_parser("load", help="create or update a plan version from TOML")
    load.add_argument("file")
    load.set_defaults(func=_plans_load)


def _import_enrollments(data: bytes, *, file: str, keep_valid: bool, progress: Any) -> Any:
    from huzhu.protection.enrollments import enrollments_import

    return enrollments_import(data, file=file, keep_valid=keep_valid, progress=progress)


def _payments_run(args: argparse.Namespace) -> int:
    """Make a run and write its bank file. The run commits first, then the file is written (all
    or nothing) and marked written: a process killed in between, or a full disk, leaves a run
    without a file and no money can leave; the next `payments run` writes that run's file
    before it makes a new run."""
    from django.db import transaction

    from huzhu.core.errors import Conflict
    from huzhu.protection.payments import (
        payment_run_create,
        payment_run_release,
        payment_run_write_file,
    )

    out = Path(args.out)
    waiting = payment_run_write_file(out=out)
    if waiting is not None:
        print(
            f"run {waiting.reference}: its bank file had not been written (the command was "
            f"interrupted); wrote it to {out}. Run again for a new payment run."
        )
        return 0
    try:
        # The operator's own run: made and released at once, both audited as the command's.
        with transaction.atomic():
            result = payment_run_create(actor=None)
            payment_run_release(actor=None, run=result.run)
    except Conflict as exc:
        if exc.code != "nothing_to_pay":
            raise
        print(f"nothing to pay ({exc.details})", file=sys.stderr)
        return 0
    payment_run_write_file(out=out, run=result.run)
    print(
        f"run {result.run.reference}: {result.items} transfers, total {result.run.total:.2f}; "
        f"held: {result.held_no_card} without an active card, "
        f"{result.held_not_positive} not above zero, {result.held_too_large} above "
        f"99999999.99 (for review), {result.held_next_run} for the next run; wrote {out}"
    )
    return 0


def _payments_confirm(args: argparse.Namespace) -> int:
    from huzhu.core.tabular import TableError
    from huzhu.protection.payments import payment_confirm_file

    path = Path(args.file)
    try:
        report = payment_confirm_file(actor=None, data=path.read_bytes(), file=str(path))
    except TableError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 2
    print(" ".join(f"{k}={v}" for k, v in report.as_dict().items() if k != "file"))
    return 0


def _add_payments(sub: Any) -> None:
    pay = sub.add_parser("payments", help="payment runs to members' cards")
    pay_sub = pay.add_subparsers(dest="action", required=True)
    run = pay_sub.add_parser("run", help="make a payment run and write the bank transfer file")
    run.add_argument("--out", required=True, help="the bank file to write (CSV)")
    run.set_defaults(func=_payments_run)
    confirm = pay_sub.add_parser(
        "confirm", help="the bank's answer: reference[,status paid/failed][,reason] per row"
    )
    confirm.add_argument("file")
    confirm.set_defaults(func=_payments_confirm)


def _documents_encrypt(args: argparse.Namespace) -> int:
    from huzhu.protection.documents import documents_encrypt_legacy

    print(f"encrypted {documents_encrypt_legacy()} document(s) stored before encryption")
    return 0


def _add_documents(sub: Any) -> None:
    docs = sub.add_parser("documents", help="claim documents")
    docs_sub = docs.add_subparsers(dest="action", required=True)
    enc = docs_sub.add_parser(
        "encrypt", help="encrypt the documents stored before encryption, in place"
    )
    enc.set_defaults(func=_documents_encrypt)


# Collected by huzhu.cli.
COMMANDS = (_add_plans, _add_payments, _add_documents)
IMPORTERS = {"enrollments": _import_enrollments}
