"""Benchmark: importing a generated roster of N members (default 1,000,000).

Prints rows/s for `import members` and the ratio to the floor measured in the same run and the
same database: a plain bulk insert of the same number of member rows (values precomputed, so
only the database's insert cost counts). Aim: within 3x of that floor.

    .venv/bin/python bench/roster_import.py --members 1000000
    .venv/bin/python bench/roster_import.py --members 1000000 \
        --database-url postgres://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mib, setup_database, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    vendor = setup_database(args.database_url, "roster")

    from django.db import connection, transaction

    from huzhu.core.bulk import bulk_insert
    from huzhu.members.models import Card, Member
    from huzhu.members.roster import members_import, orgs_import
    from huzhu.synth import generate_dataset

    results: dict[str, float] = {}
    out = Path(tempfile.mkdtemp(prefix="huzhu-roster-"))
    print(f"roster import benchmark: {args.members:,} members on {vendor}", file=sys.stderr)
    with timed("generate", results):
        generate_dataset(out=out, members=args.members, seed=args.seed)
    orgs_import((out / "orgs.csv").read_bytes(), file="orgs.csv")
    data = (out / "members.csv").read_bytes()

    with timed("import members", results):
        report = members_import(data, file="members.csv")
    assert report.created == args.members, report.as_dict()

    # The floor: the very rows the import stored, read back with every column the model has
    # (so that a column added later cannot break it), emptied, and inserted again in one bulk
    # statement: only the database's insert cost counts.
    columns = [f.column for f in Member._meta.concrete_fields if not f.primary_key]
    table = Member._meta.db_table
    quoted = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cur:
        cur.execute(f'SELECT {quoted} FROM "{table}"')
        rows = cur.fetchall()
    assert len(rows) == args.members
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # Empty as the import found it: fresh indexes, no dead rows to step over. (The
            # cascade reaches the payment tables, which refuse TRUNCATE unless told: this is
            # the benchmark's own throwaway database.)
            cur.execute("SET LOCAL huzhu.allow_truncate = 'on'")
            cur.execute(f'TRUNCATE "{Card._meta.db_table}", "{table}" CASCADE')
        else:
            Card.objects.all().delete()
            cur.execute(f'DELETE FROM "{table}"')
    with timed("floor: bare bulk insert", results), transaction.atomic():
        bulk_insert(table, columns, rows)

    n = args.members
    imp, floor = results["import members"], results["floor: bare bulk insert"]
    print(f"database:            {vendor}")
    print(f"members:             {n:,}")
    print(f"import members:      {imp:.2f} s  ({n / imp:,.0f} rows/s)")
    print(f"floor (bulk insert): {floor:.2f} s  ({n / floor:,.0f} rows/s)")
    print(f"ratio import/floor:  {imp / floor:.2f}x  (aim: within 3x)")
    print(f"peak memory:         {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
