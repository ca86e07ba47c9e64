"""Payout summaries equal a recount of the ledger after any sequence of settlement imports,
reversals and direct ledger writes (payouts, adjustments, clawbacks)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from unittest import mock

from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.core.bulk import bulk_insert
from huzhu.protection.models import Claim, ClaimSource, ClaimState, LedgerEntry, PlanVersion
from huzhu.reports.models import ClaimBalance, PayoutSummary
from huzhu.reports.services import (
    month_of,
    summaries_apply_entries,
    summaries_apply_entry,
    summaries_differences,
    summaries_recount,
    summaries_stored,
)
from huzhu.settlement.services import settlements_import
from tests.settlement.test_import import file, row

# Clocks on both sides of Shanghai month ends: 2026-03-31 23:59:59 and 2026-04-01 00:00 local.
CLOCKS = [
    datetime(2026, 3, 31, 15, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 31, 16, 0, tzinfo=UTC),
    datetime(2026, 4, 30, 16, 0, tzinfo=UTC),
    datetime(2026, 6, 15, 2, 0, tzinfo=UTC),
]


def at(clock: datetime) -> mock._patch:  # type: ignore[type-arg]
    return mock.patch("django.utils.timezone.now", return_value=clock)


def test_month_is_taken_in_shanghai():
    assert month_of(CLOCKS[0]) == date(2026, 3, 1)
    assert month_of(CLOCKS[1]) == date(2026, 4, 1)


def _by_month_and_plan():
    return {
        (s.month, s.plan_code): (s.amount, s.entries, s.persons)
        for s in PayoutSummary.objects.all()
    }


def test_a_reversal_next_month_takes_the_person_time_out_of_the_first_month(people):
    with at(CLOCKS[0]):  # 23:59:59.999999 on 31 March in Beijing
        settlements_import(file(row("S1", people[0], "2026-03-01", "12000.00")), file="a.csv")
    # ZY pays 5600.00 (see the settlement tests), JT 50.00 for one day in hospital.
    assert _by_month_and_plan() == {
        (date(2026, 3, 1), "ZY"): (Decimal("5600.00"), 1, 1),
        (date(2026, 3, 1), "JT"): (Decimal("50.00"), 1, 1),
    }
    with at(CLOCKS[1]):  # a microsecond later: April in Beijing
        settlements_import(
            file(row("R1", people[0], "2026-03-01", "0", reverses="S1")), file="b.csv"
        )
    assert _by_month_and_plan() == {
        (date(2026, 3, 1), "ZY"): (Decimal("5600.00"), 1, 0),
        (date(2026, 3, 1), "JT"): (Decimal("50.00"), 1, 0),
        (date(2026, 4, 1), "ZY"): (Decimal("-5600.00"), 1, 0),
        (date(2026, 4, 1), "JT"): (Decimal("-50.00"), 1, 0),
    }
    assert summaries_differences() == []


def test_an_adjustment_does_not_count_the_person_again(people):
    with at(CLOCKS[0]):
        settlements_import(file(row("S1", people[0], "2026-03-01", "5000.00")), file="a.csv")
    claim = Claim.objects.filter(plan_code="ZY").order_by("id").first()
    _direct_write(claim, 1234, CLOCKS[3], orm=True)
    zy = {k: v for k, v in _by_month_and_plan().items() if k[1] == "ZY"}
    assert zy[(date(2026, 3, 1), "ZY")][2] == 1
    assert zy[(date(2026, 6, 1), "ZY")] == (Decimal("12.34"), 1, 0)
    assert summaries_differences() == []


def test_summary_unit_is_the_enrolment_unit_after_the_member_moves(people, tree, make_member):
    settlements_import(file(row("S1", people[0], "2026-03-01", "12000.00")), file="a.csv")
    make_member(tree.u3, id_number=people[0])  # moves to another district's union
    settlements_import(file(row("S2", people[0], "2026-05-01", "3000.00")), file="b.csv")
    units = set(PayoutSummary.objects.filter(plan_code="ZY").values_list("unit_id", flat=True))
    assert units == {tree.u1.pk}
    assert summaries_differences() == []


def test_a_forgotten_write_is_found_and_recount_repairs_it(people):
    settlements_import(file(row("S1", people[1], "2026-03-01", "12000.00")), file="a.csv")
    claim = Claim.objects.filter(plan_code="ZY").get()
    LedgerEntry.objects.create(claim=claim, member=claim.member, kind="clawback", amount="-1.00")
    assert [d.table for d in summaries_differences()] == [
        "payout_summary",
        "payout_year_summary",
        "claim_balance",
    ]
    summaries_recount()
    assert summaries_differences() == []


def _direct_write(claim: Claim, fen: int, clock: datetime, orm: bool) -> None:
    amount = Decimal(fen) / 100
    kind = "adjustment" if fen > 0 else "clawback"
    if orm:
        with at(clock):
            entry = LedgerEntry.objects.create(
                claim=claim, member=claim.member, kind=kind, amount=amount
            )
        summaries_apply_entry(entry)
    else:
        # As the bulk writers do: the adapted values go to both the table and the summaries.
        stamp = connection.ops.adapt_datetimefield_value(clock)
        value = connection.ops.adapt_decimalfield_value(amount, 14, 2)
        rows = [(claim.pk, claim.member_id, kind, value, stamp, "t", "")] * 2
        bulk_insert(
            LedgerEntry._meta.db_table,
            ["claim_id", "member_id", "kind", "amount", "created_at", "batch", "memo"],
            rows,
        )
        summaries_apply_entries([(r[0], r[3], r[4]) for r in rows])


def _application_claim(member_index: int, people: list[str]) -> Claim:
    from huzhu.members.models import Member

    member = Member.objects.order_by("id")[member_index]
    version = PlanVersion.objects.get(plan__code="JT", period_start=date(2026, 1, 1))
    return Claim.objects.create(
        source=ClaimSource.APPLICATION,
        state=ClaimState.APPROVED,
        member=member,
        version=version,
        plan_code="JT",
    )


imports = st.tuples(
    st.just("import"),
    st.sampled_from(range(len(CLOCKS))),
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from(["800.00", "5000.00", "12000.00", "60000.00"]),
            st.sampled_from(["2025-06-01", "2026-02-01", "2026-03-01"]),
        ),
        min_size=1,
        max_size=3,
    ),
    st.lists(st.integers(0, 50), max_size=2),  # which earlier settlements to reverse
)
writes = st.tuples(
    st.just("write"),
    st.sampled_from(range(len(CLOCKS))),
    st.integers(0, 50),  # which claim (of those there are)
    st.integers(-30000, 30000).filter(bool),  # fen: adjustments and clawbacks, to zero and below
    st.booleans(),  # through the ORM, or in bulk
)
applications = st.tuples(st.just("application"), st.integers(0, 2))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.one_of(imports, writes, applications), min_size=1, max_size=8))
def test_summaries_equal_a_recount_after_any_sequence(people, steps):
    sid = transaction.savepoint()
    try:
        serial = 0
        live: list[tuple[str, str]] = []  # settlement id, id number: not reversed yet
        for step in steps:
            if step[0] == "import":
                _, clock, new, reverse = step
                lines = []
                for member, amount, admitted in new:
                    serial += 1
                    lines.append(row(f"S{serial}", people[member], admitted, amount))
                    live.append((f"S{serial}", people[member]))
                for pick in reverse:
                    if live:
                        target, number = live.pop(pick % len(live))
                        serial += 1
                        lines.append(row(f"R{serial}", number, "2026-01-01", "0", reverses=target))
                with at(CLOCKS[clock]):
                    settlements_import(file(*lines), file=f"f{serial}.csv")
            elif step[0] == "application":
                _application_claim(step[1], people)
            else:
                _, clock, pick, fen, orm = step
                claims = list(Claim.objects.filter(member__isnull=False).order_by("id"))
                if claims:
                    _direct_write(claims[pick % len(claims)], fen, CLOCKS[clock], orm)
        assert summaries_differences() == []
        # Person-times over all months = claims whose net is above zero now.
        positive = ClaimBalance.objects.filter(net_fen__gt=0).count()
        assert sum(v[2] for v in summaries_stored()[0].values()) == positive
        stored = summaries_stored()
        summaries_recount()
        assert summaries_stored() == stored
    finally:
        transaction.savepoint_rollback(sid)
