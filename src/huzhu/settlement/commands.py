"""CLI: `huzhu import settlements FILE` and `huzhu export payouts --out FILE [--plan CODE]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _import_settlements(data: bytes, *, file: str, keep_valid: bool, progress: Any) -> Any:
    from huzhu.settlement.services import settlements_import

    return settlements_import(data, file=file, keep_valid=keep_valid, progress=progress)


def _export_payouts(args: argparse.Namespace) -> int:
    from huzhu.settlement.exports import payouts_export

    return payouts_export(Path(args.out), plan_code=args.plan)


# Collected by huzhu.cli.
IMPORTERS = {"settlements": _import_settlements}
EXPORTERS = {"payouts": _export_payouts}
