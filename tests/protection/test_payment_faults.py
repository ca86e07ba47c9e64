"""Payment runs under failure. The database connection dropped in the middle of a run
(PostgreSQL), and `huzhu payments run` killed with SIGKILL at each point of its work (SQLite and
PostgreSQL): nothing half-written is visible, no entry is ever in two live transfers, no bank file
names transfers the database does not hold, and running the command again ends as one clean run.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError

from huzhu.protection import payments
from huzhu.protection.models import PaymentItem, PaymentItemEntry, PaymentRun
from tests.faults import Worker, cut_before, small_city, worker_for

# -- the connection dropped (PostgreSQL) ----------------------------------------------------------


def plan_of_next_run() -> dict[int, tuple[Decimal, list[int]]]:
    """What a run made now would pay: per member, the amount and the ledger entries."""
    return {
        member: (sum((a for _e, a in entries), Decimal("0.00")), sorted(e for e, _a in entries))
        for member, entries in payments._payable().items.items()
    }


def paid_by_runs() -> dict[int, tuple[Decimal, list[int]]]:
    return {
        item.member_id: (
            item.amount,
            sorted(item.links.filter(live=True).values_list("entry_id", flat=True)),
        )
        for item in PaymentItem.objects.all()
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "cut_at",
    [
        pytest.param((PaymentItemEntry.objects, "bulk_create"), id="items-written"),
        pytest.param((payments, "audit_record"), id="all-written-before-commit"),
    ],
)
def test_connection_dropped_mid_run_leaves_nothing_and_a_retry_pays_the_same(tmp_path, cut_at):
    small_city(tmp_path)
    plan = plan_of_next_run()
    assert len(plan) >= 10
    with cut_before(*cut_at), pytest.raises(DatabaseError):
        payments.payment_run_create(actor=None)
    assert not PaymentRun.objects.exists() and not PaymentItem.objects.exists()
    assert not PaymentItemEntry.objects.exists()
    assert plan_of_next_run() == plan  # every entry is still waiting to be paid
    result = payments.payment_run_create(actor=None)
    assert result.items == len(plan) and paid_by_runs() == plan
    assert result.run.total == sum((amount for amount, _ in plan.values()), Decimal("0.00"))


# -- the command killed (SQLite and PostgreSQL) ---------------------------------------------------

ITEMS = (
    "SELECT i.member_id, i.amount, i.card_no, i.state, l.entry_id "
    "FROM protection_paymentitem i JOIN protection_paymentitementry l ON l.item_id = i.id "
    "WHERE l.live = TRUE"
)


def paid(worker: Worker) -> dict[int, tuple[str, str, str, list[int]]]:
    """Per member: amount, card, state and the entries of its live transfer, read from outside."""
    items: dict[int, Any] = {}
    for member, amount, card, state, entry in worker.peek(ITEMS):
        amount = str(Decimal(str(amount)).quantize(Decimal("0.01")))
        assert items.setdefault(member, (amount, card, state, []))[:3] == (amount, card, state)
        items[member][3].append(entry)
    return {m: (a, c, s, sorted(e)) for m, (a, c, s, e) in items.items()}


def runs(worker: Worker) -> list[bool]:
    """Each run: whether its bank file was written."""
    return [
        bool(written)
        for (written,) in worker.peek(
            "SELECT file_written_at IS NOT NULL FROM protection_paymentrun ORDER BY id"
        )
    ]


def bank_rows(path: Path) -> list[tuple[str, str, str]]:
    """The transfers of a bank file, without their references (new for every run)."""
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    assert rows[0] == list(payments.BANK_FILE_HEADER)
    return sorted((card, name, amount) for card, name, amount, _ref in rows[1:])


def forget_payments(worker: Worker) -> None:
    worker.peek("DELETE FROM protection_paymentitementry")
    worker.peek("DELETE FROM protection_paymentitem")
    worker.peek("DELETE FROM protection_paymentrun")


@pytest.mark.django_db(transaction=True)
def test_payments_run_killed_at_each_point_then_run_again_equals_one_clean_run(
    tmp_path, sqlite_home_template
):
    worker = worker_for(tmp_path, sqlite_home_template)
    worker.ok("setup-city", "30", "160")
    out = tmp_path / "bank" / "run.csv"

    # A clean run, to compare with.
    assert "transfers" in worker.ok("huzhu", "payments", "run", "--out", str(out))
    clean, clean_file = paid(worker), bank_rows(out)
    assert len(clean) >= 10 and runs(worker) == [True]

    for point in ("payment-items", "payment-commit", "payment-file", "file-rename"):
        forget_payments(worker)
        out.write_text("an earlier bank file\n")
        worker.killed("huzhu", "payments", "run", "--out", str(out), die_at=point)
        assert out.read_text() == "an earlier bank file\n", point  # never half a file
        if point in ("payment-items", "payment-commit"):
            # Killed inside the run's transaction: none of it is visible.
            assert runs(worker) == [] and paid(worker) == {}, point
            assert worker.count("protection_paymentitem") == 0
            done = worker.ok("huzhu", "payments", "run", "--out", str(out))
            assert "transfers" in done, point
        else:
            # Killed after the run committed, before its file was in place: the run waits
            # for its file, and the next command writes it rather than paying anything again.
            assert runs(worker) == [False] and paid(worker) == clean, point
            done = worker.ok("huzhu", "payments", "run", "--out", str(out))
            assert "had not been written" in done, point
        assert runs(worker) == [True], point
        assert paid(worker) == clean and bank_rows(out) == clean_file, point
        assert (
            "nothing to pay"
            in worker.run("huzhu", "payments", "run", "--out", str(out) + ".x").stderr
        )
        assert runs(worker) == [True], point
