"""Statistics over 25 years of payouts: the console's payout figures read from the summary
tables, timed against the same figures counted directly from the raw ledger, in the same run,
checking that both give the same answer; the enrolment figures (参保人数, 缴费, kept by the
database's triggers) against the same counts from the raw enrolments; and the figures of
bookings, station visits and care money (kept by triggers too) against reports.recounts.

    .venv/bin/python bench/stats.py [--entries 20000000] [--members 200000] [--units 1000]
        [--bookings N] [--visits N] [--seed 1]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]

Bookings and visits default to ten per member, written by COPY (on PostgreSQL the triggers
count each COPY in one statement; the time is printed).

A throwaway database: a new SQLite file, or `huzhu_bench_stats` recreated on the server. The
layout is the real one: organisations (city → 16 districts → units), members, four plans with
a version a year for 25 years, an enrolment per member and year, application claims, and ledger
entries (payouts, then adjustments and clawbacks on some claims, some back to zero). Summaries
are then built by `summaries_recount()`. Exit status 1 if summaries and recount ever disagree.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import model_rows, setup_database, timed

FIRST_YEAR, YEARS = 2001, 25
MEMBER_COLUMNS = (
    *("id_hash", "id_cipher", "id_masked", "name", "phone_cipher", "phone_masked"),
    *("unit_id", "is_active", "created_at", "updated_at"),
)
CLAIM_COLUMNS = (
    *("source", "state", "member_id", "version_id", "plan_code", "base_amount", "target"),
    *("reason", "description", "fast_track", "created_at", "updated_at"),
)
BENEFITS = (
    ("ZY", "inpatient"),
    ("JT", "allowance"),
    ("ZJ", "critical_illness"),
    ("YW", "accident"),
)


def _orgs(units: int) -> list[int]:
    from huzhu.members.services import org_create
    from huzhu.members.synth import beijing_districts

    city = org_create(code="BJ", name="北京市总工会", kind="city", parent=None)
    districts = [
        org_create(code=f"D{i:02d}", name=seat.name, kind="district", parent=city)
        for i, seat in enumerate(beijing_districts())
    ]
    return [
        org_create(code=f"U{i:05d}", name=f"基层工会{i}", kind="unit", parent=districts[i % 16]).pk
        for i in range(units)
    ]


def _stamp(moment: datetime) -> str:
    return str(moment)[:19]  # 'YYYY-MM-DD HH:MM:SS' in UTC, as Django stores it


@contextmanager
def _indexes_built_after(*tables: str) -> Iterator[None]:
    """SQLite: drop the tables' secondary indexes for the load and build them again after (the
    same schema, built from sorted data instead of millions of random B-tree inserts)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cur:
        marks = ", ".join(["%s"] * len(tables))
        cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})",
            list(tables),
        )
        indexes = cur.fetchall()
        for name, _sql in indexes:
            cur.execute(f'DROP INDEX "{name}"')
    yield
    with connection.cursor() as cur:
        for _name, sql in indexes:
            cur.execute(sql)


def populate(entries: int, members: int, units: int, rng: random.Random) -> dict[str, int]:
    from django.db import connection, transaction

    from huzhu.core.bulk import bulk_insert, is_postgres
    from huzhu.members.models import Member
    from huzhu.protection.models import Claim, Enrollment, EntryKind, LedgerEntry, Plan, PlanVersion

    PAYOUT, ADJUSTMENT, CLAWBACK = EntryKind.PAYOUT, EntryKind.ADJUSTMENT, EntryKind.CLAWBACK

    counts: dict[str, int] = {}
    started = time.perf_counter()

    def say(what: str) -> None:
        print(f"    {what}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    unit_ids = _orgs(units)
    say("organisations")
    now = _stamp(datetime.now(UTC))
    tables = [m._meta.db_table for m in (Member, Enrollment, Claim, LedgerEntry)]
    with transaction.atomic(), _indexes_built_after(*tables):
        if not is_postgres():
            connection.cursor().execute("PRAGMA cache_size = -1000000")
        member_unit = [unit_ids[rng.randrange(units)] for _ in range(members)]
        counts["members"] = bulk_insert(
            Member._meta.db_table,
            *model_rows(
                Member,
                MEMBER_COLUMNS,
                (
                    (f"h{i:012d}", "", "110102********0000", f"会员{i}", "", "", u, True, now, now)
                    for i, u in enumerate(member_unit)
                ),
            ),
        )
        say("members")
        first_member = Member.objects.order_by("id").values_list("id", flat=True)[0]
        versions: dict[tuple[int, int], int] = {}  # (plan index, year) -> version id
        for p, (code, benefit) in enumerate(BENEFITS):
            plan = Plan.objects.create(code=code, name=code, benefit=benefit)
            for y in range(FIRST_YEAR, FIRST_YEAR + YEARS):
                v = PlanVersion.objects.create(
                    plan=plan,
                    period_start=f"{y}-01-01",
                    period_end=f"{y}-12-31",
                    contribution="60.00",
                    terms={},
                )
                versions[(p, y)] = v.pk
        # Each member is in one plan (by member number) and enrolled every year.
        counts["enrollments"] = bulk_insert(
            Enrollment._meta.db_table,
            ["member_id", "unit_id", "version_id", "paid_on", "amount", "payer", "created_at"],
            (
                (first_member + i, u, versions[(i % 4, y)], f"{y}-01-05", "60.00", "unit", now)
                for y in range(FIRST_YEAR, FIRST_YEAR + YEARS)
                for i, u in enumerate(member_unit)
            ),
        )
        say("enrollments")
        # Claims: 1 to 3 entries each (payout; adjustment; clawback, sometimes back to zero).
        plan_of_claim: list[tuple[int, int, int, datetime, int]] = []
        written = 0
        while written < entries:
            n = min(entries - written, rng.choice((1, 1, 1, 2, 2, 3)))
            i = rng.randrange(members)
            y = FIRST_YEAR + rng.randrange(YEARS)
            at = datetime(y, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))
            plan_of_claim.append((i, versions[(i % 4, y)], i % 4, at, n))
            written += n
        counts["claims"] = bulk_insert(
            Claim._meta.db_table,
            *model_rows(
                Claim,
                CLAIM_COLUMNS,
                (
                    (
                        *("application", "paid", first_member + i, vid, BENEFITS[p][0], "0", "0"),
                        *("", "", False, _stamp(at), _stamp(at)),
                    )
                    for i, vid, p, at, _n in plan_of_claim
                ),
            ),
        )
        say("claims")
        first_claim = Claim.objects.order_by("id").values_list("id", flat=True)[0]

        def ledger() -> Iterator[tuple[Any, ...]]:
            for c, (i, _vid, _p, at, n) in enumerate(plan_of_claim):
                fen = rng.randrange(10_000, 5_000_000)
                claim_id, member_id = first_claim + c, first_member + i
                yield (claim_id, member_id, PAYOUT, f"{fen / 100:.2f}", _stamp(at), "b", "")
                if n >= 2:
                    at += timedelta(days=rng.randrange(1, 120))
                    delta = rng.randrange(-fen // 2, fen // 2) or 1
                    fen += delta
                    kind = ADJUSTMENT if delta > 0 else CLAWBACK
                    yield (claim_id, member_id, kind, f"{delta / 100:.2f}", _stamp(at), "b", "")
                if n >= 3:
                    at += timedelta(days=rng.randrange(1, 365))
                    back = fen if rng.random() < 0.5 else fen // 3
                    yield (
                        claim_id,
                        member_id,
                        CLAWBACK,
                        f"{-back / 100:.2f}",
                        _stamp(at),
                        "b",
                        "",
                    )

        counts["entries"] = bulk_insert(
            LedgerEntry._meta.db_table,
            *model_rows(
                LedgerEntry,
                ["claim_id", "member_id", "kind", "amount", "created_at", "batch", "memo"],
                ledger(),
            ),
        )
        say("entries")
    say("indexes")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--bookings", type=int, default=None, help="default: 10 per member")
    parser.add_argument("--visits", type=int, default=None, help="default: 10 per member")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    vendor = setup_database(args.database_url, "stats")
    print(f"database: {vendor}", file=sys.stderr)

    from django.db import connection

    from huzhu.accounts.models import Role
    from huzhu.members.logins import staff_create
    from huzhu.members.models import Organisation
    from huzhu.reports.selectors import payouts, payouts_recounted
    from huzhu.reports.services import summaries_recount

    results: dict[str, float] = {}
    with timed("generate", results):
        counts = populate(args.entries, args.members, args.units, random.Random(args.seed))
    print(f"  {counts}", file=sys.stderr)
    rng = random.Random(args.seed + 1)
    with timed("bookings, visits and care (with their triggers)", results):
        counts = populate_activity(
            args.bookings if args.bookings is not None else 10 * args.members,
            args.visits if args.visits is not None else 10 * args.members,
            rng,
        )
    print(f"  {counts}", file=sys.stderr)
    with timed("summaries_recount", results):
        summary_rows = summaries_recount()
    if vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    print(f"  summary rows: {summary_rows:,}", file=sys.stderr)

    city = staff_create(
        username="city", password="bench-pass-1", org_code="BJ", role=Role.CITY_ADMIN
    )
    district = Organisation.objects.filter(kind="district").order_by("code").first()
    assert district is not None
    admin = staff_create(
        username="district",
        password="bench-pass-1",
        org_code=district.code,
        role=Role.DISTRICT_ADMIN,
    )
    last = FIRST_YEAR + YEARS - 1
    dashboard = [
        ("city", city, "month", last),
        ("city", city, "benefit", last),
        ("city", city, "district", last),
        ("city", city, "unit", last),
        ("district", admin, "month", last),
        ("city", city, "benefit", None),
    ]
    print(f"\n{'query':<34} {'summaries':>10} {'recount':>10} {'ratio':>8}  rows", file=sys.stderr)
    bad = 0
    totals = [0.0, 0.0]
    lines = []
    for who, user, group_by, year in dashboard:
        start = time.perf_counter()
        fast = payouts(user=user, group_by=group_by, year=year)
        t_fast = time.perf_counter() - start
        start = time.perf_counter()
        slow = payouts_recounted(user=user, group_by=group_by, year=year)
        t_slow = time.perf_counter() - start
        same = fast.rows == slow.rows
        bad += not same
        totals[0] += t_fast
        totals[1] += t_slow
        label = f"{who} by {group_by} {year or 'all years'}"
        line = (
            f"{label:<34} {t_fast * 1000:>8.1f}ms {t_slow:>9.2f}s {t_slow / t_fast:>7.0f}x"
            f"  {len(fast.rows)}{'' if same else '  DIFFERENT'}"
        )
        lines.append(line)
        print(line, file=sys.stderr)
    enrol_fast, enrol_slow, enrol_bad = _enrolment_figures(city, admin, last)
    bad += enrol_bad
    kept_fast, kept_slow, kept_bad = _kept_figures(city, admin, last)
    bad += kept_bad
    print(
        f"\n{args.entries:,} entries on {vendor}; generation {results['generate']:.0f} s, "
        f"summaries_recount {results['summaries_recount']:.0f} s ({summary_rows:,} rows)\n"
        f"dashboard ({len(dashboard)} payout figures): {totals[0] * 1000:.0f} ms from summaries, "
        f"{totals[1]:.1f} s by direct recount ({totals[1] / totals[0]:.0f}x); "
        f"{'all equal' if not bad else f'{bad} DIFFERENT'}\n"
        f"enrolment figures (members and contributions, 5 figures): {enrol_fast * 1000:.0f} ms "
        f"from the figures, {enrol_slow:.1f} s from the enrolments "
        f"({enrol_slow / enrol_fast:.0f}x)\n"
        f"bookings, visits and care ({len(KEPT_ASKED)} figures): {kept_fast * 1000:.0f} ms from "
        f"the figures, {kept_slow:.1f} s from the rows ({kept_slow / kept_fast:.0f}x)"
    )
    return 1 if bad else 0


def _raw_enrolments(user: Any, year: int | None, group_by: str) -> list[tuple[Any, ...]]:
    """The baseline: the same rows counted from the enrolments themselves, as before."""
    from django.db.models import Count
    from django.db.models.functions import ExtractYear

    from huzhu.accounts.selectors import staff_scope_path
    from huzhu.core.aggregates import MoneySum
    from huzhu.protection.models import Enrollment

    qs = Enrollment.objects.filter(unit__path__startswith=staff_scope_path(user))
    if year is not None:
        qs = qs.filter(version__period_start__year=year)
    plan = ("version__plan__code", "version__plan__name", "year")
    if group_by == "members":
        rows = (
            qs.annotate(year=ExtractYear("version__period_start"))
            .values(*plan)
            .annotate(n=Count("member", distinct=True))
            .order_by("version__plan__code", "year")
        )
        return [(r[plan[0]], r[plan[1]], r["year"], r["n"]) for r in rows]
    keys = plan if group_by == "plan" else ("unit__code", "unit__name")
    grouped = qs.annotate(year=ExtractYear("version__period_start")) if group_by == "plan" else qs
    order = ("version__plan__code", "year") if group_by == "plan" else ("unit__code",)
    rows = grouped.values(*keys).annotate(n=Count("id"), a=MoneySum("amount")).order_by(*order)
    return [(*(r[k] for k in keys), r["n"], r["a"].quantize(Decimal("0.01"))) for r in rows]


def _enrolment_figures(city: Any, district: Any, last: int) -> tuple[float, float, int]:
    from huzhu.reports.selectors import contributions, members_covered

    asked = [
        ("city members", lambda: members_covered(user=city, year=last), (city, last, "members")),
        ("city members all years", lambda: members_covered(user=city), (city, None, "members")),
        ("district members", lambda: members_covered(user=district, year=last),
         (district, last, "members")),
        ("city contributions by plan", lambda: contributions(user=city, year=last),
         (city, last, "plan")),
        ("city contributions by unit", lambda: contributions(user=city, group_by="unit", year=last),
         (city, last, "unit")),
    ]  # fmt: skip
    fast_total = slow_total = 0.0
    bad = 0
    for label, fast_query, (user, year, group_by) in asked:
        start = time.perf_counter()
        fast = fast_query().rows
        t_fast = time.perf_counter() - start
        start = time.perf_counter()
        slow = _raw_enrolments(user, year, group_by)
        t_slow = time.perf_counter() - start
        same = [tuple(r) for r in fast] == slow
        bad += not same
        fast_total, slow_total = fast_total + t_fast, slow_total + t_slow
        print(
            f"{label:<34} {t_fast * 1000:>8.1f}ms {t_slow:>9.2f}s {t_slow / t_fast:>7.0f}x"
            f"  {len(fast)}{'' if same else '  DIFFERENT'}",
            file=sys.stderr,
        )
    return fast_total, slow_total, bad


# name, figure, keyword arguments; each asked as the city and as a district, this year and all
KEPT_ASKED = [
    ("bookings", "bookings", {}),
    ("stations by month", "stations", {"group_by": "month"}),
    ("stations by station", "stations", {"group_by": "station"}),
    ("care", "care", {}),
]


def _kept_figures(city: Any, district: Any, last: int) -> tuple[float, float, int]:
    from huzhu.reports.recounts import RECOUNTED
    from huzhu.reports.selectors import REPORTS

    fast_total = slow_total = 0.0
    bad = 0
    for label, name, kwargs in KEPT_ASKED:
        for who, user, year in (("city", city, last), ("district", district, None)):
            asked = {"user": user, "year": year, **kwargs}
            start = time.perf_counter()
            fast = REPORTS[name](**asked).rows
            t_fast = time.perf_counter() - start
            start = time.perf_counter()
            slow = RECOUNTED[name](**asked).rows
            t_slow = time.perf_counter() - start
            same = fast == slow
            bad += not same
            fast_total, slow_total = fast_total + t_fast, slow_total + t_slow
            line = f"{who} {label} {year or 'all'}"
            print(
                f"{line:<34} {t_fast * 1000:>8.1f}ms {t_slow:>9.2f}s {t_slow / t_fast:>7.0f}x"
                f"  {len(fast)}{'' if same else '  DIFFERENT'}",
                file=sys.stderr,
            )
    return fast_total, slow_total, bad


def _activities(n: int) -> list[int]:
    from django.utils import timezone

    from huzhu.benefits.models import Activity
    from huzhu.members.models import Organisation

    city = Organisation.objects.get(code="BJ")
    now = timezone.now()
    made = Activity.objects.bulk_create(
        Activity(
            title=f"活动{i}", venue="场所", organiser=city, eligible_org=city,
            opens_at=now, closes_at=now + timedelta(days=30), valid_from=now.date(),
            valid_to=now.date(), public_key="", private_key_cipher="",
        )
        for i in range(n)
    )  # fmt: skip
    return [a.pk for a in made]


def _booking_rows(
    bookings: int, members: list[int], activities: list[int], rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    """Bookings of the activities, each booked within one year (its window; the activities
    spread over the 25 years), each member at most once an activity."""
    per = -(-bookings // len(activities))
    statuses = ["booked"] * 12 + ["redeemed"] * 4 + ["cancelled"] * 3 + ["registered"]
    written = 0
    for i, activity in enumerate(activities):
        opens = datetime(FIRST_YEAR + i % YEARS, 1, 1, tzinfo=UTC)
        for member in rng.sample(members, min(per, len(members), bookings - written)):
            at = opens + timedelta(seconds=rng.randrange(365 * 86400))
            status = rng.choice(statuses)
            booked = _stamp(at) if status != "registered" else None
            yield (activity, member, status, _stamp(at), booked, "")
            written += 1


def populate_activity(bookings: int, visits: int, rng: random.Random) -> dict[str, int]:
    """Bookings, warm stations with their visits, and care campaigns with their money, written
    as a bulk writer would (COPY on PostgreSQL): the triggers count them as they go in."""
    from django.db import transaction

    from huzhu.benefits.models import Booking
    from huzhu.care.models import CareCampaign, CareLedgerEntry
    from huzhu.core.bulk import bulk_insert
    from huzhu.members.models import Member, Organisation
    from huzhu.stations.models import Station, StationVisit

    units = list(Organisation.objects.filter(kind="unit").order_by("id"))
    counts: dict[str, int] = {}
    with transaction.atomic():
        # read before the COPY: its rows are generated while it runs, on the same connection
        members = list(Member.objects.values_list("id", flat=True))
        activities = _activities(100)
        counts["bookings"] = bulk_insert(
            Booking._meta.db_table,
            *model_rows(
                Booking,
                ["activity_id", "member_id", "status", "created_at", "booked_at", "redeemed_gate"],
                _booking_rows(bookings, members, activities, rng),
            ),
        )
        stations = Station.objects.bulk_create(
            Station(
                code=f"S{i:05d}", name=f"驿站{i}", org=units[i % len(units)], address="北京",
                lat=39.9, lng=116.4, hours="24/7",
            )
            for i in range(max(1, len(units)))
        )  # fmt: skip
        days = [datetime(FIRST_YEAR, 1, 1) + timedelta(days=d) for d in range(YEARS * 365)]
        counts["visits"] = bulk_insert(
            StationVisit._meta.db_table,
            *model_rows(
                StationVisit,
                ["station_id", "visited_at", "visited_on", "people", "source"],
                (
                    (
                        rng.choice(stations).pk,
                        _stamp(day),
                        str(day.date()),
                        rng.randrange(1, 20),
                        "operator",
                    )
                    for day in (rng.choice(days) for _ in range(visits))
                ),
            ),
        )
        # Run by the city (a district sees its share) and by a district, by turns.
        runners = [Organisation.objects.get(code="BJ"), units[0].parent]
        campaigns = [
            CareCampaign.objects.create(
                code=f"C{y}", title=f"两节慰问{y}", org=runners[y % 2],
                budget=Decimal("1000000000.00"), starts_on=f"{y}-01-01",
            )
            for y in range(FIRST_YEAR, FIRST_YEAR + YEARS)
        ]  # fmt: skip
        counts["care entries"] = bulk_insert(
            CareLedgerEntry._meta.db_table,
            *model_rows(
                CareLedgerEntry,
                ["campaign_id", "org_id", "kind", "amount", "occurred_on", "created_at"],
                (
                    (
                        c.pk,
                        u.pk,
                        kind,
                        f"{rng.randrange(100, 50_000)}.00",
                        c.starts_on,
                        _stamp(datetime.now(UTC)),
                    )
                    for c in campaigns
                    for u in units
                    if u.path.startswith(c.org.path)
                    for kind in ("allocation", "spending")
                ),
            ),
        )
    return counts


if __name__ == "__main__":
    raise SystemExit(main())
