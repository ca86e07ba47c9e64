"""Database triggers that make a table append-only: UPDATE and DELETE are refused by the
database itself, not only by the application (ledgers, audit logs)."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _forward(table: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION huzhu_refuse_change() RETURNS trigger AS $$
                BEGIN RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP; END;
                $$ LANGUAGE plpgsql;
                DROP TRIGGER IF EXISTS {table}_append_only ON "{table}";
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}"
                FOR EACH ROW EXECUTE FUNCTION huzhu_refuse_change();
                """,
                params=None,
            )
        elif vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()}")
                schema_editor.execute(
                    f'CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON "{table}" '
                    f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: {op} refused'); END;"
                )

    return run


def _backward(table: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")

    return run


def make_append_only(table: str) -> migrations.RunPython:
    """A migration operation installing the append-only triggers on `table`.

    Idempotent. SQLite rebuilds a table (dropping its triggers) when a migration alters it, so
    every later migration that alters an append-only table must end with this operation again.
    """
    return migrations.RunPython(_forward(table), _backward(table))
