"""Every summary behind the statistics equals a recount of the rows it counts, after any
sequence of enrolments, leavers (an enrolment ended), contribution changes, members moving to
another unit, bookings, cancellations and redemptions, station visits (scanned, tallied,
struck out) and care money (allocated, spent, reversed); and every statistic read from them
equals the same statistic counted from the rows, for a city and a district viewer."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.accounts.models import Role
from huzhu.benefits.bookings import booking_cancel, booking_create
from huzhu.benefits.models import Booking
from huzhu.benefits.redemption import redemption_scan
from huzhu.benefits.voucher_codes import voucher_code
from huzhu.care.models import CareLedgerEntry
from huzhu.care.services import (
    BeneficiaryIn,
    care_allocation_create,
    care_campaign_create,
    care_entry_reverse,
    care_visit_record,
)
from huzhu.core.errors import DomainError
from huzhu.members.services import card_issue, member_create_or_update
from huzhu.protection.enrollments import enrollments_import
from huzhu.protection.models import Enrollment
from huzhu.protection.plans import plan_load_toml
from huzhu.reports.recounts import RECOUNTED
from huzhu.reports.selectors import REPORTS, contributions, members_covered
from huzhu.reports.services import summaries_differences
from huzhu.stations.models import StationVisit
from huzhu.stations.services import station_qr_content, station_visit_record, station_visit_tally
from tests.benefits.conftest import make_activity
from tests.conftest import new_id_number
from tests.settlement.test_import import JT, ZY, ZY_2025
from tests.stations.factories import make_station

pytestmark = pytest.mark.django_db
MEMBERS = 6


class Rollback(Exception):
    """Ends an example: its writes are undone, the next starts from the same world."""


class World:
    def __init__(self, tree, make_member, make_staff) -> None:
        self.units = [tree.u1, tree.u2, tree.u3]
        self.versions = [plan_load_toml(doc, file="plan.toml")[0] for doc in (ZY_2025, ZY, JT)]
        self.numbers = [new_id_number() for _ in range(MEMBERS)]
        self.members = [
            make_member(self.units[i % 3], id_number=n, name=f"会员{i}")
            for i, n in enumerate(self.numbers)
        ]
        for i, member in enumerate(self.members):
            card_issue(member=member, card_no=f"P{i:08d}")
        self.admin = make_staff(Role.CITY_ADMIN, tree.city)
        self.viewers = [self.admin, make_staff(Role.DISTRICT_ADMIN, tree.xicheng)]
        self.gate = make_staff(Role.GATE, tree.city)
        self.activities = [make_activity(tree.city, quota=4, title=t) for t in ("滑雪", "冰场")]
        self.stations = [make_station(tree.u1), make_station(tree.u3)]
        self.campaign = care_campaign_create(
            actor=None, code="C1", title="寒冬送暖", org=tree.city, budget=Decimal("900.00"),
            starts_on=date(2026, 1, 1),
        )  # fmt: skip


@pytest.fixture
def world(tree, make_member, make_staff):
    """Every example starts from here: each member enrolled, three bookings, a visit to each
    station, money allocated to each unit."""
    w = World(tree, make_member, make_staff)
    _enrol(w, [(m, 1, 6000) for m in range(MEMBERS)])
    for m in range(3):
        _book(w, "book", (m, m % 2))
    for station in range(2):
        _visit(w, "tally", (station, 3, 40))
    for unit in range(3):
        _care(w, "allocate", (unit, 20_000))
    return w


def _enrol(w: World, picks: list[tuple[int, int, int]]) -> None:
    lines = ["id_number,plan_code,period_start,amount"]
    for m, v, cents in picks:
        version = w.versions[v]
        lines.append(
            f"{w.numbers[m]},{version.plan.code},{version.period_start},{Decimal(cents) / 100:.2f}"
        )
    enrollments_import("\n".join(lines).encode(), file="enrol.csv", keep_valid=True)


def _nth(qs, i: int):
    rows = list(qs.order_by("id"))
    return rows[i % len(rows)] if rows else None


def _book(w: World, kind: str, arg) -> None:
    if kind == "book":
        booking_create(activity=w.activities[arg[1]], member=w.members[arg[0]], actor=w.admin)
    elif (booking := _nth(Booking.objects.all(), arg)) is None:
        return
    elif kind == "cancel":
        booking_cancel(booking=booking, actor=w.admin)
    else:
        redemption_scan(code=voucher_code(booking), gate="东门", actor=w.gate)


def _visit(w: World, kind: str, arg) -> None:
    if kind == "tally":
        station, people, days = arg
        on = date(2025, 12, 1) + timedelta(days)
        station_visit_tally(station=w.stations[station], actor=None, on=on, people=people)
    elif kind == "scan":
        station, visitor = arg
        station_visit_record(content=station_qr_content(w.stations[station]), visitor=visitor)
    elif (visit := _nth(StationVisit.objects.all(), arg)) is not None:
        visit.delete()  # struck out by an operator, through the admin


def _care(w: World, kind: str, arg) -> None:
    unit, cents = arg
    amount = Decimal(cents) / 100
    if kind == "allocate":
        care_allocation_create(
            campaign=w.campaign, org=w.units[unit], amount=amount, on=date(2026, 1, 2), actor=None
        )
    elif kind == "spend":
        care_visit_record(
            campaign=w.campaign, org=w.units[unit], visited_on=date(2026, 1, 3), place="站点",
            beneficiaries=[BeneficiaryIn(kind="frontline", name="环卫工", cash=amount)], actor=None,
        )  # fmt: skip
    elif (entry := _nth(CareLedgerEntry.objects.filter(reverses__isnull=True), unit)) is not None:
        care_entry_reverse(entry=entry, actor=None, reason="冲销")


def _apply(w: World, op) -> None:
    kind, arg = op
    if kind == "enrol":
        _enrol(w, arg)
    elif kind == "leave" and (row := _nth(Enrollment.objects.all(), arg)) is not None:
        row.delete()
    elif kind == "contribute" and (row := _nth(Enrollment.objects.all(), arg[0])) is not None:
        row.amount = Decimal(arg[1]) / 100
        row.save(update_fields=["amount"])
    elif kind == "move":
        member, unit = w.members[arg[0]], w.units[arg[1]]
        member_create_or_update(id_number=w.numbers[arg[0]], name=member.name, unit=unit)
    elif kind in ("book", "cancel", "redeem"):
        _book(w, kind, arg)
    elif kind in ("tally", "scan", "unvisit"):
        _visit(w, kind, arg)
    elif kind in ("allocate", "spend", "reverse"):
        _care(w, kind, arg)


member, pick = st.integers(0, MEMBERS - 1), st.integers(0, 30)
cents = st.integers(1, 30_000)
OPS = st.one_of(
    st.tuples(
        st.just("enrol"),
        st.lists(
            st.tuples(member, st.integers(0, 2), st.integers(0, 99_999)), min_size=1, max_size=4
        ),
    ),
    st.tuples(st.just("leave"), pick),
    st.tuples(st.just("contribute"), st.tuples(pick, st.integers(0, 99_999))),
    st.tuples(st.just("move"), st.tuples(member, st.integers(0, 2))),
    st.tuples(st.just("book"), st.tuples(member, st.integers(0, 1))),
    st.tuples(st.sampled_from(["cancel", "redeem"]), pick),
    st.tuples(
        st.just("tally"), st.tuples(st.integers(0, 1), st.integers(1, 50), st.integers(0, 60))
    ),
    st.tuples(st.just("scan"), st.tuples(st.integers(0, 1), st.sampled_from(["a", "b"]))),
    st.tuples(st.just("unvisit"), pick),
    st.tuples(
        st.sampled_from(["allocate", "spend", "reverse"]), st.tuples(st.integers(0, 2), cents)
    ),
)


def _statistics_equal_their_recounts(w: World) -> None:
    for user in w.viewers:
        for name, recounted in RECOUNTED.items():
            groups = ("month", "station") if name == "stations" else (None,)
            for group_by in groups:
                kwargs = {"user": user, **({"group_by": group_by} if group_by else {})}
                assert REPORTS[name](**kwargs).rows == recounted(**kwargs).rows, (name, kwargs)
        # members and contributions: the enrolment figures against the enrolments
        counted = {
            (e.version.plan.code, e.version.period_start.year)
            for e in Enrollment.objects.select_related("version__plan")
            if e.unit.path.startswith(user.org.path)
        }
        assert {(r[0], r[2]) for r in members_covered(user=user).rows} == counted
        assert {(r[0], r[2]) for r in contributions(user=user).rows} == counted


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=15))
def test_after_any_sequence_of_writes_every_summary_equals_its_recount(world, ops):
    try:
        with transaction.atomic():
            for op in ops:
                try:
                    with transaction.atomic():
                        _apply(world, op)
                except DomainError:
                    pass  # refused (sold out, no money left, already cancelled...): no change
                assert summaries_differences() == [], op
            _statistics_equal_their_recounts(world)
            raise Rollback
    except Rollback:
        pass
