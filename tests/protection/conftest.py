"""Fixtures for claims and payments: a plan version, enrolled members with cards and phones,
the staff of each role, and SMS collected in memory."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from huzhu.accounts.models import Role
from huzhu.core import sms
from huzhu.members.services import card_issue
from huzhu.protection.filing import claim_file
from huzhu.protection.models import Enrollment, PlanVersion
from huzhu.protection.plans import plan_load_toml
from huzhu.protection.services import claim_accept, claim_approve, claim_review
from tests.protection.factories import a_stay

ZY = """
code = "ZY"
name = "住院医疗"
benefit = "inpatient"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "60.00"
waiting_days = 90
[inpatient]
deductible = "1000.00"
cap = "50000.00"
bands = [ { upto = "10000.00", ratio = "0.50" }, { ratio = "0.60" } ]
""".encode()

_cards = iter(range(6222_0000_0000_0001, 6222_0000_9999_9999))


@pytest.fixture(autouse=True)
def sms_outbox(settings: Any) -> list[sms.Sms]:
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.MemoryBackend"
    # These tests make many logins; Argon2 would spend most of their time hashing passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    sms.outbox.clear()
    return sms.outbox


@pytest.fixture
def zy(db: Any) -> PlanVersion:
    version, _ = plan_load_toml(ZY, file="zy.toml")
    return version


@pytest.fixture
def enrol(zy: PlanVersion) -> Any:
    def do(member: Any, version: PlanVersion | None = None) -> Enrollment:
        v = version or zy
        return Enrollment.objects.create(
            member=member, version=v, unit=member.unit, amount=v.contribution, payer=v.payer
        )

    return do


@pytest.fixture
def insured(tree: Any, make_member: Any, enrol: Any) -> Any:
    """A member of U1 (西城) enrolled in ZY 2026, with an active card and a phone."""
    member = make_member(tree.u1, name="李四", phone="13812345678")
    enrol(member)
    card_issue(member=member, card_no=str(next(_cards)))
    return member


@pytest.fixture
def new_card() -> Any:
    return lambda member: card_issue(member=member, card_no=str(next(_cards)))


@pytest.fixture
def unit_admin(tree: Any, make_staff: Any) -> Any:
    return make_staff(Role.UNIT_ADMIN, tree.u1)


@pytest.fixture
def reviewer(tree: Any, make_staff: Any) -> Any:
    return make_staff(Role.REVIEWER, tree.xicheng)


@pytest.fixture
def file_claim(unit_admin: Any, zy: PlanVersion) -> Any:
    def do(member: Any, requested: str = "3000.00", **kw: Any) -> Any:
        return claim_file(
            actor=kw.pop("actor", unit_admin),
            member=member,
            version=kw.pop("version", zy),
            stay=kw.pop("stay", None) or a_stay(kw.pop("event_date", None)),
            requested=requested,
            description=kw.pop("description", "住院手术"),
            **kw,
        )

    return do


@pytest.fixture
def approved_claim(file_claim: Any, reviewer: Any) -> Any:
    """File, accept, review and approve a claim for `member` of `amount`."""

    def do(member: Any, amount: str = "1000.00", requested: str | None = None, **kw: Any) -> Any:
        claim = file_claim(member, requested or amount, **kw)
        claim = claim_accept(actor=reviewer, claim=claim)
        claim = claim_review(actor=reviewer, claim=claim)
        return claim_approve(actor=reviewer, claim=claim, amount=Decimal(amount))

    return do
