"""`huzhu pii rotate`: re-encrypt every stored secret and recompute every lookup hash under a
new `HUZHU_PII_KEY`, in one transaction (all or nothing).

Every model field named `<x>_cipher` is re-encrypted; a field `<x>_hash` beside it is the
keyed hash of the same plain value and is recomputed. Run it with the servers stopped, then
start them with the new key (it is written to $HUZHU_HOME/pii_key unless the key comes from
the environment, in which case the operator sets the new one).

It lives with the audit trail rather than in `core` (which imports no app): a rotation is an
audited operation over every app's sealed columns, found through the app registry.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import polars as pl
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction

from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.bulk import update_frame
from huzhu.core.config import write_private
from huzhu.core.pii import PiiVault, _vault_for


def _secret_fields() -> list[tuple[str, str, str, str | None]]:
    """(table, primary key column, cipher column, hash column or None) for every model."""
    found = []
    for model in apps.get_models():
        names = {f.name: f for f in model._meta.concrete_fields}
        for name, field in names.items():
            if name.endswith("_cipher"):
                twin = names.get(name[: -len("_cipher")] + "_hash")
                found.append(
                    (
                        model._meta.db_table,
                        str(model._meta.pk.column),
                        str(field.column),
                        str(twin.column) if twin else None,
                    )
                )
    return sorted(found)


def pii_rotate(new_key: str | None = None) -> dict[str, int]:
    """Rotate to `new_key` (generated when None); returns rows rewritten per table.column."""
    new_key = new_key or secrets.token_urlsafe(32)
    if new_key == settings.HUZHU_PII_KEY:
        raise ValueError("the new key is the current key")
    old, new = PiiVault(settings.HUZHU_PII_KEY), PiiVault(new_key)
    counts: dict[str, int] = {}
    with transaction.atomic():
        for table, pk, cipher, hashed in _secret_fields():
            with connection.cursor() as cur:
                cur.execute(f'SELECT "{pk}", "{cipher}" FROM "{table}" WHERE "{cipher}" <> \'\'')
                rows = cur.fetchall()
            plain = [old.decrypt(c) for _, c in rows]
            data: dict[str, list[object]] = {
                pk: [r[0] for r in rows],
                cipher: [new.encrypt(p) for p in plain],
            }
            if hashed:
                data[hashed] = [new.lookup_hash(p) for p in plain]
            update_frame(table, pk, pl.DataFrame(data))
            counts[f"{table}.{cipher}"] = len(rows)
        audit_record(
            actor=None,
            action=Action.PII_ROTATE,
            reason="key rotation",
            columns=counts,
        )
        if not os.environ.get("HUZHU_PII_KEY"):
            transaction.on_commit(lambda: _write_key_file(new_key))
    settings.HUZHU_PII_KEY = new_key
    _vault_for.cache_clear()
    return counts


def _write_key_file(key: str) -> None:
    path = Path(settings.HUZHU_HOME) / "pii_key"
    tmp = path.with_suffix(".new")
    write_private(tmp, (key + "\n").encode())
    if path.exists():
        path.replace(path.with_suffix(".old"))
    tmp.replace(path)
