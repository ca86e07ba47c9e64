"""`huzhu import stations FILE [--keep-valid]`, collected by the command line (cli.py)."""

from __future__ import annotations

from typing import Any


def _import_stations(data: bytes, *, file: str, keep_valid: bool, progress: Any) -> Any:
    from huzhu.stations.importer import stations_import

    return stations_import(data, file=file, keep_valid=keep_valid, progress=progress)


IMPORTERS = {"stations": _import_stations}
