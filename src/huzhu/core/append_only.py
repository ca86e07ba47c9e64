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


# -- TRUNCATE (PostgreSQL) ------------------------------------------------------------------------

# Row triggers do not see TRUNCATE. A statement trigger refuses it, unless the session has set
# `huzhu.allow_truncate` to on: only Django's flush does (huzhu.core.postgresql), which tests and
# a deliberate full reset use. Whoever can set it could also drop the trigger: it guards against
# a mistake or a careless script, as the row triggers do, not against the table's owner.
_REFUSE_TRUNCATE = """
CREATE OR REPLACE FUNCTION huzhu_refuse_truncate() RETURNS trigger AS $$
BEGIN
  IF coalesce(current_setting('huzhu.allow_truncate', true), '') = 'on' THEN RETURN NULL; END IF;
  RAISE EXCEPTION 'append-only table %: TRUNCATE refused', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def refuse_truncate(*tables: str) -> migrations.RunPython:
    """A migration operation refusing TRUNCATE of `tables` on PostgreSQL (SQLite has none)."""

    def forward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_REFUSE_TRUNCATE, params=None)
        for table in tables:
            schema_editor.execute(
                f'DROP TRIGGER IF EXISTS {table}_no_truncate ON "{table}"; '
                f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON "{table}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION huzhu_refuse_truncate();",
                params=None,
            )

    def backward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON "{table}"')

    return migrations.RunPython(forward, backward)


# -- rows frozen once a condition holds ------------------------------------------------------------


def freeze_rows(table: str, *, when: str, why: str) -> migrations.RunPython:
    """A migration operation refusing UPDATE and DELETE of the rows of `table` for which the
    SQL condition `when` holds of the old row (written with `OLD.`; it may hold a subquery).

    Idempotent. Like `make_append_only`, it must be run again after a migration that makes
    SQLite rebuild the table."""
    name = f"{table}_frozen"

    def forward(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
                BEGIN
                  IF {when} THEN
                    RAISE EXCEPTION '%: % refused ({why})', TG_TABLE_NAME, TG_OP;
                  END IF;
                  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                  RETURN NEW;
                END;
                $$ LANGUAGE plpgsql;
                DROP TRIGGER IF EXISTS {name} ON "{table}";
                CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON "{table}"
                FOR EACH ROW EXECUTE FUNCTION {name}();
                """,
                params=None,
            )
        elif vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}_{op.lower()}")
                schema_editor.execute(
                    f'CREATE TRIGGER {name}_{op.lower()} BEFORE {op} ON "{table}" '
                    f"WHEN {when} "
                    f"BEGIN SELECT RAISE(ABORT, '{table}: {op} refused ({why})'); END;"
                )

    def backward(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}_{op}")

    return migrations.RunPython(forward, backward)
