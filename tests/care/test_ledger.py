"""The care ledger: append-only in the database, and money in equals money out."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.care import selectors
from huzhu.care.models import BeneficiaryKind, CareBeneficiary, CareLedgerEntry, EntryKind
from huzhu.care.services import (
    BeneficiaryIn,
    care_allocation_create,
    care_campaign_budget_set,
    care_campaign_create,
    care_entry_reverse,
    care_visit_cancel,
    care_visit_record,
)
from huzhu.core.errors import Conflict, DomainError

D = Decimal


@pytest.fixture
def campaign(tree):
    return care_campaign_create(
        actor=None,
        code="C1",
        title="寒冬送暖",
        org=tree.xicheng,
        budget=D("300000.00"),
        starts_on=date(2026, 1, 1),
    )


def frontline(amount: str, goods: str = "") -> BeneficiaryIn:
    return BeneficiaryIn(
        kind=BeneficiaryKind.FRONTLINE,
        name="医护人员",
        headcount=10,
        cash=D(amount) if not goods else D("0"),
        goods=goods,
        goods_value=D(amount) if goods else D("0"),
    )


def test_the_database_refuses_to_change_or_delete_ledger_entries(tree, campaign):
    entry = care_allocation_create(
        campaign=campaign, org=tree.xicheng, amount=D("100.00"), on=date(2026, 1, 2), actor=None
    )
    table = CareLedgerEntry._meta.db_table
    for sql in (
        f'UPDATE "{table}" SET amount = 1 WHERE id = %s',
        f'DELETE FROM "{table}" WHERE id = %s',
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [entry.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        CareLedgerEntry.objects.filter(pk=entry.pk).update(amount=D("1.00"))
    assert CareLedgerEntry.objects.get(pk=entry.pk).amount == D("100.00")


def test_allocations_cannot_exceed_the_budget(tree, campaign):
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=D("299999.99"), on=date(2026, 1, 2), actor=None
    )
    with pytest.raises(Conflict) as info:
        care_allocation_create(
            campaign=campaign, org=tree.u2, amount=D("0.02"), on=date(2026, 1, 2), actor=None
        )
    assert info.value.code == "over_budget"
    care_allocation_create(
        campaign=campaign, org=tree.u2, amount=D("0.01"), on=date(2026, 1, 2), actor=None
    )


def test_an_organisation_spends_only_what_was_allocated_to_it(tree, campaign):
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=D("500.00"), on=date(2026, 1, 2), actor=None
    )
    with pytest.raises(Conflict) as info:
        care_visit_record(
            campaign=campaign,
            org=tree.u2,
            visited_on=date(2026, 1, 3),
            place="环卫站",
            beneficiaries=[frontline("1.00")],
            actor=None,
        )
    assert info.value.code == "insufficient_funds"
    care_visit_record(
        campaign=campaign,
        org=tree.u1,
        visited_on=date(2026, 1, 3),
        place="邮政支行",
        beneficiaries=[frontline("300.00"), frontline("200.00", "暖宝宝")],
        actor=None,
    )
    with pytest.raises(Conflict):
        care_visit_record(
            campaign=campaign,
            org=tree.u1,
            visited_on=date(2026, 1, 3),
            place="x",
            beneficiaries=[frontline("0.01")],
            actor=None,
        )


@pytest.mark.parametrize("amount", ["0.001", "-5.00", "0", "NaN"])
def test_amounts_are_positive_yuan_with_at_most_two_decimals(tree, campaign, amount):
    with pytest.raises(DomainError) as info:
        care_allocation_create(
            campaign=campaign, org=tree.u1, amount=D(amount), on=date(2026, 1, 2), actor=None
        )
    assert info.value.code == "invalid_amount"


def test_the_budget_cannot_drop_below_what_is_allocated(tree, campaign):
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=D("1000.00"), on=date(2026, 1, 2), actor=None
    )
    with pytest.raises(Conflict):
        care_campaign_budget_set(campaign=campaign, budget=D("999.99"), actor=None, reason="压缩")
    care_campaign_budget_set(campaign=campaign, budget=D("1000.00"), actor=None, reason="压缩")
    assert selectors.campaign_summary(campaign=campaign).unallocated == D("0.00")


def test_cancelling_a_visit_books_reversals_and_returns_the_money(tree, campaign):
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=D("500.00"), on=date(2026, 1, 2), actor=None
    )
    visit = care_visit_record(
        campaign=campaign,
        org=tree.u1,
        visited_on=date(2026, 1, 3),
        place="邮政支行",
        beneficiaries=[frontline("300.00")],
        actor=None,
    )
    care_visit_cancel(visit=visit, actor=None, reason="重复登记")
    summary = selectors.campaign_summary(campaign=campaign)
    assert (summary.allocated, summary.spent) == (D("500.00"), D("0.00"))
    amounts = sorted(
        CareLedgerEntry.objects.filter(kind=EntryKind.SPENDING).values_list("amount", flat=True)
    )
    assert amounts == [D("-300.00"), D("300.00")]
    with pytest.raises(Conflict):
        care_visit_cancel(visit=visit, actor=None, reason="again")


def test_sums_are_exact_to_the_fen_on_every_database(tree, campaign):
    """SQLite adds DECIMAL columns as floating point (2.00 + 2.01 - 2.00 = 2.0099999999999998):
    the summary sums whole fen instead."""
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=D("5.00"), on=date(2026, 1, 2), actor=None
    )
    visits = [
        care_visit_record(
            campaign=campaign,
            org=tree.u1,
            visited_on=date(2026, 1, 3),
            place="邮政支行",
            beneficiaries=[frontline(amount)],
            actor=None,
        )
        for amount in ("2.00", "2.01")
    ]
    care_visit_cancel(visit=visits[0], actor=None, reason="重复登记")
    summary = selectors.campaign_summary(campaign=campaign)
    assert (summary.allocated, summary.spent) == (D("5.00"), D("2.01"))
    assert str(summary.spent) == "2.01" and str(summary.orgs[0].funds.balance) == "2.99"
    assert selectors.spending_total(campaign=campaign) == D("2.01")


def test_spent_allocations_cannot_be_reversed(tree, campaign):
    allocation = care_allocation_create(
        campaign=campaign, org=tree.u1, amount=D("500.00"), on=date(2026, 1, 2), actor=None
    )
    care_visit_record(
        campaign=campaign,
        org=tree.u1,
        visited_on=date(2026, 1, 3),
        place="x",
        beneficiaries=[frontline("0.01")],
        actor=None,
    )
    with pytest.raises(Conflict) as info:
        care_entry_reverse(entry=allocation, actor=None, reason="收回")
    assert info.value.code == "allocation_spent"


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("allocate"),
            st.sampled_from(["u1", "u2", "xicheng"]),
            st.decimals(min_value=D("0.01"), max_value=D("150000"), places=2),
        ),
        st.tuples(
            st.just("visit"),
            st.sampled_from(["u1", "u2", "xicheng"]),
            st.decimals(min_value=D("0.01"), max_value=D("60000"), places=2),
        ),
        st.tuples(st.just("reverse"), st.integers(0, 50), st.just(D("0"))),
        st.tuples(st.just("cancel"), st.integers(0, 50), st.just(D("0"))),
    ),
    max_size=25,
)


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_money_in_equals_money_out(tree, ops):
    """Whatever is attempted: allocations never exceed the budget, no organisation spends more
    than it was allocated, and spending equals what the live visits handed out."""
    try:
        with transaction.atomic():
            campaign = care_campaign_create(
                actor=None,
                code="P",
                title="p",
                org=tree.xicheng,
                budget=D("300000.00"),
                starts_on=date(2026, 1, 1),
            )
            orgs = {"u1": tree.u1, "u2": tree.u2, "xicheng": tree.xicheng}
            for op, target, amount in ops:
                try:
                    if op == "allocate":
                        care_allocation_create(
                            campaign=campaign,
                            org=orgs[target],
                            amount=amount,
                            on=date(2026, 1, 2),
                            actor=None,
                        )
                    elif op == "visit":
                        care_visit_record(
                            campaign=campaign,
                            org=orgs[target],
                            visited_on=date(2026, 1, 3),
                            place="x",
                            beneficiaries=[frontline(str(amount))],
                            actor=None,
                        )
                    else:
                        entries = list(
                            CareLedgerEntry.objects.filter(reverses__isnull=True).order_by("id")
                        )
                        if not entries:
                            continue
                        entry = entries[target % len(entries)]
                        if op == "reverse":
                            care_entry_reverse(entry=entry, actor=None, reason="更正")
                        elif entry.visit is not None:
                            care_visit_cancel(visit=entry.visit, actor=None, reason="撤销")
                except (Conflict, DomainError):
                    pass
            summary = selectors.campaign_summary(campaign=campaign)
            assert D("0") <= summary.allocated <= summary.budget
            for line in summary.orgs:
                assert D("0") <= line.funds.spent <= line.funds.allocated
            live = CareBeneficiary.objects.filter(visit__cancelled_at__isnull=True)
            handed_out = sum((b.cash + b.goods_value for b in live), D("0.00"))
            reversed_live = sum(
                (
                    e.amount
                    for e in CareLedgerEntry.objects.filter(
                        kind=EntryKind.SPENDING,
                        reverses__isnull=False,
                        visit__cancelled_at__isnull=True,
                    )
                ),
                D("0.00"),
            )
            assert summary.spent == handed_out + reversed_live
            raise _Rollback
    except _Rollback:
        pass
