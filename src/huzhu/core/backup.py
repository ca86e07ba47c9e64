"""`huzhu backup` and `huzhu restore`: every table of the application in one portable archive.

The archive is a zip of one CSV file per table plus a manifest (format version, applied
migrations, row counts, SHA-256 of each table file). Values are written in a form both SQLite
and PostgreSQL read back (booleans 1/0, times in UTC without offset, JSON as text), so a backup
of one database restores into the other. Restore loads everything in one transaction into a
freshly migrated database at the same migration state; the file is checked before anything is
written, and a failure leaves the target unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.core.errors import DomainError
from huzhu.core.files import atomic_write

FORMAT = "huzhu-backup-1"
csv.field_size_limit(1 << 30)


def _models() -> list[type[models.Model]]:
    found = []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.managed and not meta.proxy and not meta.swapped:
            found.append(model)
    return sorted(found, key=lambda m: m._meta.db_table)


def _columns(model: type[models.Model]) -> list[tuple[str, str]]:
    return [(str(f.column), f.get_internal_type()) for f in model._meta.concrete_fields]


def _places(model: type[models.Model]) -> dict[str, int]:
    return {
        str(f.column): f.decimal_places or 0
        for f in model._meta.concrete_fields
        if isinstance(f, models.DecimalField)
    }


def _dump_value(value: Any, kind: str, places: int = 2) -> str:
    if value is None:
        return "\\N"
    if kind == "BooleanField":
        return "1" if value in (True, 1, "1", "t", "true") else "0"
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if kind == "DateTimeField" and isinstance(value, str):
        # SQLite keeps naive UTC text already.
        return value.replace("T", " ")
    if kind == "JSONField":
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, ensure_ascii=False, sort_keys=True)
    if kind == "DecimalField":
        # SQLite hands back binary floats; both vendors dump the field's exact places.
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        return str(exact.quantize(Decimal(1).scaleb(-places)))
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def _rows(model: type[models.Model]) -> Iterator[list[str]]:
    cols = _columns(model)
    places = _places(model)
    names = ", ".join(connection.ops.quote_name(c) for c, _ in cols)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {names} FROM {table} ORDER BY 1")
        while batch := cur.fetchmany(20_000):
            for row in batch:
                yield [
                    _dump_value(v, kind, places.get(c, 2))
                    for v, (c, kind) in zip(row, cols, strict=True)
                ]


def _applied_migrations() -> list[str]:
    recorder = MigrationRecorder(connection)
    return sorted(f"{app}.{name}" for app, name in recorder.applied_migrations())


def backup_write(out: Path) -> dict[str, int]:
    """Write the archive; returns rows per table. Reads in one transaction (a consistent view
    on PostgreSQL, where it runs as REPEATABLE READ)."""
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    outermost = not connection.in_atomic_block
    with (
        transaction.atomic(),
        atomic_write(out, binary=True) as fh,
        zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for model in _models():
            table = model._meta.db_table
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow([c for c, _ in _columns(model)])
            n = 0
            for row in _rows(model):
                writer.writerow(row)
                n += 1
            data = buf.getvalue().encode("utf-8")
            archive.writestr(f"tables/{table}.csv", data)
            counts[table] = n
            digests[table] = hashlib.sha256(data).hexdigest()
        manifest = {
            "format": FORMAT,
            "created_at": timezone.now().isoformat(),
            "vendor": connection.vendor,
            "migrations": _applied_migrations(),
            "tables": counts,
            "sha256": digests,
        }
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    return counts


def _read_manifest(archive: zipfile.ZipFile, source: str) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, json.JSONDecodeError) as exc:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：没有可读取的清单（%(error)s）") % {"source": source, "error": exc},
        ) from None
    if manifest.get("format") != FORMAT:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：未知的格式 %(format)s")
            % {"source": source, "format": repr(manifest.get("format"))},
        )
    return manifest


def backup_restore(source: Path) -> dict[str, int]:
    """Load an archive into this database, which must be migrated to the same state and hold no
    business data yet (only what migrations themselves create, which is replaced)."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：不是备份归档（%(error)s）") % {"source": source, "error": exc},
        ) from None
    with archive:
        manifest = _read_manifest(archive, str(source))
        if manifest["migrations"] != _applied_migrations():
            raise DomainError(
                "migration_mismatch",
                _("%(source)s：备份时的数据库迁移状态与本系统不同；请先把两边升级到同一版本")
                % {"source": source},
            )
        by_table = {m._meta.db_table: m for m in _models()}
        unknown = set(manifest["tables"]) - set(by_table)
        if unknown:
            raise DomainError(
                "invalid_backup",
                _("%(source)s：未知的表 %(tables)s")
                % {"source": source, "tables": sorted(unknown)},
            )
        payload: dict[str, bytes] = {}
        for table, digest in manifest["sha256"].items():
            data = archive.read(f"tables/{table}.csv")
            if hashlib.sha256(data).hexdigest() != digest:
                raise DomainError(
                    "invalid_backup",
                    _("%(source)s：tables/%(table)s.csv 已损坏")
                    % {"source": source, "table": table},
                )
            payload[table] = data
    migration_made = {"django_content_type", "auth_permission"}
    with transaction.atomic():
        for table, model in by_table.items():
            if table in migration_made:
                continue
            if model._default_manager.exists():
                raise DomainError(
                    "target_not_empty",
                    _("数据库中已有 %(table)s 的数据；请恢复到一个新数据库") % {"table": table},
                )
        with connection.cursor() as cur:
            for table in migration_made & set(payload):
                cur.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
            if connection.vendor == "sqlite":
                cur.execute("PRAGMA defer_foreign_keys = ON")
            else:
                cur.execute("SET CONSTRAINTS ALL DEFERRED")
        counts = {}
        for table, data in payload.items():
            counts[table] = _load_table(by_table[table], data)
        with connection.cursor() as cur:
            for sql in connection.ops.sequence_reset_sql(no_style(), list(by_table.values())):
                cur.execute(sql)
    return counts


def _load_value(text: str, kind: str) -> Any:
    if text == "\\N":
        return None
    if kind == "BooleanField":
        return text == "1"
    if kind == "DateTimeField" and connection.vendor == "postgresql":
        return text + "+00:00"
    return text


def _load_table(model: type[models.Model], data: bytes) -> int:
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    header = next(reader)
    kinds = dict(_columns(model))
    if set(header) != set(kinds):
        raise DomainError(
            "invalid_backup",
            _("%(table)s：列与本版本的不同") % {"table": model._meta.db_table},
        )
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in header)
    marks = ", ".join(["%s"] * len(header))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    n = 0
    batch: list[list[Any]] = []
    with connection.cursor() as cur:
        for row in reader:
            batch.append([_load_value(v, kinds[c]) for v, c in zip(row, header, strict=True)])
            if len(batch) >= 10_000:
                cur.executemany(sql, batch)
                n += len(batch)
                batch = []
        if batch:
            cur.executemany(sql, batch)
            n += len(batch)
    return n
