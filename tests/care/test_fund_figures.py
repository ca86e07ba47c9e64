"""The care fund figures behind the statistics (慰问资金与预算): a campaign's ledger summed per
organisation by the database's triggers as entries are booked, so that they always equal the
ledger, and the statistic read from them equals the one summed campaign by campaign from the
ledger, for every viewer and year: a campaign run inside the viewer's subtree with all its
money, one run above it with only the subtree's share (`partial`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huzhu.accounts.models import Role
from huzhu.care.figures import FUND_FIGURES
from huzhu.care.models import CareFundFigures, CareLedgerEntry
from huzhu.care.services import (
    BeneficiaryIn,
    care_allocation_create,
    care_campaign_budget_set,
    care_campaign_create,
    care_entry_reverse,
    care_visit_cancel,
    care_visit_record,
)
from huzhu.reports.recounts import care_funds_recounted
from huzhu.reports.selectors import care_funds

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewers(tree, make_staff):
    return [
        make_staff(Role.CITY_ADMIN, tree.city),
        make_staff(Role.DISTRICT_ADMIN, tree.xicheng),
        make_staff(Role.UNIT_ADMIN, tree.u1),
    ]


def _equal_to_a_recount(viewers) -> None:
    assert FUND_FIGURES.stored() == FUND_FIGURES.recounted()
    for user in viewers:
        for year in (None, 2025, 2026):
            figures = care_funds(user=user, year=year)
            assert figures.rows == care_funds_recounted(user=user, year=year).rows


def _visit(campaign, org, cash: str):
    return care_visit_record(
        campaign=campaign, org=org, visited_on=date(2026, 1, 3), place="邮政支行",
        beneficiaries=[BeneficiaryIn(kind="frontline", name="投递员", cash=Decimal(cash))],
        actor=None,
    )  # fmt: skip


def test_allocations_spending_reversals_cancelled_visits_and_budgets(tree, viewers):
    city = care_campaign_create(
        actor=None, code="C1", title="寒冬送暖", org=tree.city, budget=Decimal("1000.00"),
        starts_on=date(2026, 1, 1),
    )  # fmt: skip
    unit = care_campaign_create(
        actor=None, code="C2", title="两节慰问", org=tree.u1, budget=Decimal("0.00"),
        starts_on=date(2025, 12, 20),
    )  # fmt: skip
    _equal_to_a_recount(viewers)  # no money yet
    for org, amount in ((tree.u1, "300.00"), (tree.u2, "0.05"), (tree.u3, "200.00")):
        care_allocation_create(
            campaign=city, org=org, amount=Decimal(amount), on=date(2026, 1, 2), actor=None
        )
    kept = _visit(city, tree.u1, "120.50")
    mistaken = _visit(city, tree.u1, "9.99")
    _equal_to_a_recount(viewers)
    care_visit_cancel(visit=mistaken, actor=None, reason="记错了")
    to_u2 = CareLedgerEntry.objects.get(org=tree.u2)
    care_entry_reverse(entry=to_u2, actor=None, reason="拨错了")
    care_campaign_budget_set(campaign=city, budget=Decimal("800.00"), actor=None, reason="调整")
    care_campaign_budget_set(campaign=unit, budget=Decimal("50.00"), actor=None, reason="追加")
    care_allocation_create(
        campaign=unit, org=tree.u1, amount=Decimal("50.00"), on=date(2026, 1, 2), actor=None
    )
    _equal_to_a_recount(viewers)
    by_code = {r[0]: r[2:] for r in care_funds(user=viewers[1]).rows}  # 西城
    assert by_code["C1"] == (
        Decimal("800.00"), Decimal("300.00"), Decimal("120.50"), Decimal("0.1506"), "是"
    )  # fmt: skip
    assert by_code["C2"] == (Decimal("50.00"), Decimal("50.00"), Decimal("0.00"), 0, "否")
    assert kept.cancelled_at is None


def test_a_figure_written_past_the_triggers_is_a_difference_a_recount_mends(tree):
    from huzhu.reports.services import summaries_differences, summaries_recount

    campaign = care_campaign_create(
        actor=None, code="C1", title="寒冬送暖", org=tree.city, budget=Decimal("10.00"),
        starts_on=date(2026, 1, 1),
    )  # fmt: skip
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=Decimal("3.00"), on=date(2026, 1, 2), actor=None
    )
    assert summaries_differences() == []
    CareFundFigures.objects.update(spent_fen=1)
    assert [d.table for d in summaries_differences()] == ["care_fund_figures"]
    summaries_recount()
    assert summaries_differences() == []
