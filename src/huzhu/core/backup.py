"""`huzhu backup` and `huzhu restore`: every table and every stored document of the
application in one portable archive.

The archive is a zip of one CSV file per table, the documents the rows name (claim documents,
as stored: sealed, huzhu.core.sealed) under `files/`, and a manifest: format version, applied
migrations, row counts, SHA-256 of each table file and each document, and the fingerprint of the
PII key the data were written under. Values are written in a form both SQLite and PostgreSQL
read back (booleans 1/0, times in UTC without offset, JSON as text), so a backup of one database
restores into the other. Restore loads everything in one transaction into a freshly migrated
database at the same migration state, with the same PII key (under another key no ID number or
document could be read again); the file is checked before anything is written, and a failure
leaves the target unchanged. `huzhu backup --verify FILE` runs the same checks and writes
nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.core.errors import DomainError
from huzhu.core.files import atomic_write
from huzhu.core.pii import vault

FORMAT = "huzhu-backup-2"
# Format 1 carried no documents and no key fingerprint; it is still read.
READABLE = frozenset({"huzhu-backup-1", FORMAT})
COPY_CHUNK = 1 << 20
csv.field_size_limit(1 << 30)


def _models() -> list[type[models.Model]]:
    """The tables a backup holds: every managed table but those the database derives itself
    (`DERIVED_BY_TRIGGERS`: rebuilt by their triggers as the rows they count are restored, or
    after the restore by their `rebuild_after_restore`)."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        derived = getattr(model, "DERIVED_BY_TRIGGERS", False)
        if meta.managed and not meta.proxy and not meta.swapped and not derived:
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


# Not data: the job queue's own tables (PostgreSQL only) hold work in flight, which a backup
# neither carries nor needs, so a backup of PostgreSQL restores into SQLite and back.
NOT_BACKED_UP_APPS = {"procrastinate"}


def _applied_migrations() -> list[str]:
    recorder = MigrationRecorder(connection)
    return sorted(
        f"{app}.{name}"
        for app, name in recorder.applied_migrations()
        if app not in NOT_BACKED_UP_APPS
    )


@dataclass(frozen=True)
class BackupSummary:
    """What an archive holds: rows per table, the documents, and the documents a row names that
    the storage did not hold when the backup was written (they cannot be in it)."""

    tables: dict[str, int]
    documents: int = 0
    missing: list[str] = field(default_factory=list)
    pii_key: str = ""


def _document_names() -> list[str]:
    """Every stored file a row names (claim documents), each once, sorted."""
    names: set[str] = set()
    for model in _models():
        for f in model._meta.concrete_fields:
            if isinstance(f, models.FileField):
                rows = model._default_manager.values_list(f.attname, flat=True)
                names.update(str(n) for n in rows if n)
    return sorted(names)


def _copy_document(archive: zipfile.ZipFile, name: str) -> str:
    """Copy a stored document into the archive as it is stored; its SHA-256."""
    digest = hashlib.sha256()
    with (
        default_storage.open(name, "rb") as src,
        archive.open(f"files/{name}", "w", force_zip64=True) as dst,
    ):
        while chunk := src.read(COPY_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


def backup_write(out: Path) -> BackupSummary:
    """Write the archive. Reads in one transaction (a consistent view on PostgreSQL, where it
    runs as REPEATABLE READ); documents are copied as stored (sealed), so the archive holds no
    readable ID number or document without the PII key."""
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    files: dict[str, str] = {}
    missing: list[str] = []
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
        for name in _document_names():
            if default_storage.exists(name):
                files[name] = _copy_document(archive, name)
            else:
                missing.append(name)
        key = vault().fingerprint()
        manifest = {
            "format": FORMAT,
            "created_at": timezone.now().isoformat(),
            "vendor": connection.vendor,
            "migrations": _applied_migrations(),
            "tables": counts,
            "sha256": digests,
            "files": files,
            "missing_files": missing,
            "pii_key": key,
        }
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    return BackupSummary(counts, len(files), missing, key)


def _read_manifest(archive: zipfile.ZipFile, source: str) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, json.JSONDecodeError) as exc:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：没有可读取的清单（%(error)s）") % {"source": source, "error": exc},
        ) from None
    if manifest.get("format") not in READABLE:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：未知的格式 %(format)s")
            % {"source": source, "format": repr(manifest.get("format"))},
        )
    return manifest


def _open(source: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：不是备份归档（%(error)s）") % {"source": source, "error": exc},
        ) from None


def _damaged(source: Path, member: str) -> DomainError:
    return DomainError(
        "invalid_backup", _("%(source)s：%(member)s 已损坏") % {"source": source, "member": member}
    )


def _check_archive(
    archive: zipfile.ZipFile, source: Path
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and every table's CSV, each table and document checked against its SHA-256
    (DomainError naming the first damaged member)."""
    manifest = _read_manifest(archive, str(source))
    known = {m._meta.db_table for m in _models()}
    unknown = set(manifest["tables"]) - known
    if unknown:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：未知的表 %(tables)s") % {"source": source, "tables": sorted(unknown)},
        )
    payload: dict[str, bytes] = {}
    try:
        for table, digest in manifest["sha256"].items():
            data = archive.read(f"tables/{table}.csv")
            if hashlib.sha256(data).hexdigest() != digest:
                raise _damaged(source, f"tables/{table}.csv")
            payload[table] = data
        for name, digest in manifest.get("files", {}).items():
            _check_document_name(name, source)
            sha = hashlib.sha256()
            with archive.open(f"files/{name}") as member:
                while chunk := member.read(COPY_CHUNK):
                    sha.update(chunk)
            if sha.hexdigest() != digest:
                raise _damaged(source, f"files/{name}")
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise DomainError(
            "invalid_backup",
            _("%(source)s：已损坏（%(error)s）") % {"source": source, "error": exc},
        ) from None
    return manifest, payload


def _check_document_name(name: str, source: Path) -> None:
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise DomainError(
            "invalid_backup",
            _("%(source)s：文件名不可用：%(name)s") % {"source": source, "name": name},
        )


def _check_fits_here(manifest: dict[str, Any], source: Path) -> None:
    """Refused when this system could not use the archive: another migration state, or another
    PII key (the archive's ID numbers and documents would never decrypt here)."""
    if manifest["migrations"] != _applied_migrations():
        raise DomainError(
            "migration_mismatch",
            _("%(source)s：备份时的数据库迁移状态与本系统不同；请先把两边升级到同一版本")
            % {"source": source},
        )
    theirs, ours = manifest.get("pii_key"), vault().fingerprint()
    if theirs is not None and theirs != ours:
        raise DomainError(
            "pii_key_mismatch",
            _(
                "%(source)s：备份用的个人信息密钥（指纹 %(theirs)s）与本系统的（指纹 %(ours)s）"
                "不同，恢复后身份证号和理赔材料都无法解密。请用备份时的密钥（HUZHU_PII_KEY，"
                "或 $HUZHU_HOME/pii_key 文件）启动后再恢复。"
            )
            % {"source": source, "theirs": theirs, "ours": ours},
        )


def backup_verify(source: Path) -> BackupSummary:
    """Every check a restore makes, without writing anything: the archive is whole (every
    table and document matches its SHA-256) and this system could restore it (same migrations,
    same PII key). DomainError saying what is wrong."""
    with _open(source) as archive:
        manifest, _payload = _check_archive(archive, source)
        _check_fits_here(manifest, source)
    return BackupSummary(
        dict(manifest["tables"]),
        len(manifest.get("files", {})),
        list(manifest.get("missing_files", [])),
        str(manifest.get("pii_key", "")),
    )


def _check_target_empty(by_table: dict[str, type[models.Model]], files: list[str]) -> None:
    for table, model in by_table.items():
        if table in MIGRATION_MADE:
            continue
        if model._default_manager.exists():
            raise DomainError(
                "target_not_empty",
                _("数据库中已有 %(table)s 的数据；请恢复到一个新数据库") % {"table": table},
            )
    for name in files:
        if default_storage.exists(name):
            raise DomainError(
                "target_not_empty",
                _("文件存储中已有 %(name)s；请恢复到一个新的存储") % {"name": name},
            )


MIGRATION_MADE = frozenset({"django_content_type", "auth_permission"})


def _restore_documents(archive: zipfile.ZipFile, names: list[str]) -> list[str]:
    """Write the archive's documents into the storage under their own names; the names written
    (to delete again if the rows cannot be loaded)."""
    written: list[str] = []
    try:
        for name in names:
            with archive.open(f"files/{name}") as member:
                saved = default_storage.save(name, File(member, name=name))
            written.append(saved)
            if saved != name:
                raise DomainError(
                    "target_not_empty",
                    _("文件存储中已有 %(name)s；请恢复到一个新的存储") % {"name": name},
                )
    except BaseException:
        _delete_documents(written)
        raise
    return written


def _delete_documents(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def backup_restore(source: Path) -> BackupSummary:
    """Load an archive into this database and its documents into this storage. The database
    must be migrated to the same state and hold no business data yet (only what migrations
    themselves create, which is replaced); the PII key must be the archive's."""
    with _open(source) as archive:
        manifest, payload = _check_archive(archive, source)
        _check_fits_here(manifest, source)
        by_table = {m._meta.db_table: m for m in _models()}
        files = sorted(manifest.get("files", {}))
        _check_target_empty(by_table, files)
        written = _restore_documents(archive, files)
    try:
        counts = _load_tables(by_table, payload)
    except BaseException:
        _delete_documents(written)
        raise
    return BackupSummary(
        counts, len(written), list(manifest.get("missing_files", [])), manifest.get("pii_key", "")
    )


def _load_tables(
    by_table: dict[str, type[models.Model]], payload: dict[str, bytes]
) -> dict[str, int]:
    with transaction.atomic():
        _check_target_empty(by_table, [])
        with connection.cursor() as cur:
            for table in MIGRATION_MADE & set(payload):
                cur.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
            if connection.vendor == "sqlite":
                cur.execute("PRAGMA defer_foreign_keys = ON")
            else:
                cur.execute("SET CONSTRAINTS ALL DEFERRED")
        counts = {}
        for table, data in payload.items():
            counts[table] = _load_table(by_table[table], data)
        _derived_rebuilt()
        with connection.cursor() as cur:
            for sql in connection.ops.sequence_reset_sql(no_style(), list(by_table.values())):
                cur.execute(sql)
    return counts


def _derived_rebuilt() -> None:
    """Derived tables whose triggers read other tables than the one they count (booking
    figures read the member's unit) may have counted rows restored before those tables:
    counted again once every table is in."""
    for model in apps.get_models():
        rebuild = getattr(model, "rebuild_after_restore", None)
        if getattr(model, "DERIVED_BY_TRIGGERS", False) and rebuild is not None:
            rebuild()


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
