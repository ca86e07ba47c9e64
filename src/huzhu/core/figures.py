"""Figures kept by the database: a table of sums per key (bookings per activity and unit, visits
per station and month...) that triggers on the table whose rows it counts update in the same
statement, whichever way the rows are written (the ORM, a queryset update, executemany, COPY),
so that statistics read a few summary rows and still equal a count of the rows at every commit.

A `KeptFigures` says what is counted; from it come the triggers (a migration installs them with
`install`), the recount from the rows themselves (`recount_sql`), and what `stored`,
`recounted` and `rebuild` need. On PostgreSQL the triggers are statement-level with transition
tables: one set-based upsert per statement, in key order (two statements touching the same
figures lock them in the same order), skipping figures the statement leaves unchanged. On
SQLite they are row triggers. SQLite drops a table's triggers when a migration rebuilds it:
a later migration that alters a counted table must install its figures' triggers again.

A key may read one column of another row the counted row names (a booking's member's unit):
`Joined`. The figures then follow that column when it changes (a member moving units), and on
PostgreSQL a write locks the rows it reads there (FOR SHARE) before reading them, so that a
concurrent change of the column waits for it or is seen by it, never half of each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection, connections

# An SQL expression of one counted row, `{r}` standing for the row (`r`, NEW or OLD); a
# callable gives it per database vendor.
Expr = str | Callable[[str], str]
OPS = ("insert", "update", "delete")


@dataclass(frozen=True)
class Joined:
    """The row of `table` whose id is the counted row's `by`, under `alias`; keys read its
    `column` (as `alias.column`)."""

    table: str
    alias: str
    column: str
    by: str


@dataclass(frozen=True)
class KeptFigures:
    name: str  # of the triggers and their functions
    table: str  # the figures
    source: str  # the counted rows
    keys: Mapping[str, Expr]  # figure column: its value for a row
    sums: Mapping[str, Expr]  # figure column: what a row adds to it (an integer)
    reads: tuple[str, ...]  # the counted table's columns that keys and sums read
    joined: Joined | None = None
    date_keys: tuple[str, ...] = ()  # keys that are dates (SQLite counts them as text)
    # With `spread` (PostgreSQL), a key's figure may be spread over up to that many rows
    # (column `shard`, unique with the keys): a write adds to the first of them that no other
    # transaction holds, and opens another only when all are held. Quiet keys keep one row;
    # a flash crowd writing one key at once does not queue behind one row (as bookings do not
    # queue behind one quota row, benefits.shards). A row may then hold less than nothing:
    # only a key's sum over its rows is a count.
    spread: int = 0

    # -- SQL ------------------------------------------------------------------------------

    def _keys(self, vendor: str, r: str) -> list[str]:
        return [_sql(e, vendor).format(r=r) for e in self.keys.values()]

    def _sums(self, vendor: str, r: str) -> list[str]:
        return [_sql(e, vendor).format(r=r) for e in self.sums.values()]

    def _join(self, r: str) -> str:
        j = self.joined
        return f" JOIN {j.table} {j.alias} ON {j.alias}.id = {r}.{j.by}" if j else ""

    def _columns(self) -> str:
        return ", ".join([*self.keys, *self.sums])

    def _positions(self) -> str:
        return ", ".join(str(i + 1) for i in range(len(self.keys)))

    def _key_columns(self) -> str:
        return ", ".join([*self.keys, *(["shard"] if self.spread else [])])

    def recount_sql(self, vendor: str | None = None) -> str:
        """The figures counted from the rows: key columns, then sums, one row per key."""
        vendor = vendor or connection.vendor
        sums = ", ".join(f"SUM({s})" for s in self._sums(vendor, "r"))
        return (
            f"SELECT {', '.join(self._keys(vendor, 'r'))}, {sums} "
            f"FROM {self.source} r{self._join('r')} GROUP BY {self._positions()}"
        )

    def _fill_sql(self, vendor: str) -> str:
        """The figures written from a recount (a spread key in one row)."""
        if not self.spread:
            return f"INSERT INTO {self.table} ({self._columns()}) {self.recount_sql(vendor)}"
        return (
            f"INSERT INTO {self.table} ({self._columns()}, shard) "
            f"SELECT counted.*, 0 FROM ({self.recount_sql(vendor)}) counted"
        )

    def _grouped(self, vendor: str, rows: str, sign: str, r: str, where: str = "true") -> str:
        """Signed rows summed per key, keys left unchanged dropped, in key order."""
        keys = [f"{e} AS {c}" for e, c in zip(self._keys(vendor, r), self.keys, strict=True)]
        sums = [f"SUM({sign} * ({s}))" for s in self._sums(vendor, r)]
        named = [f"{e} AS {c}" for e, c in zip(sums, self.sums, strict=True)]
        return (
            f"SELECT {', '.join(keys + named)} FROM {rows} WHERE {where} "
            f"GROUP BY {self._positions()} HAVING {' OR '.join(f'{s} <> 0' for s in sums)} "
            f"ORDER BY {self._positions()}"
        )

    def _add(self, vendor: str, grouped: str) -> str:
        """Add grouped rows (`_grouped`) to the figures."""
        postgres = vendor == "postgresql"
        target = "f." if postgres else ""
        sets = ", ".join(f"{c} = {target}{c} + excluded.{c}" for c in self.sums)
        on_conflict = f"ON CONFLICT ({self._key_columns()}) DO UPDATE SET {sets}"
        if not (self.spread and postgres):
            shard = ", shard" if self.spread else ""
            return (
                f"INSERT INTO {self.table} {'AS f ' if postgres else ''}"
                f"({self._columns()}{shard}) SELECT g.*{', 0' if shard else ''} "
                f"FROM ({grouped}) g WHERE true {on_conflict};"
            )
        same = " AND ".join(f"x.{k} = g.{k}" for k in self.keys)
        return (
            f"WITH g AS MATERIALIZED ({grouped}), picked AS MATERIALIZED ("
            f"SELECT g.*, (SELECT x.id FROM {self.table} x WHERE {same} ORDER BY x.shard "
            "LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED) AS target FROM g), "
            f"added AS (UPDATE {self.table} f SET "
            + ", ".join(f"{c} = f.{c} + p.{c}" for c in self.sums)
            + " FROM picked p WHERE f.id = p.target) "
            f"INSERT INTO {self.table} AS f ({self._columns()}, shard) "
            f"SELECT {', '.join(f'g.{c}' for c in [*self.keys, *self.sums])}, "
            f"(SELECT LEAST(COALESCE(MAX(x.shard) + 1, 0), {self.spread - 1}) "
            f"FROM {self.table} x WHERE {same}) FROM picked g WHERE g.target IS NULL "
            f"ORDER BY {self._positions()} {on_conflict};"
        )

    def _pg_rows(self, op: str) -> str:
        cols = ", ".join(self.reads)
        if op == "insert":
            return f"SELECT {cols}, 1 AS sign FROM new_rows"
        if op == "delete":
            return f"SELECT {cols}, -1 AS sign FROM old_rows"
        # Rows an update left as they were (as far as the figures read them) count for nothing.
        return (
            f"SELECT {cols}, 1 AS sign FROM (SELECT {cols} FROM new_rows "
            f"EXCEPT ALL SELECT {cols} FROM old_rows) AS added UNION ALL "
            f"SELECT {cols}, -1 AS sign FROM (SELECT {cols} FROM old_rows "
            f"EXCEPT ALL SELECT {cols} FROM new_rows) AS removed"
        )

    def _pg_body(self, op: str) -> str:
        rows = self._pg_rows(op)
        source = f"({rows}) r"
        if j := self.joined:
            # Locked before they are read; a row changed meanwhile is read as committed.
            source += (
                f" JOIN (SELECT id, {j.column} FROM {j.table} WHERE id IN "
                f"(SELECT {j.by} FROM ({rows}) x) ORDER BY id FOR SHARE) {j.alias} "
                f"ON {j.alias}.id = r.{j.by}"
            )
        return self._add("postgresql", self._grouped("postgresql", source, "r.sign", "r"))

    def _sqlite_add(self, r: str, sign: str) -> str:
        rows = f"(SELECT 1) one{self._join(r)}"
        return self._add("sqlite", self._grouped("sqlite", rows, sign, r))

    def _follow_add(self, vendor: str) -> str:
        """Move the figures of the rows naming a joined row from its old value to its new."""
        j = self.joined
        assert j is not None
        moved = (
            f"{self.source} r JOIN (SELECT OLD.{j.column} AS {j.column}, -1 AS sign "
            f"UNION ALL SELECT NEW.{j.column}, 1) {j.alias} ON true"
        )
        return self._add(
            vendor, self._grouped(vendor, moved, f"{j.alias}.sign", "r", f"r.{j.by} = NEW.id")
        )

    # -- triggers -------------------------------------------------------------------------

    def install(self, cursor: Any, vendor: str) -> None:
        """Create the triggers and count what is already there."""
        if vendor == "postgresql":
            for op in OPS:
                referencing = {
                    "insert": "NEW TABLE AS new_rows",
                    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                    "delete": "OLD TABLE AS old_rows",
                }[op]
                cursor.execute(
                    f"CREATE FUNCTION huzhu_{self.name}_{op}() RETURNS trigger LANGUAGE plpgsql "
                    f"AS $$ BEGIN {self._pg_body(op)} RETURN NULL; END $$"
                )
                cursor.execute(
                    f"CREATE TRIGGER {self.name}_{op} AFTER {op.upper()} ON {self.source} "
                    f"REFERENCING {referencing} FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION huzhu_{self.name}_{op}()"
                )
        else:
            changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in self.reads)
            bodies = {
                "insert": ("", self._sqlite_add("NEW", "1")),
                "update": (
                    f" WHEN {changed}",
                    self._sqlite_add("OLD", "-1") + self._sqlite_add("NEW", "1"),
                ),
                "delete": ("", self._sqlite_add("OLD", "-1")),
            }
            for op, (when, body) in bodies.items():
                cursor.execute(
                    f"CREATE TRIGGER {self.name}_{op} AFTER {op.upper()} ON {self.source} "
                    f"FOR EACH ROW{when} BEGIN {body} END"
                )
        if j := self.joined:
            self._install_follow(cursor, vendor, j)
        cursor.execute(self._fill_sql(vendor))

    def _install_follow(self, cursor: Any, vendor: str, j: Joined) -> None:
        # A row trigger: most updates of the joined table leave the column alone, and its
        # WHEN then costs nothing (a statement trigger would collect every updated row).
        name = f"{self.name}_follow"
        if vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION huzhu_{name}() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {self._follow_add(vendor)} RETURN NULL; END $$"
            )
            when = f"OLD.{j.column} IS DISTINCT FROM NEW.{j.column}"
            cursor.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE OF {j.column} ON {j.table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION huzhu_{name}()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE OF {j.column} ON {j.table} FOR EACH ROW "
                f"WHEN OLD.{j.column} IS NOT NEW.{j.column} "
                f"BEGIN {self._follow_add(vendor)} END"
            )

    def uninstall(self, cursor: Any, vendor: str) -> None:
        triggers = [(f"{self.name}_{op}", self.source) for op in OPS]
        if j := self.joined:
            triggers.append((f"{self.name}_follow", j.table))
        for trigger, table in triggers:
            if vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS huzhu_{trigger}()")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger}")

    # -- reading and mending ----------------------------------------------------------------

    def recounted(self) -> dict[tuple[Any, ...], tuple[int, ...]]:
        """The figures as a count of the rows would give them: key → sums."""
        return self._read(self.recount_sql())

    def stored(self) -> dict[tuple[Any, ...], tuple[int, ...]]:
        """The stored figures (a spread key's rows summed); a figure brought back to nothing
        (its rows gone) is none."""
        sums = ", ".join(f"SUM({c})" for c in self.sums)
        stored = self._read(
            f"SELECT {', '.join(self.keys)}, {sums} FROM {self.table} GROUP BY {self._positions()}"
        )
        return {k: v for k, v in stored.items() if any(v)}

    def _read(self, sql: str) -> dict[tuple[Any, ...], tuple[int, ...]]:
        n = len(self.keys)
        dates = [i for i, k in enumerate(self.keys) if k in self.date_keys]
        with connection.cursor() as cur:
            cur.execute(sql)
            rows = [list(row) for row in cur.fetchall()]
        for row in rows:
            for i in dates:
                row[i] = row[i] if isinstance(row[i], date) else date.fromisoformat(row[i])
        return {tuple(row[:n]): tuple(int(v) for v in row[n:]) for row in rows}

    def rebuild(self) -> int:
        """Replace the figures by a recount (in the caller's transaction); the rows written."""
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute(f"LOCK TABLE {self.table} IN EXCLUSIVE MODE")
            cur.execute(f"DELETE FROM {self.table}")
            cur.execute(self._fill_sql(connection.vendor))
            return int(cur.rowcount)

    def leftovers_cleared(self, using: str = "default") -> None:
        """With no counted row left, no figure either. A flush of every table (between tests;
        on SQLite one DELETE per table, in any order) may empty the figures (or the joined
        table) before the counted rows, whose delete trigger then leaves counts behind; Django
        sends post_migrate after a flush, and this clears them then."""
        conn = connections[using]
        tables = conn.introspection.table_names()
        if self.table not in tables or self.source not in tables:
            return
        with conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {self.source} LIMIT 1")
            if cur.fetchone() is None:
                cur.execute(f"DELETE FROM {self.table}")


def _sql(expr: Expr, vendor: str) -> str:
    return expr(vendor) if callable(expr) else expr


def install_figures(figures: KeptFigures) -> Any:
    """A migration operation installing the triggers of `figures` and counting what is there
    (and, backwards, dropping them)."""
    from django.db import migrations

    def forward(apps: Any, schema_editor: Any) -> None:
        with schema_editor.connection.cursor() as cur:
            figures.install(cur, schema_editor.connection.vendor)

    def backward(apps: Any, schema_editor: Any) -> None:
        with schema_editor.connection.cursor() as cur:
            figures.uninstall(cur, schema_editor.connection.vendor)

    return migrations.RunPython(forward, backward)
