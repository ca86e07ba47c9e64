"""The enrolment figures (参保人数, 缴费) for statistics at city scale: kept by the database's
triggers in the same statement as the enrolments, whichever way they are written (the roster
import's bulk insert and update, a unit's enrolment at once, the ORM, a queryset update or
delete), so that the figures always equal a recount; the statistics read them."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.accounts.models import Role
from huzhu.protection.enrollments import enrollments_import
from huzhu.protection.figures import figures_rebuild, figures_recounted, figures_stored
from huzhu.protection.models import Enrollment, EnrollmentFigures
from huzhu.protection.plans import plan_load_toml
from huzhu.protection.unit_enrolment import enrollment_create_for_unit
from huzhu.reports.selectors import contributions, members_covered
from huzhu.reports.services import summaries_differences
from tests.conftest import new_id_number
from tests.settlement.test_import import JT, ZY, ZY_2025

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    """Ends an example: its writes are undone, the next starts from the same world."""


@pytest.fixture
def world(tree, make_member, make_staff):
    versions = [plan_load_toml(doc, file="plan.toml")[0] for doc in (ZY_2025, ZY, JT)]
    units = [tree.u1, tree.u2, tree.u3]
    numbers = [new_id_number() for _ in range(6)]
    members = [
        make_member(units[i % 3], id_number=n, name=f"会员{i}") for i, n in enumerate(numbers)
    ]
    for member, number in zip(members, numbers, strict=True):
        member.number = number  # the ID number as a roster file names it
    admin = make_staff(Role.CITY_ADMIN, tree.city)
    return versions, units, members, admin


def _import(members, versions, picks: list[tuple[int, int, int]]) -> None:
    lines = ["id_number,plan_code,period_start,amount"]
    for m, v, cents in picks:
        version = versions[v]
        lines.append(
            f"{members[m].number},{version.plan.code},{version.period_start},"
            f"{Decimal(cents) / 100:.2f}"
        )
    enrollments_import("\n".join(lines).encode(), file="enrol.csv", keep_valid=True)


OPS = st.one_of(
    st.tuples(
        st.just("import"),
        st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(0, 99_999)),
            min_size=1,
            max_size=4,
        ),
    ),
    st.tuples(st.just("unit"), st.tuples(st.integers(0, 2), st.integers(0, 2))),
    st.tuples(st.just("orm"), st.tuples(st.integers(0, 5), st.integers(0, 2))),
    st.tuples(st.just("amount"), st.tuples(st.integers(0, 20), st.integers(0, 99_999))),
    st.tuples(st.just("payer"), st.integers(0, 20)),
    st.tuples(st.just("move"), st.tuples(st.integers(0, 20), st.integers(0, 2))),
    st.tuples(st.just("delete"), st.integers(0, 20)),
)


def _apply(world, op) -> None:
    versions, units, members, admin = world
    kind, arg = op
    rows = list(Enrollment.objects.order_by("id"))
    if kind == "import":
        _import(members, versions, arg)
    elif kind == "unit":
        enrollment_create_for_unit(actor=admin, unit=units[arg[0]], version=versions[arg[1]])
    elif kind == "orm":
        member, version = members[arg[0]], versions[arg[1]]
        if not Enrollment.objects.filter(member=member, version=version).exists():
            Enrollment.objects.create(
                member=member, unit=member.unit, version=version, payer=version.payer,
                amount=version.contribution, paid_on=date(2026, 1, 5),
            )  # fmt: skip
    elif rows and kind == "amount":
        row = rows[arg[0] % len(rows)]
        row.amount = Decimal(arg[1]) / 100
        row.save(update_fields=["amount"])
    elif rows and kind == "payer":
        row = rows[arg % len(rows)]
        Enrollment.objects.filter(pk=row.pk).update(
            payer="federation" if row.payer == "unit" else "unit"
        )
    elif rows and kind == "move":
        Enrollment.objects.filter(pk=rows[arg[0] % len(rows)].pk).update(unit=units[arg[1]])
    elif rows and kind == "delete":
        Enrollment.objects.filter(pk=rows[arg % len(rows)].pk).delete()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=10))
def test_after_any_sequence_of_writes_the_figures_equal_a_recount(world, ops):
    from django.db import transaction

    try:
        with transaction.atomic():
            for op in ops:
                _apply(world, op)
                assert figures_stored() == figures_recounted(), op
            raise Rollback
    except Rollback:
        pass


def test_the_statistics_read_the_figures_and_count_a_person_once_per_plan_year(
    world, tree, make_staff
):
    versions, _units, members, admin = world
    _import(members, versions, [(0, 1, 6000), (1, 1, 6000), (2, 1, 5050), (0, 2, 3000)])
    # A plan of two half-year versions: member 0 enrolled in both, member 1 in the first.
    half = JT.replace(b'code = "JT"', b'code = "HY"').replace(b"2026-12-31", b"2026-06-30")
    first = plan_load_toml(half, file="hy1.toml")[0]
    second = plan_load_toml(
        half.replace(b"2026-01-01", b"2026-07-01").replace(b"2026-06-30", b"2026-12-31"),
        file="hy2.toml",
    )[0]
    for member, version in ((members[0], first), (members[0], second), (members[1], first)):
        Enrollment.objects.create(
            member=member, unit=member.unit, version=version, payer=version.payer,
            amount=Decimal("30.00"),
        )  # fmt: skip
    covered = {(r[0], r[2]): r[3] for r in members_covered(user=admin).rows}
    assert covered[("ZY", 2026)] == 3
    assert covered[("JT", 2026)] == 1
    assert covered[("HY", 2026)] == 2  # member 0 once, though in both versions
    paid = {(r[0], r[2]): (r[3], r[4]) for r in contributions(user=admin).rows}
    assert paid[("ZY", 2026)] == (3, Decimal("170.50"))
    assert paid[("HY", 2026)] == (3, Decimal("90.00"))  # enrolments and yuan, both versions
    by_unit = {r[0]: (r[2], r[3]) for r in contributions(user=admin, group_by="unit").rows}
    assert sum(n for n, _ in by_unit.values()) == 7
    district = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    assert all(r[0] == "U3" for r in contributions(user=district, group_by="unit").rows)


def test_a_figure_written_past_the_triggers_shows_as_a_difference_and_a_recount_mends_it(world):
    versions, _units, members, _admin = world
    _import(members, versions, [(0, 1, 6000), (1, 1, 6000)])
    assert summaries_differences() == []
    EnrollmentFigures.objects.update(members=99)
    found = [d for d in summaries_differences() if d.table == "enrollment_figures"]
    assert found and found[0].stored[0] == 99
    figures_rebuild()
    assert summaries_differences() == []


def test_leftovers_of_a_flush_in_any_table_order_are_cleared_after_it(world):
    """Between tests Django flushes every table (on SQLite one DELETE per table, in any order)
    and then sends post_migrate: figures deleted before the enrolments would be counted out
    again by the delete trigger, and are cleared then."""
    from django.core.management.sql import emit_post_migrate_signal

    versions, _units, members, _admin = world
    _import(members, versions, [(0, 1, 6000), (1, 1, 6000)])
    EnrollmentFigures.objects.all().delete()
    Enrollment.objects.all().delete()
    assert {f.members for f in EnrollmentFigures.objects.all()} == {-1}
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert not EnrollmentFigures.objects.exists()


def test_the_nightly_check_logs_an_error_naming_the_figures_that_differ(world, caplog):
    from huzhu.reports.tasks import summaries_check

    versions, _units, members, _admin = world
    _import(members, versions, [(0, 1, 6000), (1, 1, 6000)])
    assert summaries_check() == 0
    EnrollmentFigures.objects.update(members=99)
    with caplog.at_level(logging.ERROR, logger="huzhu.reports"):
        assert summaries_check() > 0
    assert "enrollment_figures" in caplog.text and "recount" in caplog.text


def test_the_check_is_scheduled_every_night_for_the_workers():
    from procrastinate.contrib.django import app

    scheduled = {p.periodic_id: p.cron for p in app.periodic_registry.periodic_tasks.values()}
    assert scheduled["huzhu.summaries_check"] == "30 3 * * *"
