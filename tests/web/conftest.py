"""Fixtures for the member pages and the console: a card-holding member with a login, an
activity, a plan with an enrolment and claims, logged-in clients."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huzhu.accounts.models import Role, User
from huzhu.members.logins import member_login
from huzhu.members.models import Member
from huzhu.members.services import card_issue
from huzhu.protection.models import (
    Claim,
    ClaimSource,
    ClaimState,
    Enrollment,
    EntryKind,
    LedgerEntry,
    Plan,
    PlanVersion,
)


@pytest.fixture
def member(tree: Any, make_member: Callable[..., Member]) -> Member:
    m = make_member(tree.u1, name="李四", phone="13812345678")
    card_issue(member=m, card_no="HZ00000001")
    return m


@pytest.fixture
def member_user(member: Member) -> User:
    return member_login(member=member)


@pytest.fixture
def member_client(member_user: User) -> Client:
    client = Client()
    client.force_login(member_user)
    return client


@pytest.fixture
def staff_client(db: Any) -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def make_plan_with_claims(member: Member) -> dict[str, Any]:
    """An inpatient plan this year, the member enrolled, one paid settlement claim and one paid
    nothing because of the deductible."""
    year = timezone.localdate().year
    plan = Plan.objects.create(code="ZY", name="在职职工住院医疗互助保障计划", benefit="inpatient")
    version = PlanVersion.objects.create(
        plan=plan,
        period_start=date(year, 1, 1),
        period_end=date(year, 12, 31),
        contribution=Decimal("60.00"),
        waiting_days=90,
        terms={"deductible": "1000.00", "cap": "50000.00", "bands": [{"ratio": "0.50"}]},
    )
    Enrollment.objects.create(
        member=member, version=version, unit=member.unit, payer="unit", amount=Decimal("60.00")
    )
    paid = Claim.objects.create(
        source=ClaimSource.SETTLEMENT,
        state=ClaimState.APPROVED,
        member=member,
        version=version,
        plan_code="ZY",
        base_amount=Decimal("3000.00"),
        target=Decimal("1000.00"),
    )
    LedgerEntry.objects.create(
        claim=paid, member=member, kind=EntryKind.PAYOUT, amount=Decimal("1000.00")
    )
    nothing = Claim.objects.create(
        source=ClaimSource.SETTLEMENT,
        state=ClaimState.APPROVED,
        member=member,
        version=version,
        plan_code="ZY",
        reason="BELOW_DEDUCTIBLE",
    )
    return {"plan": plan, "version": version, "paid": paid, "nothing": nothing}


def make_care_campaign(tree: Any) -> Any:
    """A district's care campaign with an allocation to U1, and a visit of U1 that handed out
    cash and goods (a cancelled one too), so that every table of its page has rows."""
    from huzhu.care.services import (
        BeneficiaryIn,
        care_allocation_create,
        care_campaign_create,
        care_visit_cancel,
        care_visit_record,
    )

    today = timezone.localdate()
    campaign = care_campaign_create(
        actor=None,
        code="LJ2026",
        title="两节慰问",
        org=tree.xicheng,
        budget=Decimal("5000.00"),
        starts_on=today.replace(day=1),
    )
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=Decimal("2000.00"), on=today, actor=None
    )
    line = BeneficiaryIn(
        kind="frontline",
        name="环卫工人",
        headcount=3,
        cash=Decimal("300.00"),
        goods="米面油",
        goods_quantity=3,
        goods_value=Decimal("150.00"),
    )
    for _ in range(2):
        visit = care_visit_record(
            campaign=campaign,
            org=tree.u1,
            visited_on=today,
            place="白塔寺环卫站",
            beneficiaries=[line],
            actor=None,
        )
    care_visit_cancel(visit=visit, actor=None, reason="录重了")
    return campaign


@pytest.fixture
def staff(tree: Any, make_staff: Callable[..., User]) -> Callable[[str, Any], User]:
    def make(role: str = Role.DISTRICT_ADMIN, org: Any = None) -> User:
        return make_staff(role, org or tree.xicheng)

    return make


@pytest.fixture
def enrolled(tree: Any, make_member: Any) -> str:
    """A member enrolled in ZY 2025 and 2026 (so no waiting period); its ID number."""
    from huzhu.protection.enrollments import enrollments_import
    from huzhu.protection.plans import plan_load_toml
    from tests.conftest import new_id_number
    from tests.settlement.test_import import JT, ZY, ZY_2025

    for doc in (ZY_2025, ZY, JT):
        plan_load_toml(doc, file="plan.toml")
    number = new_id_number()
    make_member(tree.u1, id_number=number)
    enrollments_import(
        f"id_number,plan_code,period_start\n{number},ZY,2025-01-01\n{number},ZY,2026-01-01\n".encode(),
        file="e.csv",
    )
    return number
