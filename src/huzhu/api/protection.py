"""Plans, enrolments and a member's own payouts (claims: `api.claims`, payment runs:
`api.payments`). Amounts are strings of yuan with two decimals (never floats); staff see their
subtree only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from ninja import Router, Schema, Status

from huzhu.accounts.models import User
from huzhu.accounts.policy import ROSTER_ROLES
from huzhu.core.bounds import Day, Year
from huzhu.core.errors import Forbidden, NotFound
from huzhu.members.models import Organisation
from huzhu.members.selectors import orgs_visible_to
from huzhu.protection import selectors, unit_enrolment
from huzhu.protection.models import (
    Plan,
    PlanVersion,
)
from huzhu.protection.plans import plan_version_update

router = Router(tags=["protection"])


def actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def money_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


# -- plans ----------------------------------------------------------------------------------------


class VersionOut(Schema):
    plan_code: str
    period_start: dt.date
    period_end: dt.date
    contribution: str
    payer: str
    waiting_days: int
    terms: dict[str, Any]
    review_above: str | None
    frozen: bool
    frozen_at: dt.datetime | None

    @staticmethod
    def resolve_plan_code(obj: PlanVersion) -> str:
        return obj.plan.code

    @staticmethod
    def resolve_review_above(obj: PlanVersion) -> str | None:
        return None if obj.review_above is None else f"{obj.review_above:.2f}"

    @staticmethod
    def resolve_contribution(obj: PlanVersion) -> str:
        return f"{obj.contribution:.2f}"

    @staticmethod
    def resolve_frozen(obj: PlanVersion) -> bool:
        return obj.frozen_at is not None


class PlanOut(Schema):
    code: str
    name: str
    benefit: str
    versions: list[VersionOut]

    @staticmethod
    def resolve_versions(obj: Plan) -> list[PlanVersion]:
        return list(obj.versions.all())


class VersionPatch(Schema):
    period_end: Day | None = None
    contribution: str | None = None
    payer: str | None = None
    waiting_days: int | None = None
    terms: dict[str, Any] | None = None
    review_above: str | None = None  # null removes it


def _plans() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related("versions__plan").order_by("code")


def plan_version(code: str, period_start: dt.date) -> PlanVersion:
    version = (
        PlanVersion.objects.select_related("plan")
        .filter(plan__code=code, period_start=period_start)
        .first()
    )
    if version is None:
        raise NotFound(
            pgettext("未找到", "计划 %(code)s 从 %(start)s 开始的版本")
            % {"code": code, "start": period_start}
        )
    return version


@router.get("/plans", response=list[PlanOut])
def list_plans(request: HttpRequest) -> QuerySet[Plan]:
    return _plans()


@router.get("/plans/{code}", response=PlanOut)
def get_plan(request: HttpRequest, code: str) -> Plan:
    plan = _plans().filter(code=code).first()
    if plan is None:
        raise NotFound(pgettext("未找到", "计划 %(code)s") % {"code": code})
    return plan


@router.get("/plans/{code}/versions/{period_start}", response=VersionOut)
def get_version(request: HttpRequest, code: str, period_start: dt.date) -> PlanVersion:
    return plan_version(code, period_start)


@router.patch("/plans/{code}/versions/{period_start}", response=VersionOut)
def update_version(
    request: HttpRequest, code: str, period_start: dt.date, body: VersionPatch
) -> PlanVersion:
    """City staff change a version until its first payout; a frozen one answers 409."""
    given = body.dict(exclude_unset=True)
    clear = "review_above" in given and given["review_above"] is None
    return plan_version_update(
        actor=actor(request),
        version=plan_version(code, period_start),
        clear_review=clear,
        **{k: v for k, v in given.items() if v is not None},
    )


# -- enrolments -----------------------------------------------------------------------------------


class UnitEnrolIn(Schema):
    plan_code: str
    period_start: dt.date
    paid_on: dt.date | None = None


class UnitEnrolOut(Schema):
    unit_code: str
    plan_code: str
    period_start: dt.date
    created: int
    already_enrolled: int


class ContributionOut(Schema):
    plan_code: str
    period_start: dt.date
    payer: str
    members: int
    total: str


def _org(request: HttpRequest, code: str) -> Organisation:
    org = orgs_visible_to(actor(request)).filter(code=code).first()
    if org is None:
        raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": code})
    return org


@router.post("/units/{code}/enrollments", response={201: UnitEnrolOut})
def enrol_unit(request: HttpRequest, code: str, body: UnitEnrolIn) -> Status[dict[str, Any]]:
    """Enrol every active member of the unit not yet enrolled in the version."""
    result = unit_enrolment.enrollment_create_for_unit(
        actor=actor(request),
        unit=_org(request, code),
        version=plan_version(body.plan_code, body.period_start),
        paid_on=body.paid_on,
    )
    return Status(
        201,
        {
            "unit_code": result.unit.code,
            "plan_code": result.version.plan.code,
            "period_start": result.version.period_start,
            "created": result.created,
            "already_enrolled": result.already,
        },
    )


@router.get("/units/{code}/contributions", response=list[ContributionOut])
def unit_contributions(request: HttpRequest, code: str, year: Year) -> list[dict[str, Any]]:
    """The unit's contribution statement: per plan version of the year, members and total
    (for the admins who keep rosters and pay contributions, as on the console page)."""
    if actor(request).role not in ROSTER_ROLES:
        raise Forbidden("forbidden", _("您的角色不能查看缴费明细"))
    unit = _org(request, code)
    return [
        {
            "plan_code": r["version__plan__code"],
            "period_start": r["version__period_start"],
            "payer": r["payer"],
            "members": r["members"],
            "total": f"{Decimal(str(r['total'] or 0)):.2f}",
        }
        for r in selectors.contribution_statement(unit.pk, year)
    ]


# -- a member's own -------------------------------------------------------------------------------


class MyClaimOut(Schema):
    id: int
    source: str
    state: str
    state_label: str
    plan_code: str
    plan_name: str
    event_date: dt.date | None
    requested: str | None
    amount: str
    paid: str
    reason_code: str
    reason: str


class MyPayoutOut(Schema):
    reference: str
    amount: str
    state: str
    card_last4: str
    settled_at: dt.datetime | None


class MyClaimsOut(Schema):
    claims: list[MyClaimOut]
    payouts: list[MyPayoutOut]


@router.get("/me/claims", response=MyClaimsOut)
def my_claims(request: HttpRequest) -> dict[str, Any]:
    """A member's own claims and transfers, each amount with its reason in plain words."""
    data = selectors.member_claims(actor(request))
    for c in data["claims"]:
        c["state_label"] = str(c["state_label"])
        c["requested"] = money_text(c["requested"])
        c["amount"] = f"{c['amount']:.2f}"
        c["paid"] = f"{c['paid']:.2f}"
    for p in data["payouts"]:
        p["amount"] = f"{p['amount']:.2f}"
    return data
