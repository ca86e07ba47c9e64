"""The claims review in a real browser: a reviewer opens the queue, opens a claim under review,
approves it with an amount and sees it approved; screenshots of the queue and the claim."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from huzhu.accounts.models import Role
from huzhu.protection.filing import claim_file
from huzhu.protection.models import Claim, ClaimState, Enrollment, LedgerEntry
from huzhu.protection.plans import plan_load_toml
from huzhu.protection.services import claim_accept, claim_review
from tests.protection.conftest import ZY
from tests.protection.factories import a_stay
from tests.web.browser.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    every_field_labelled,
    no_horizontal_scroll,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _shoot(page: Any, name: str, viewport: dict[str, int]) -> None:
    page.wait_for_load_state("networkidle")
    every_field_labelled(page)
    if viewport is PHONE:
        no_horizontal_scroll(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{viewport['width']}.png"), full_page=True)


def test_reviewer_approves_a_claim_from_the_queue(
    open_page, live_server, tree, make_member, make_staff, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    version, _ = plan_load_toml(ZY, file="zy.toml")
    member = make_member(tree.u1, name="王五")
    Enrollment.objects.create(
        member=member,
        version=version,
        unit=member.unit,
        amount=version.contribution,
        payer=version.payer,
    )
    claim = claim_file(
        actor=make_staff(Role.UNIT_ADMIN, tree.u1),
        member=member,
        version=version,
        stay=a_stay(date(2026, 5, 1)),
        requested="5000.00",
        description="住院治疗，已附发票",
    )
    reviewer = make_staff(Role.REVIEWER, tree.xicheng)
    claim_accept(actor=reviewer, claim=claim)
    claim_review(actor=reviewer, claim=claim)

    page = open_page(PHONE, user=reviewer)
    page.goto(live_server.url + "/console/claims/")
    _shoot(page, "console-claims", PHONE)

    page = open_page(DESKTOP, user=reviewer)
    page.goto(live_server.url + "/console/claims/")
    _shoot(page, "console-claims", DESKTOP)
    page.get_by_role("link", name="王五").click()
    page.wait_for_selector('#claim-state[data-state="under_review"]')
    assert member.id_masked in page.locator("dl.facts").inner_text()
    _shoot(page, "console-claim", DESKTOP)

    page.get_by_label("核定金额（元，不超过申请金额和按规则核定的金额）").fill("4200.00")
    page.get_by_label("批准原因").select_option("partly_meets_terms")
    page.get_by_role("button", name="批准", exact=True).click()
    page.wait_for_selector('#claim-state[data-state="approved"]')
    assert page.locator("#claim-state").inner_text() == "已批准"
    assert "4200.00" in page.locator("table.entries").inner_text()

    claim.refresh_from_db()
    assert claim.state == ClaimState.APPROVED and claim.target == Decimal("4200.00")
    assert LedgerEntry.objects.get(claim=claim).amount == Decimal("4200.00")
    assert Claim.objects.filter(state=ClaimState.UNDER_REVIEW).count() == 0
