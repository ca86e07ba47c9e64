"""Bookings and scans under failure. The database connection dropped in the middle of a booking,
during a booking's commit, and in the middle of a gate scan (PostgreSQL), and a booking worker killed with SIGKILL, at the worst point and
at a random moment (SQLite and PostgreSQL): nothing half-written is visible (no booking without
its quota, no idempotency key without its booking, no redemption without its scan), and the
retried requests, with the same Idempotency-Keys and nonces, finish the work exactly once."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.benefits import booking_statement, redemption
from huzhu.benefits.bookings import booking_create
from huzhu.benefits.models import Booking, BookingStatus, IdempotencyKey, Quota, Scan
from huzhu.benefits.redemption import redemption_scan
from huzhu.benefits.voucher_codes import voucher_code
from tests.benefits.conftest import make_activity
from tests.faults import Worker, cut_before, second_connection, terminate_backend, worker_for

# -- the connection dropped (PostgreSQL) ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_mid_booking_then_the_retry_books_once(tree, card_holder, make_staff):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=2)
    member = card_holder(tree.u3)
    # On PostgreSQL the booking, its idempotency key and the claim of the quota are one
    # statement: the connection is cut as it is sent.
    with cut_before(booking_statement, "_fcfs_statement"), pytest.raises(DatabaseError):
        booking_create(activity=ski, member=member, actor=staff, idempotency_key="k-1")
    assert not Booking.objects.exists() and not IdempotencyKey.objects.exists()
    assert Quota.objects.get(activity=ski).used == 0
    assert not AuditEvent.objects.filter(action="booking.create").exists()
    booking = booking_create(activity=ski, member=member, actor=staff, idempotency_key="k-1")
    again = booking_create(activity=ski, member=member, actor=staff, idempotency_key="k-1")
    assert again.pk == booking.pk and Booking.objects.count() == 1
    assert Quota.objects.get(activity=ski).used == 1


@contextmanager
def _slow_commit_of_bookings(seconds: float) -> Iterator[None]:
    """A deferred trigger that sleeps at COMMIT of any transaction that inserted a booking: a
    window in which the connection can be cut while the booking is being committed."""
    with second_connection() as admin:
        admin.execute(
            "CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$"
        )
        admin.execute(
            "CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON benefits_booking "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()"
        )
    try:
        yield
    finally:
        with second_connection() as admin:
            admin.execute("DROP TRIGGER test_slow_commit ON benefits_booking")
            admin.execute("DROP FUNCTION test_slow_commit()")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_cut_during_the_commit_answers_503_and_the_retry_books_once(
    tree, card_holder, member_api
):
    """The one-statement booking is cut while its COMMIT runs: the commit never completes, the
    phone is told to try again, and its retry with the same key books once."""
    ski = make_activity(tree.huairou, quota=2)
    api = member_api(card_holder(tree.u3))
    key = {"HTTP_IDEMPOTENCY_KEY": "phone-commit"}
    api.get(f"/activities/{ski.pk}")  # the connection is open: its backend can be named
    assert connection.connection is not None
    backend = connection.connection.info.backend_pid
    with _slow_commit_of_bookings(3):
        cutter = threading.Timer(0.5, terminate_backend, [backend])
        cutter.start()
        started = time.monotonic()
        cut = api.post(f"/activities/{ski.pk}/bookings", {}, **key)
        cutter.join()
        assert time.monotonic() - started < 3  # answered when cut, not after the sleep
    assert cut.status_code == 503 and cut.json()["error"]["code"] == "unavailable"
    assert not Booking.objects.exists() and not IdempotencyKey.objects.exists()
    assert Quota.objects.get(activity=ski).used == 0
    first = api.post(f"/activities/{ski.pk}/bookings", {}, **key)
    again = api.post(f"/activities/{ski.pk}/bookings", {}, **key)
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert Quota.objects.get(activity=ski).used == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_mid_booking_answers_503_and_the_api_retry_books_once(
    tree, card_holder, member_api
):
    """Through the API: the client is told to try again (503 in the one error shape, not a
    500), and its retry with the same Idempotency-Key books once."""
    ski = make_activity(tree.huairou, quota=2)
    api = member_api(card_holder(tree.u3))
    key = {"HTTP_IDEMPOTENCY_KEY": "phone-7"}
    with cut_before(booking_statement, "_fcfs_statement"):
        cut = api.post(f"/activities/{ski.pk}/bookings", {}, **key)
    assert cut.status_code == 503, cut.content
    assert cut.json()["error"]["code"] == "unavailable"
    assert not Booking.objects.exists()
    first = api.post(f"/activities/{ski.pk}/bookings", {}, **key)
    again = api.post(f"/activities/{ski.pk}/bookings", {}, **key)
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert Quota.objects.get(activity=ski).used == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_mid_scan_then_the_retried_scan_redeems_once(
    tree, card_holder, make_staff
):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    gate = make_staff(Role.GATE, tree.huairou)
    ski = make_activity(tree.huairou, quota=2)
    booking = booking_create(activity=ski, member=card_holder(tree.u3), actor=staff)
    code = voucher_code(booking)
    # Cut after the booking is marked redeemed, before the scan (and its audit event) is logged.
    with cut_before(redemption, "_scan_log"), pytest.raises(DatabaseError):
        redemption_scan(code=code, gate="东门", actor=gate, nonce="scan-1")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.BOOKED and not Scan.objects.exists()
    first = redemption_scan(code=code, gate="东门", actor=gate, nonce="scan-1")
    retry = redemption_scan(code=code, gate="东门", actor=gate, nonce="scan-1")
    assert first.result == retry.result == "redeemed" and retry.body["replayed"] is True
    assert Scan.objects.count() == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.REDEEMED


# -- the worker killed (SQLite and PostgreSQL) ----------------------------------------------------


def holding(worker: Worker) -> int:
    return worker.count("benefits_booking", "status IN ('booked', 'redeemed')")


def consistent(worker: Worker, quota: int) -> int:
    """Checks what any client sees; returns how many bookings hold quota."""
    held = holding(worker)
    ((used,),) = worker.peek("SELECT used FROM benefits_quota")
    assert used == held <= quota
    # Every booking came with its idempotency key (written in the same transaction), and every
    # other key remembers a definitive refusal.
    assert worker.count("benefits_idempotencykey", "booking_id IS NOT NULL") == held
    assert worker.count("benefits_booking") == held
    assert worker.count("benefits_idempotencykey", "booking_id IS NULL AND error IS NULL") == 0
    twice = worker.peek(
        "SELECT member_id FROM benefits_booking GROUP BY member_id HAVING COUNT(*) > 1"
    )
    assert twice == []
    return held


@pytest.mark.django_db(transaction=True)
def test_booking_worker_killed_before_taking_the_quota_then_retried(tmp_path, sqlite_home_template):
    worker = worker_for(tmp_path, sqlite_home_template)
    world = json.loads(worker.ok("setup-benefits", "3", "2"))
    book = ("book", str(world["staff"]), str(world["activity"]), "k")
    first = str(world["members"][0])
    worker.killed(*book, first, die_at="booking-claim")
    assert consistent(worker, 2) == 0
    assert json.loads(worker.ok(*book, first)) == {"booked": 1}
    assert json.loads(worker.ok(*book, first)) == {"booked": 1}  # the same booking, replayed
    assert consistent(worker, 2) == 1


@pytest.mark.django_db(transaction=True)
def test_booking_worker_killed_at_a_random_moment_then_rerun_books_everyone_once(
    tmp_path, sqlite_home_template
):
    worker = worker_for(tmp_path, sqlite_home_template)
    world = json.loads(worker.ok("setup-benefits", "120", "80"))
    members = [str(m) for m in world["members"]]
    book = ("book", str(world["staff"]), str(world["activity"]), "k", *members)
    victim = worker.start(*book)
    # Killed at a moment of chance while under way: once a random number of bookings is in.
    threshold = random.randint(5, 40)
    deadline = time.monotonic() + 120
    while holding(worker) < threshold and victim.poll() is None and time.monotonic() < deadline:
        pass
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    before = consistent(worker, 80)
    assert threshold <= before < 80, f"killed too late to prove anything ({before} booked)"
    outcomes = json.loads(worker.ok(*book))
    # The rerun sends every request again: the bookings made before the kill come back as they
    # were (the same Idempotency-Key), the rest book until the quota is gone.
    assert outcomes == {"booked": 80, "sold_out": 40}
    assert consistent(worker, 80) == 80
