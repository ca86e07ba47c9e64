"""What the database itself refuses: changing a paid transfer or its entries, and (PostgreSQL)
emptying an append-only table with TRUNCATE. Whatever the application does, money paid stays
paid and the ledger keeps every line."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from huzhu.accounts.models import Role
from huzhu.core.errors import DomainError
from huzhu.protection.models import LedgerEntry, PaymentItem, PaymentItemEntry
from huzhu.protection.payments import payment_item_confirm, payment_run_create, payment_run_release
from huzhu.protection.services import claim_approve
from tests.protection.factories import a_stay

REFUSED = (IntegrityError, DatabaseError)


@pytest.fixture
def paid_item(insured: Any, approved_claim: Any, city_admin: Any) -> PaymentItem:
    approved_claim(insured, "300.00")
    run = payment_run_create(actor=city_admin).run
    payment_run_release(actor=None, run=run)
    item = PaymentItem.objects.get(run=run)
    return payment_item_confirm(actor=city_admin, item=item)


def test_a_paid_transfer_cannot_be_changed_or_deleted(paid_item):
    for change in (
        lambda: PaymentItem.objects.filter(pk=paid_item.pk).update(amount=Decimal("1.00")),
        lambda: PaymentItem.objects.filter(pk=paid_item.pk).update(state="pending"),
        lambda: PaymentItemEntry.objects.filter(item=paid_item).update(live=False),
        lambda: PaymentItemEntry.objects.filter(item=paid_item).delete(),
    ):
        with pytest.raises(REFUSED, match="refused"), transaction.atomic():
            change()
    paid_item.refresh_from_db()
    assert (paid_item.state, paid_item.amount) == ("paid", Decimal("300.00"))
    assert PaymentItemEntry.objects.filter(item=paid_item, live=True).count() == 1


def test_a_pending_transfer_can_still_fail(insured, approved_claim, city_admin):
    approved_claim(insured, "300.00")
    run = payment_run_create(actor=city_admin).run
    payment_run_release(actor=None, run=run)
    PaymentItem.objects.filter(run=run).update(state="failed")  # not paid: allowed


@pytest.mark.postgres
@pytest.mark.parametrize(
    "table",
    [
        "protection_ledgerentry",
        "audit_auditevent",
        "care_careledgerentry",
        "protection_paymentitem",
        "protection_paymentitementry",
    ],
)
def test_append_only_tables_refuse_truncate(paid_item, table):
    with (
        pytest.raises(DatabaseError, match="TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own writes checked first
        cur.execute(f'TRUNCATE "{table}" CASCADE')
    assert LedgerEntry.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reviewers_approving_at_once_never_pay_more_than_the_cap(
    empty_append_only_tables, insured, file_claim, tree, make_staff
):
    """Each claim alone is assessed at the whole cap (50,000.00); approved at the same moment by
    two reviewers, the member's ledger lock lets one in after the other, and the second is held
    to what the first left."""
    big = Decimal("100000.00")
    first = file_claim(insured, "9000.00", stay=a_stay(date(2026, 5, 1), in_scope_self_pay=big))
    second = file_claim(insured, "9000.00", stay=a_stay(date(2026, 6, 1), in_scope_self_pay=big))
    reviewers = [make_staff(Role.REVIEWER, tree.xicheng) for _ in range(2)]
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def approve(claim: Any, reviewer: Any) -> None:
        try:
            start.wait()
            claim_approve(actor=reviewer, claim=claim, amount="9000.00", fast_track=True)
            outcomes.append("approved")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=approve, args=(claim, reviewer))
        for claim, reviewer in zip((first, second), reviewers, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    booked = sum(LedgerEntry.objects.values_list("amount", flat=True), Decimal(0))
    assert sorted(outcomes) == ["approved", "approved"]
    assert booked == Decimal("18000.00") <= Decimal("50000.00")
