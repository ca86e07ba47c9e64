"""A care campaign held by someone else makes a change answer busy after a short wait, never
hang (issue 15: the care service caught a lock timeout it never set)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest

from huzhu.care.services import care_campaign_budget_set, care_campaign_create
from huzhu.core.errors import Busy
from tests.faults import second_connection


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_campaign_locked_elsewhere_answers_busy_within_seconds(tree, empty_append_only_tables):
    campaign = care_campaign_create(
        actor=None,
        code="LOCK",
        title="寒冬送暖",
        org=tree.xicheng,
        budget=Decimal("1000.00"),
        starts_on=date(2026, 1, 1),
    )
    with second_connection(autocommit=False) as other:
        other.execute("SELECT 1 FROM care_carecampaign WHERE id = %s FOR UPDATE", [campaign.pk])
        started = time.monotonic()
        with pytest.raises(Busy):
            care_campaign_budget_set(
                campaign=campaign, budget=Decimal("2000.00"), actor=None, reason="追加预算"
            )
        assert time.monotonic() - started < 10
        other.rollback()
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("1000.00")
