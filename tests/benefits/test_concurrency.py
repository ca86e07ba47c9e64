"""Many clients at once on PostgreSQL, in threads and in separate processes: the quota is never
exceeded, nobody holds two bookings in a group, retries are idempotent, a voucher redeems once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from huzhu.accounts.models import Role, User
from huzhu.benefits.bookings import booking_create
from huzhu.benefits.models import HOLDING, Activity, Booking, IdempotencyKey, Quota, Scan
from huzhu.benefits.redemption import redemption_scan
from huzhu.benefits.selectors import total_quota
from huzhu.benefits.voucher_codes import voucher_code
from huzhu.core import locking
from huzhu.core.errors import DomainError
from tests.benefits.conftest import login_for, make_activity, members_twice_in_a_group
from tests.faults import second_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at the same moment; each result or DomainError code."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except DomainError as exc:
            results[i] = exc.code
        except Exception as exc:  # a 500 in production: the test must see it
            results[i] = f"crash: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _codes(results: list[Any]) -> Counter[str]:
    return Counter(r if isinstance(r, str) else "booked" for r in results)


def _assert_invariants() -> None:
    assert not Quota.objects.filter(used__gt=F("size")).exists()  # no shard oversold
    for activity in Activity.objects.all():
        held = Booking.objects.filter(activity=activity, status__in=HOLDING).count()
        total = total_quota(activity)
        assert total.used == held <= total.size
    assert not members_twice_in_a_group().exists()


@pytest.mark.parametrize("shards", [1, 4])
def test_threads_never_oversell(tree, card_holder, make_staff, shards):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=15, shards=shards)
    members = [card_holder(tree.u3) for _ in range(40)]
    results = run_together(
        [(lambda m=m: booking_create(activity=ski, member=m, actor=staff)) for m in members]
    )
    assert _codes(results) == {"booked": 15, "sold_out": 25}
    _assert_invariants()


def test_threads_give_a_member_one_booking_per_group(tree, card_holder, make_staff):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    group = [make_activity(tree.huairou, quota=5, group="冰雪", title=f"活动{i}") for i in range(3)]
    member = card_holder(tree.u3)
    results = run_together(
        [(lambda a=a: booking_create(activity=a, member=member, actor=staff)) for a in group * 5]
    )
    assert _codes(results) == {"booked": 1, "already_booked_in_group": 14}
    assert Booking.objects.filter(member=member, status__in=HOLDING).count() == 1
    _assert_invariants()


def test_concurrent_retries_with_one_key_book_once(tree, card_holder, make_staff):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=5)
    member = card_holder(tree.u3)
    results = run_together(
        [
            (
                lambda: (
                    booking_create(
                        activity=ski, member=member, actor=staff, idempotency_key="retry-1"
                    ).pk
                )
            )
            for _ in range(8)
        ]
    )
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    assert Booking.objects.count() == 1
    assert Quota.objects.get(activity=ski).used == 1


def test_concurrent_double_scans_redeem_once(tree, card_holder, make_staff):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    gate = make_staff(Role.GATE, tree.huairou)
    ski = make_activity(tree.huairou, quota=5)
    booking = booking_create(activity=ski, member=card_holder(tree.u3), actor=staff)
    code = voucher_code(booking)
    results = run_together(
        [
            (lambda i=i: redemption_scan(code=code, gate=f"闸口{i}", actor=gate).result)
            for i in range(10)
        ]
    )
    assert Counter(results) == {"redeemed": 1, "already_redeemed": 9}
    assert Scan.objects.count() == 10


def test_concurrent_retries_of_one_scan_answer_alike(tree, card_holder, make_staff):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    gate = make_staff(Role.GATE, tree.huairou)
    ski = make_activity(tree.huairou, quota=5)
    booking = booking_create(activity=ski, member=card_holder(tree.u3), actor=staff)
    code = voucher_code(booking)
    results = run_together(
        [
            (lambda: redemption_scan(code=code, gate="东门", actor=gate, nonce="n1").result)
            for _ in range(6)
        ]
    )
    assert results == ["redeemed"] * 6
    assert Scan.objects.count() == 1


def test_a_lock_timeout_is_busy_not_a_crash(tree, card_holder, make_staff, api_as, monkeypatch):
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=5)
    member = card_holder(tree.u3)
    monkeypatch.setattr(locking, "LOCK_TIMEOUT", "200ms")
    with second_connection(autocommit=False) as other:
        # another transaction sits on the quota row
        other.execute(
            "SELECT used FROM benefits_quota WHERE activity_id = %s FOR UPDATE", (ski.pk,)
        )
        from huzhu.members.services import member_reveal_id_number

        id_number = member_reveal_id_number(member=member, actor=staff, reason="测试")
        r = api_as(staff).post(f"/activities/{ski.pk}/bookings", {"member": id_number})
        other.rollback()
    assert r.status_code == 503 and r.json()["error"]["code"] == "busy"
    assert not Booking.objects.exists()
    assert Quota.objects.get(activity=ski).used == 0


def test_a_booking_takes_a_free_shard_instead_of_waiting(tree, card_holder, api_as, monkeypatch):
    ski = make_activity(tree.huairou, quota=4, shards=2)
    member = card_holder(tree.u3)
    monkeypatch.setattr(locking, "LOCK_TIMEOUT", "200ms")
    with second_connection(autocommit=False) as other:
        # another booking holds shard 0 (its transaction is still open)
        other.execute(
            "SELECT used FROM benefits_quota WHERE activity_id = %s AND shard = 0 FOR UPDATE",
            (ski.pk,),
        )
        started = time.monotonic()
        booking = booking_create(activity=ski, member=member, actor=login_for(member))
        waited = time.monotonic() - started
        other.rollback()
    assert booking.pk and waited < 0.2  # shard 1 gave the place, without the lock timeout
    assert list(Quota.objects.filter(activity=ski).order_by("shard").values_list("used")) == [
        (0,),
        (1,),
    ]


def test_when_every_shard_is_held_a_booking_waits_then_is_busy(tree, card_holder, monkeypatch):
    ski = make_activity(tree.huairou, quota=4, shards=2)
    member = card_holder(tree.u3)
    monkeypatch.setattr(locking, "LOCK_TIMEOUT", "200ms")
    with second_connection(autocommit=False) as other:
        other.execute(
            "SELECT used FROM benefits_quota WHERE activity_id = %s FOR UPDATE", (ski.pk,)
        )
        with pytest.raises(DomainError) as refused:
            booking_create(activity=ski, member=member, actor=login_for(member))
        other.rollback()
    assert refused.value.code == "busy"
    assert not Booking.objects.exists() and total_quota(ski).used == 0


def _book_while_shard_0_fills(ski: Activity, member: Any, **booking: Any) -> Any:
    """Book while another transaction holds every shard, takes shard 0's last place and commits
    0.3 s later: the booking's pick waits for shard 0 and finds it full."""
    with second_connection(autocommit=False) as other:
        other.execute("SELECT FROM benefits_quota WHERE activity_id = %s FOR UPDATE", (ski.pk,))
        other.execute(
            "UPDATE benefits_quota SET used = used + 1 "
            "WHERE activity_id = %s AND day IS NULL AND shard = 0",
            (ski.pk,),
        )
        timer = threading.Timer(0.3, other.commit)
        timer.start()
        try:
            return booking_create(activity=ski, member=member, actor=login_for(member), **booking)
        finally:
            timer.join()


@pytest.mark.parametrize("per_day", [False, True], ids=["one statement", "per-day quotas"])
def test_a_full_shard_sends_the_waiting_booking_to_one_with_room(tree, card_holder, per_day):
    """Shard 0 fills up while a booking waits for it: the booking takes shard 1, not sold_out
    (both ways of booking: the one-statement FCFS path and the ORM path of per-day quotas)."""
    day = timezone.localdate() + timedelta(days=1)
    ski = make_activity(tree.huairou, quota=2, shards=2, day_quotas={day: 2} if per_day else None)
    first, second = card_holder(tree.u3), card_holder(tree.u3)
    booking = _book_while_shard_0_fills(ski, first, day=day if per_day else None)
    assert booking.pk
    totals = Quota.objects.filter(activity=ski, day__isnull=True).order_by("shard")
    assert list(totals.values_list("used")) == [
        (1,),
        (1,),
    ]
    with pytest.raises(DomainError) as refused:
        booking_create(
            activity=ski, member=second, actor=login_for(second), day=day if per_day else None
        )
    assert refused.value.code == "sold_out"


def test_a_shard_filling_under_every_try_is_busy_never_a_false_sold_out(
    tree, card_holder, api_as, monkeypatch
):
    """With one try only, the booking that found its shard full has no answer yet: busy (the
    phone tries again), and nothing is remembered for its key."""
    monkeypatch.setattr("huzhu.benefits.shards.MOVE_TRIES", 1)
    ski = make_activity(tree.huairou, quota=2, shards=2)
    member = card_holder(tree.u3)
    with pytest.raises(DomainError) as refused:
        _book_while_shard_0_fills(ski, member, idempotency_key="k-busy")
    assert refused.value.code == "busy"
    assert not IdempotencyKey.objects.exists() and not Booking.objects.exists()
    monkeypatch.setattr("huzhu.benefits.shards.MOVE_TRIES", 16)
    again = booking_create(
        activity=ski, member=member, actor=User.objects.get(member=member), idempotency_key="k-busy"
    )
    assert again.pk and total_quota(ski).used == 2


def _worker_env() -> dict[str, str]:
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return {**os.environ, "DATABASE_URL": url}


def _run_processes(staff_id: int, batches: list[list[tuple[int, int]]]) -> Counter[str]:
    start_at = time.time() + 3.0  # every process has set Django up by then
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.benefits.book_worker",
                str(start_at),
                str(staff_id),
                json.dumps(batch),
            ],
            cwd=root,
            env=_worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch in batches
    ]
    total: Counter[str] = Counter()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        total.update(json.loads(out.strip().splitlines()[-1]))
    return total


def test_separate_processes_never_oversell_nor_double_a_group(tree, card_holder, make_staff):
    staff = make_staff(Role.CITY_ADMIN, tree.city)
    ski = make_activity(tree.huairou, quota=25, group="冰雪", title="滑雪")
    parks = [make_activity(tree.huairou, quota=10, group="冰雪", title=f"公园{i}") for i in (1, 2)]
    members = [card_holder(tree.u3).pk for _ in range(60)]
    rng = random.Random(7)
    batches = []
    for _ in range(4):
        # every process tries every member, on a random activity of the group, in its own order
        batch = [(m, rng.choice([ski, *parks]).pk) for m in members]
        rng.shuffle(batch)
        batches.append(batch)
    outcomes = _run_processes(staff.pk, batches)
    assert set(outcomes) <= {"booked", "sold_out", "already_booked_in_group", "busy"}
    assert outcomes["booked"] == Booking.objects.filter(status__in=HOLDING).count() > 0
    assert Booking.objects.filter(status__in=HOLDING).count() <= 45
    _assert_invariants()


def test_separate_processes_sell_exactly_the_quota(tree, card_holder, make_staff):
    staff = make_staff(Role.CITY_ADMIN, tree.city)
    ski = make_activity(tree.huairou, quota=30, shards=4)  # shards of 8, 8, 7 and 7 places
    members = [card_holder(tree.u3).pk for _ in range(80)]
    batches = [[(m, ski.pk) for m in members[i::4]] for i in range(4)]
    outcomes = _run_processes(staff.pk, batches)
    assert outcomes == {"booked": 30, "sold_out": 50}
    shards = Quota.objects.filter(activity=ski).order_by("shard")
    assert [(q.used, q.size) for q in shards] == [(8, 8), (8, 8), (7, 7), (7, 7)]
    _assert_invariants()
