"""CLI: `huzhu plans load FILE.toml` and `huzhu import enrollments FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from huzhu import cli


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


cli.EXTENSIONS.append(_add_plans)
cli.IMPORTERS["enrollments"] = _import_enrollments
