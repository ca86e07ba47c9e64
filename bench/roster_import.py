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

    import polars as pl
    from django.db import connection, transaction
    from django.utils import timezone

    from huzhu.core.bulk import bulk_insert
    from huzhu.members.models import Card, Member, Organisation
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

    # The floor: the same number of member rows, values precomputed, one bulk insert.
    df = pl.read_csv(out / "members.csv", infer_schema=False)
    unit_ids = dict(Organisation.objects.filter(kind="unit").values_list("code", "id"))
    now = timezone.now()
    rows = [
        (
            f"{i:064d}",
            "v1:" + "A" * 60,
            idn[:6] + "********" + idn[-4:],
            name,
            None,
            "v1:" + "B" * 56,
            phone[:3] + "****" + phone[-4:],
            unit_ids[unit],
            joined,
            True,
            now,
            now,
        )
        for i, (idn, name, unit, phone, joined) in enumerate(
            df.select("id_number", "name", "unit_code", "phone", "joined_on").iter_rows()
        )
    ]
    with transaction.atomic():
        Card.objects.all().delete()
        with connection.cursor() as cur:
            cur.execute(f'DELETE FROM "{Member._meta.db_table}"')
    with timed("floor: bare bulk insert", results), transaction.atomic():
        bulk_insert(
            Member._meta.db_table,
            [
                "id_hash",
                "id_cipher",
                "id_masked",
                "name",
                "birth_date",
                "phone_cipher",
                "phone_masked",
                "unit_id",
                "joined_on",
                "is_active",
                "created_at",
                "updated_at",
            ],
            rows,
        )

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
