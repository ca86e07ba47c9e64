"""The booking figures behind the statistics (普惠活动预约与核销): kept by the database's triggers
in the same statement as the bookings, following a member who moves to another unit, so that
they always equal a count of the bookings, and the statistic read from them equals the one
counted from the bookings for every viewer and year. (Every booking path, the lottery and the
gates are walked by test_bookings_stateful, which checks the figures after every step.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from huzhu.accounts.models import Role
from huzhu.benefits.bookings import booking_cancel, booking_create
from huzhu.benefits.figures import BOOKING_FIGURES
from huzhu.benefits.lottery import lottery_draw
from huzhu.benefits.models import Booking, BookingFigures, BookingStatus
from huzhu.benefits.redemption import redemption_scan
from huzhu.benefits.voucher_codes import voucher_code
from huzhu.members.models import Member
from huzhu.members.roster import members_import
from huzhu.members.services import member_create_or_update
from huzhu.reports.recounts import bookings_recounted
from huzhu.reports.selectors import bookings
from tests.benefits.conftest import make_activity
from tests.faults import second_connection


def _equal_to_a_recount(*viewers) -> None:
    assert BOOKING_FIGURES.stored() == BOOKING_FIGURES.recounted()
    for user in viewers:
        for year in (None, 2025, 2026, 2027):
            assert (
                bookings(user=user, year=year).rows == bookings_recounted(user=user, year=year).rows
            )


@pytest.fixture
def viewers(tree, make_staff):
    return [
        make_staff(Role.CITY_ADMIN, tree.city),
        make_staff(Role.DISTRICT_ADMIN, tree.xicheng),
        make_staff(Role.UNIT_ADMIN, tree.u3),
    ]


@pytest.mark.django_db
def test_bookings_cancellations_redemptions_and_a_draw_are_counted_as_they_happen(
    tree, card_holder, make_staff, viewers
):
    staff = make_staff(Role.CITY_ADMIN, tree.city)
    gate = make_staff(Role.GATE, tree.city)
    ski = make_activity(tree.city, quota=3, title="滑雪票")
    draw = make_activity(tree.city, quota=1, mode="lottery", title="冰场摇号")
    members = [card_holder(unit) for unit in (tree.u1, tree.u2, tree.u3, tree.u3)]
    booked = [booking_create(activity=ski, member=m, actor=staff) for m in members[:3]]
    _equal_to_a_recount(*viewers)
    booking_cancel(booking=booked[0], actor=staff)
    assert redemption_scan(code=voucher_code(booked[2]), gate="东门", actor=gate).ok
    _equal_to_a_recount(*viewers)
    entries = [booking_create(activity=draw, member=m, actor=staff) for m in members]
    with mock.patch("django.utils.timezone.now", return_value=draw.closes_at + timedelta(1)):
        lottery_draw(activity=draw, seed="2026", actor=staff)
    _equal_to_a_recount(*viewers)
    winner = Booking.objects.get(activity=draw, status=BookingStatus.BOOKED)
    booking_cancel(booking=winner, actor=staff)  # the first waiting moves up
    _equal_to_a_recount(*viewers)
    city = {r[1]: r[2:] for r in bookings(user=viewers[0]).rows}
    assert city == {"滑雪票": (3, 3, 1, 1), "冰场摇号": (len(entries), 2, 0, 1)}


@pytest.mark.django_db
def test_a_member_who_moves_takes_the_figures_of_their_bookings_along(
    tree, card_holder, make_staff, viewers
):
    staff = make_staff(Role.CITY_ADMIN, tree.city)
    ski = make_activity(tree.city, quota=5)
    member = card_holder(tree.u1)
    booking_create(activity=ski, member=member, actor=staff)
    xicheng, huairou = viewers[1], viewers[2]
    assert [r[2] for r in bookings(user=xicheng).rows] == [1]
    member_create_or_update(id_number=_number(member), name=member.name, unit=tree.u3)
    assert bookings(user=xicheng).rows == []
    assert [r[2] for r in bookings(user=huairou).rows] == [1]
    _equal_to_a_recount(*viewers)


def _number(member: Member) -> str:
    from huzhu.core.pii import vault

    return vault().decrypt(member.id_cipher)


@pytest.mark.django_db
def test_a_roster_import_that_moves_members_moves_their_figures(
    tree, card_holder, make_staff, viewers
):
    staff = make_staff(Role.CITY_ADMIN, tree.city)
    ski = make_activity(tree.city, quota=10)
    members = [card_holder(unit) for unit in (tree.u1, tree.u1, tree.u2, tree.u3)]
    for m in members:
        booking_create(activity=ski, member=m, actor=staff)
    roster = "id_number,name,unit_code\n" + "".join(
        f"{_number(m)},{m.name},{unit}\n"
        for m, unit in zip(members, ("U3", "U2", "U1", "U1"), strict=True)
    )
    report = members_import(roster.encode(), file="moves.csv")
    assert report.updated == 4
    _equal_to_a_recount(*viewers)
    assert [r[2] for r in bookings(user=viewers[2]).rows] == [1]  # 怀柔's U3: one member now


@pytest.mark.django_db
def test_the_year_of_a_booking_is_its_year_in_shanghai(tree, card_holder, viewers):
    ski = make_activity(tree.city, quota=5)
    new_year = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 2027-01-01 00:00 in Beijing
    for moment in (new_year - timedelta(microseconds=1), new_year):
        with mock.patch("django.utils.timezone.now", return_value=moment):
            Booking.objects.create(
                activity=ski, member=card_holder(tree.u3), status=BookingStatus.BOOKED,
                booked_at=timezone.now(),
            )  # fmt: skip
    assert sorted(BookingFigures.objects.values_list("year", flat=True)) == [2026, 2027]
    _equal_to_a_recount(*viewers)


@pytest.mark.django_db
def test_a_figure_written_past_the_triggers_is_a_difference_a_recount_mends(
    tree, card_holder, make_staff
):
    from huzhu.reports.services import summaries_differences, summaries_recount

    staff = make_staff(Role.CITY_ADMIN, tree.city)
    booking_create(activity=make_activity(tree.city), member=card_holder(tree.u1), actor=staff)
    assert summaries_differences() == []
    BookingFigures.objects.update(redeemed=7)
    assert [d.table for d in summaries_differences()] == ["booking_figures"]
    summaries_recount()
    assert summaries_differences() == []


@pytest.mark.django_db
def test_leftovers_of_a_flush_in_any_table_order_are_cleared_after_it(
    tree, card_holder, make_staff
):
    """On SQLite a flush deletes table by table: the figures first, and the bookings' delete
    trigger counts them out again below zero; Django then sends post_migrate."""
    from django.core.management.sql import emit_post_migrate_signal

    staff = make_staff(Role.CITY_ADMIN, tree.city)
    booking_create(activity=make_activity(tree.city), member=card_holder(tree.u1), actor=staff)
    BookingFigures.objects.all().delete()
    Booking.objects.all().delete()
    assert {f.entries for f in BookingFigures.objects.all()} == {-1}
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert not BookingFigures.objects.exists()


# -- PostgreSQL: a member moving while their booking is written -----------------------------------


_BOOK = (
    "INSERT INTO benefits_booking (activity_id, member_id, status, created_at, booked_at, "
    "redeemed_gate) VALUES (%s, %s, 'booked', now(), now(), '')"
)


def _waiting_for_a_lock(pid: int) -> None:
    with second_connection() as watcher:
        for _ in range(500):
            (event,) = watcher.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone() or (None,)
            if event == "Lock":
                return
            time.sleep(0.01)
    raise AssertionError("the second writer never waited")


def _in_thread(conn, sql: str, params: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: conn.execute(sql, params))
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_booking_written_while_its_member_moves_is_counted_in_the_new_unit(tree, card_holder):
    """The move holds the member's row: the booking's trigger waits for it (FOR SHARE), then
    reads the new unit. Without that lock it would count the booking in the old unit, and the
    move, which cannot see the booking, would leave it there."""
    ski = make_activity(tree.city, quota=5)
    member = card_holder(tree.u1)
    with second_connection(autocommit=False) as mover, second_connection() as booker:
        mover.execute(
            "UPDATE members_member SET unit_id = %s WHERE id = %s", [tree.u3.pk, member.pk]
        )
        thread = _in_thread(booker, _BOOK, [ski.pk, member.pk])
        _waiting_for_a_lock(booker.info.backend_pid)
        mover.commit()
        thread.join()
    assert BOOKING_FIGURES.stored() == BOOKING_FIGURES.recounted()
    assert [key[1] for key in BOOKING_FIGURES.stored()] == [tree.u3.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_member_who_moves_while_their_booking_is_cancelled_takes_the_cancellation(
    tree, card_holder, make_staff
):
    """The cancellation's trigger holds the member's row: the move waits for it, then moves
    the booking as cancelled. Without that lock the move would move it as booked."""
    staff = make_staff(Role.CITY_ADMIN, tree.city)
    member = card_holder(tree.u1)
    booking = booking_create(activity=make_activity(tree.city), member=member, actor=staff)
    with second_connection(autocommit=False) as canceller, second_connection() as mover:
        canceller.execute(
            "UPDATE benefits_booking SET status = 'cancelled' WHERE id = %s", [booking.pk]
        )
        thread = _in_thread(
            mover, "UPDATE members_member SET unit_id = %s WHERE id = %s", [tree.u3.pk, member.pk]
        )
        _waiting_for_a_lock(mover.info.backend_pid)
        canceller.commit()
        thread.join()
    assert BOOKING_FIGURES.stored() == BOOKING_FIGURES.recounted()
    ((key, (entries, booked, _redeemed, cancelled)),) = BOOKING_FIGURES.stored().items()
    assert (key[1], entries, booked, cancelled) == (tree.u3.pk, 1, 1, 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_booking_does_not_wait_for_the_figure_another_booking_holds(tree, card_holder):
    """A flash crowd from one unit: while one booking's transaction holds its key's figure, the
    next adds to another row of the same key instead of queueing behind it."""
    ski = make_activity(tree.city, quota=5)
    first, second, third = (card_holder(tree.u3) for _ in range(3))
    with second_connection() as conn:
        conn.execute(_BOOK, [ski.pk, first.pk])
    with second_connection(autocommit=False) as holder, second_connection() as other:
        holder.execute(_BOOK, [ski.pk, second.pk])  # holds the key's row until it commits
        other.execute("SET lock_timeout = '2s'")
        other.execute(_BOOK, [ski.pk, third.pk])  # would time out waiting
        holder.commit()
    assert sorted(BookingFigures.objects.values_list("shard", "entries")) == [(0, 2), (1, 1)]
    assert BOOKING_FIGURES.stored() == BOOKING_FIGURES.recounted()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_threads_booking_at_once_are_all_counted(tree, card_holder, make_staff):
    """Simultaneous one-statement bookings of one activity by one unit: every one counted,
    however the figure is spread."""
    from tests.benefits.test_concurrency import run_together

    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=30, shards=4)
    members = [card_holder(tree.u3) for _ in range(40)]
    results = run_together(
        [(lambda m=m: booking_create(activity=ski, member=m, actor=staff)) for m in members]
    )
    assert sum(not isinstance(r, str) for r in results) == 30
    connection.close()
    assert BOOKING_FIGURES.stored() == BOOKING_FIGURES.recounted()
    assert sum(BookingFigures.objects.values_list("booked", flat=True)) == 30
