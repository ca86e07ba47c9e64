"""Nearest open warm stations on 100,000 stations: the bounding-box query against a brute-force
scan of every row, in the same run, on the same points, checking both give the same answer.

    .venv/bin/python bench/stations.py [--stations 100000] [--queries 50] [--seed 1]
        [--at 2026-01-07T10:30+08:00] [--database-url postgres://postgres@127.0.0.1:5432/postgres]

A throwaway database: a new SQLite file, or `huzhu_bench_stations` recreated on the server.
Exit status 1 if the two ever disagree.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import setup_database

DEFAULT_AT = "2026-01-07T10:30+08:00"  # a Wednesday morning in Beijing
HOURS = (
    ("Mo-Fr 08:30-17:30; Sa,Su 09:00-16:00", "2026-01-01 off; 2026-02-16..2026-02-18 off"),
    ("24/7", ""),
    ("Mo-Su 07:00-23:00; Fr,Sa 07:00-02:00", ""),
    ("Mo-Fr 09:00-17:00", ""),
    ("Mo-Su 20:00-08:00", ""),
)
# Beijing's extent; most stations cluster around the district seats, as real ones do.
LAT_RANGE, LNG_RANGE = (39.45, 41.05), (115.45, 117.45)


def _populate(n: int, rng: random.Random) -> int:
    from django.db import transaction
    from django.utils import timezone

    from huzhu.core.bulk import bulk_insert
    from huzhu.members.models import Organisation
    from huzhu.members.services import org_create
    from huzhu.members.synth import beijing_districts
    from huzhu.stations import rules
    from huzhu.stations.models import SERVICE_FIELDS, Station

    org = Organisation.objects.filter(code="BENCH-ST").first()
    if org is None:
        root = Organisation.objects.filter(parent__isnull=True).first()
        if root is None:
            root = org_create(code="BJ", name="北京市总工会", kind="city", parent=None)
        org = org_create(code="BENCH-ST", name="驿站基准", kind="district", parent=root)
    seats = beijing_districts()
    now = timezone.now()
    rest = rules.service_bit("rest")

    def rows():  # type: ignore[no-untyped-def]
        for i in range(n):
            if rng.random() < 0.7:
                seat = rng.choice(seats)
                lat, lng = rng.gauss(seat.lat, 0.05), rng.gauss(seat.lng, 0.06)
            else:
                lat, lng = rng.uniform(*LAT_RANGE), rng.uniform(*LNG_RANGE)
            weekly, exceptions = rng.choice(HOURS)
            mask = rest | rng.getrandbits(len(rules.SERVICES))
            status = "active" if rng.random() < 0.95 else "suspended"
            yield (
                f"BENCH-{i:07d}",
                f"驿站{i}",
                "",
                org.pk,
                "北京",
                "",
                lat,
                lng,
                weekly,
                exceptions,
                mask,
                None,
                "",
                "",
                status,
                "",
                1,
                now,
                now,
            )

    with transaction.atomic():
        return bulk_insert(
            Station._meta.db_table,
            [
                "code",
                "name",
                "host",
                "org_id",
                "address",
                "district",
                *SERVICE_FIELDS,
                "note",
                "qr_version",
                "created_at",
                "updated_at",
            ],
            rows(),
        )


def _brute_force(
    lat: float, lng: float, mask: int, when: datetime, limit: int, within_m: float
) -> list[int]:
    """Read every row, compute every distance, sort: what the bounding box saves us from."""
    from huzhu.stations import geo
    from huzhu.stations.hours import parse_hours
    from huzhu.stations.models import Station

    found = []
    for pk, s_lat, s_lng, services, status, weekly, exceptions in Station.objects.values_list(
        "id", "lat", "lng", "services", "status", "hours", "hours_exceptions"
    ).iterator(chunk_size=20_000):
        if status != "active" or services & mask != mask:
            continue
        d = geo.haversine_m(lat, lng, s_lat, s_lng)
        if d <= within_m and parse_hours(weekly, exceptions).is_open(when):
            found.append((d, pk))
    found.sort()
    return [pk for _, pk in found[:limit]]


def _stats(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (
        f"mean {statistics.mean(ms):8.2f} ms   median {statistics.median(ms):8.2f} ms   "
        f"p95 {p95:8.2f} ms"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stations", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--at", default=DEFAULT_AT, help="the instant 'open now' is evaluated at")
    p.add_argument("--database-url", default=None)
    args = p.parse_args()
    setup_database(args.database_url, "stations")
    from django.db import connection

    from huzhu.members.synth import beijing_districts
    from huzhu.stations import rules, selectors
    from huzhu.stations.models import Station

    rng = random.Random(args.seed)
    when = datetime.fromisoformat(args.at)
    started = time.perf_counter()
    created = _populate(args.stations, rng)
    elapsed = time.perf_counter() - started
    print(f"{connection.vendor}: inserted {created:,} stations in {elapsed:.1f}s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f'ANALYZE "{Station._meta.db_table}"')
    seats = beijing_districts()
    services = [
        (),
        ("hot_water",),
        ("hot_water", "charging"),
        ("microwave",),
        ("toilet", "first_aid"),
    ]
    queries: list[tuple[float, float, int]] = []
    for _ in range(args.queries):
        seat = rng.choice(seats)
        lat, lng = rng.gauss(seat.lat, 0.08), rng.gauss(seat.lng, 0.1)
        queries.append((lat, lng, rules.services_mask(rng.choice(services))))
    limit, within_m = 10, 20_000.0

    fast_times: list[float] = []
    brute_times: list[float] = []
    mismatches = 0
    for lat, lng, mask in queries:
        t0 = time.perf_counter()
        fast = selectors.stations_nearest(
            lat=lat, lng=lng, service_mask=mask, open_at=when, limit=limit, within_m=within_m
        )
        t1 = time.perf_counter()
        brute = _brute_force(lat, lng, mask, when, limit, within_m)
        t2 = time.perf_counter()
        fast_times.append(t1 - t0)
        brute_times.append(t2 - t1)
        mismatches += [n.station_id for n in fast] != brute
    print(
        f"{len(queries)} queries: the {limit} nearest stations open now with the asked services,"
        f" within {within_m / 1000:.0f} km, at {when.isoformat()}"
    )
    print(f"  bounding box + index : {_stats(fast_times)}")
    print(f"  brute-force scan     : {_stats(brute_times)}")
    ratio = statistics.mean(brute_times) / statistics.mean(fast_times)
    print(f"  ratio (mean)         : {ratio:.0f}x")
    print(f"  same answer          : {len(queries) - mismatches}/{len(queries)}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
