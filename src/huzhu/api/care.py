"""Care campaigns, their money, visits and labour models. Amounts are strings of yuan with at most
two decimals, at most 99,999,999.99 (never floats, never JSON numbers), dates lie from 1900 to
2099, counts from 0 to 1,000,000 (core.bounds); every endpoint is scoped to the caller's
subtree."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import pgettext
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from huzhu.accounts.models import User
from huzhu.api.pagination import Paged, Rendered
from huzhu.care import selectors, services
from huzhu.care.models import CareBeneficiary, CareCampaign, CareLedgerEntry, CareVisit, LabourModel
from huzhu.core.bounds import Day, MoneyOrZeroText, MoneyText, Quota, Year
from huzhu.core.errors import NotFound
from huzhu.members.models import Organisation
from huzhu.members.selectors import members_visible_to, orgs_visible_to

router = Router(tags=["care"])


def actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _org(request: HttpRequest, code: str) -> Organisation:
    selectors.care_scope_path(actor(request))
    org = orgs_visible_to(actor(request)).filter(code=code).first()
    if org is None:
        raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": code})
    return org


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


class OrgFundsOut(Schema):
    org_code: str
    org_name: str
    allocated: str
    spent: str
    balance: str


class CampaignOut(Schema):
    code: str
    title: str
    org_code: str
    starts_on: dt.date
    ends_on: dt.date | None
    description: str
    budget: str
    allocated: str
    unallocated: str
    spent: str
    balance: str
    partial: bool = Field(description="true when only your subtree's organisations are counted")
    orgs: list[OrgFundsOut]


def _campaign_out(request: HttpRequest, campaign: CareCampaign) -> dict[str, Any]:
    summary = selectors.campaign_summary(campaign=campaign, user=actor(request))
    return {
        "code": campaign.code,
        "title": campaign.title,
        "org_code": campaign.org.code,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "description": campaign.description,
        "budget": _money(summary.budget),
        "allocated": _money(summary.allocated),
        "unallocated": _money(summary.unallocated),
        "spent": _money(summary.spent),
        "balance": _money(summary.balance),
        "partial": summary.partial,
        "orgs": [
            {
                "org_code": line.org.code,
                "org_name": line.org.name,
                "allocated": _money(line.funds.allocated),
                "spent": _money(line.funds.spent),
                "balance": _money(line.funds.balance),
            }
            for line in summary.orgs
        ],
    }


class CampaignIn(Schema):
    code: str
    title: str = Field(max_length=200)
    org_code: str
    budget: MoneyOrZeroText
    starts_on: Day
    ends_on: Day | None = None
    description: str = ""


class BudgetIn(Schema):
    budget: MoneyOrZeroText
    reason: str


@router.get("/care/campaigns", response=list[CampaignOut])
@paginate(Paged)
def list_campaigns(request: HttpRequest) -> Rendered[dict[str, Any]]:
    qs = selectors.campaigns_visible_to(actor(request)).select_related("org")
    return Rendered(
        qs.order_by("-starts_on", "code"), lambda page: [_campaign_out(request, c) for c in page]
    )


@router.post("/care/campaigns", response={201: CampaignOut})
def create_campaign(request: HttpRequest, body: CampaignIn) -> Status[dict[str, Any]]:
    campaign = services.care_campaign_create(
        actor=actor(request),
        code=body.code,
        title=body.title,
        org=_org(request, body.org_code),
        budget=body.budget,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        description=body.description,
    )
    return Status(201, _campaign_out(request, campaign))


@router.get("/care/campaigns/{code}", response=CampaignOut)
def get_campaign(request: HttpRequest, code: str) -> dict[str, Any]:
    """The campaign with what it allocated and spent against its budget, per organisation."""
    return _campaign_out(request, selectors.campaign_get_visible(user=actor(request), code=code))


@router.put("/care/campaigns/{code}/budget", response=CampaignOut)
def set_budget(request: HttpRequest, code: str, body: BudgetIn) -> dict[str, Any]:
    campaign = selectors.campaign_get_visible(user=actor(request), code=code)
    services.care_campaign_budget_set(
        campaign=campaign, budget=body.budget, actor=actor(request), reason=body.reason
    )
    return _campaign_out(request, campaign)


class EntryOut(Schema):
    id: int
    campaign: str
    org_code: str
    kind: str
    amount: str
    occurred_on: dt.date
    payee: str
    memo: str
    visit_id: int | None
    reverses: int | None
    reversed_by: int | None


def _entry_out(entry: CareLedgerEntry, reversed_by: dict[int, int]) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "campaign": entry.campaign.code,
        "org_code": entry.org.code,
        "kind": entry.kind,
        "amount": _money(entry.amount),
        "occurred_on": entry.occurred_on,
        "payee": entry.payee,
        "memo": entry.memo,
        "visit_id": entry.visit_id,
        "reverses": entry.reverses_id,
        "reversed_by": reversed_by.get(entry.pk),
    }


class AllocationIn(Schema):
    org_code: str
    amount: MoneyText
    date: Day
    payee: str = Field("", max_length=200)
    memo: str = Field("", max_length=300)


@router.post("/care/campaigns/{code}/allocations", response={201: EntryOut})
def allocate(request: HttpRequest, code: str, body: AllocationIn) -> Status[dict[str, Any]]:
    """Allocate (拨付) budget to an organisation under the campaign's; 409 over_budget."""
    campaign = selectors.campaign_get_visible(user=actor(request), code=code)
    entry = services.care_allocation_create(
        campaign=campaign,
        org=_org(request, body.org_code),
        amount=body.amount,
        on=body.date,
        actor=actor(request),
        payee=body.payee,
        memo=body.memo,
    )
    return Status(201, _entry_out(entry, {}))


@router.get("/care/campaigns/{code}/entries", response=list[EntryOut])
@paginate(Paged)
def list_entries(request: HttpRequest, code: str) -> Rendered[dict[str, Any]]:
    """The campaign's ledger, as far as it concerns the caller's subtree, oldest first."""
    campaign = selectors.campaign_get_visible(user=actor(request), code=code)
    scope = selectors.care_scope_path(actor(request))
    entries = CareLedgerEntry.objects.filter(campaign=campaign, org__path__startswith=scope)

    def render(page: list[CareLedgerEntry]) -> list[dict[str, Any]]:
        reversed_by = dict(
            entries.filter(reverses__in=[e.pk for e in page]).values_list("reverses_id", "pk")
        )
        return [_entry_out(e, reversed_by) for e in page]

    return Rendered(entries.select_related("campaign", "org").order_by("id"), render)


class ReverseIn(Schema):
    reason: str


@router.post("/care/entries/{entry_id}/reverse", response={201: EntryOut})
def reverse_entry(request: HttpRequest, entry_id: int, body: ReverseIn) -> Status[dict[str, Any]]:
    scope = selectors.care_scope_path(actor(request))
    entry = (
        CareLedgerEntry.objects.select_related("campaign__org", "org")
        .filter(pk=entry_id, org__path__startswith=scope)
        .first()
    )
    if entry is None:
        raise NotFound(pgettext("未找到", "账目"))
    reversal = services.care_entry_reverse(entry=entry, actor=actor(request), reason=body.reason)
    return Status(201, _entry_out(reversal, {}))


class BeneficiaryIn(Schema):
    kind: str = Field(description="member | labour_model | frontline")
    member_id: int | None = None
    labour_model_id: int | None = None
    name: str = Field("", max_length=200)
    unit_name: str = Field("", max_length=200)
    headcount: Quota = 1
    cash: MoneyOrZeroText = Decimal("0.00")
    goods: str = Field("", max_length=200)
    goods_quantity: Quota = 0
    goods_value: MoneyOrZeroText = Decimal("0.00")


class BeneficiaryOut(Schema):
    kind: str
    name: str
    unit_name: str
    member_id: int | None
    labour_model_id: int | None
    headcount: int
    cash: str
    goods: str
    goods_quantity: int
    goods_value: str


class VisitIn(Schema):
    org_code: str
    visited_on: Day
    place: str = Field(max_length=200)
    visitors: str = Field("", max_length=300)
    note: str = ""
    beneficiaries: list[BeneficiaryIn]


class VisitOut(Schema):
    id: int
    campaign: str
    org_code: str
    visited_on: dt.date
    place: str
    visitors: str
    note: str
    cancelled: bool
    total: str
    beneficiaries: list[BeneficiaryOut]


def _beneficiary_out(b: CareBeneficiary) -> dict[str, Any]:
    return {
        "kind": b.kind,
        "name": b.name,
        "unit_name": b.unit_name,
        "member_id": b.member_id,
        "labour_model_id": b.labour_model_id,
        "headcount": b.headcount,
        "cash": _money(b.cash),
        "goods": b.goods,
        "goods_quantity": b.goods_quantity,
        "goods_value": _money(b.goods_value),
    }


def _visit_out(visit: CareVisit) -> dict[str, Any]:
    lines = list(visit.beneficiaries.all())
    return {
        "id": visit.pk,
        "campaign": visit.campaign.code,
        "org_code": visit.org.code,
        "visited_on": visit.visited_on,
        "place": visit.place,
        "visitors": visit.visitors,
        "note": visit.note,
        "cancelled": visit.cancelled_at is not None,
        "total": _money(sum((b.cash + b.goods_value for b in lines), Decimal("0.00"))),
        "beneficiaries": [_beneficiary_out(b) for b in lines],
    }


@router.post("/care/campaigns/{code}/visits", response={201: VisitOut})
def record_visit(request: HttpRequest, code: str, body: VisitIn) -> Status[dict[str, Any]]:
    """A visit and its beneficiaries; the money is spent from the visiting organisation's
    allocation (409 insufficient_funds)."""
    user = actor(request)
    campaign = selectors.campaign_get_visible(user=user, code=code)
    lines = []
    for b in body.beneficiaries:
        member = labour_model = None
        if b.member_id is not None:
            member = members_visible_to(user).select_related("unit").filter(pk=b.member_id).first()
            if member is None:
                raise NotFound(pgettext("未找到", "会员 %(id)s") % {"id": b.member_id})
        if b.labour_model_id is not None:
            labour_model = (
                selectors.labour_models_visible_to(user)
                .select_related("org")
                .filter(pk=b.labour_model_id)
                .first()
            )
            if labour_model is None:
                raise NotFound(pgettext("未找到", "劳模 %(id)s") % {"id": b.labour_model_id})
        lines.append(
            services.BeneficiaryIn(
                kind=b.kind,
                name=b.name,
                member=member,
                labour_model=labour_model,
                unit_name=b.unit_name,
                headcount=b.headcount,
                cash=b.cash,
                goods=b.goods,
                goods_quantity=b.goods_quantity,
                goods_value=b.goods_value,
            )
        )
    visit = services.care_visit_record(
        campaign=campaign,
        org=_org(request, body.org_code),
        visited_on=body.visited_on,
        place=body.place,
        beneficiaries=lines,
        actor=user,
        visitors=body.visitors,
        note=body.note,
    )
    return Status(201, _visit_out(visit))


@router.get("/care/campaigns/{code}/visits", response=list[VisitOut])
@paginate(Paged)
def list_visits(request: HttpRequest, code: str) -> Rendered[dict[str, Any]]:
    campaign = selectors.campaign_get_visible(user=actor(request), code=code)
    qs = (
        selectors.visits_visible_to(actor(request))
        .filter(campaign=campaign)
        .select_related("campaign", "org")
        .prefetch_related("beneficiaries")
    )
    return Rendered(qs, lambda page: [_visit_out(v) for v in page])


def _visit(request: HttpRequest, visit_id: int) -> CareVisit:
    visit = (
        selectors.visits_visible_to(actor(request))
        .select_related("campaign__org", "org")
        .filter(pk=visit_id)
        .first()
    )
    if visit is None:
        raise NotFound(pgettext("未找到", "慰问"))
    return visit


@router.get("/care/visits/{visit_id}", response=VisitOut)
def get_visit(request: HttpRequest, visit_id: int) -> dict[str, Any]:
    return _visit_out(_visit(request, visit_id))


@router.post("/care/visits/{visit_id}/cancel", response=VisitOut)
def cancel_visit(request: HttpRequest, visit_id: int, body: ReverseIn) -> dict[str, Any]:
    visit = services.care_visit_cancel(
        visit=_visit(request, visit_id), actor=actor(request), reason=body.reason
    )
    return _visit_out(visit)


class LabourModelIn(Schema):
    name: str = Field(max_length=100)
    level: str = Field(description="national | provincial")
    unit_name: str = Field(max_length=200)
    org_code: str
    year: Year | None = None
    title: str = Field("", max_length=100)
    member_id: int | None = None
    note: str = ""


class LabourModelVisitOut(Schema):
    visit_id: int
    campaign: str
    org_code: str
    visited_on: dt.date
    place: str
    cash: str
    goods: str
    goods_value: str


class LabourModelOut(Schema):
    id: int
    name: str
    level: str
    title: str
    year: int | None
    unit_name: str
    org_code: str
    member_id: int | None
    visits: list[LabourModelVisitOut]


def _labour_model_out(lm: LabourModel, *, with_visits: bool) -> dict[str, Any]:
    visits = [
        {
            "visit_id": b.visit_id,
            "campaign": b.visit.campaign.code,
            "org_code": b.visit.org.code,
            "visited_on": b.visit.visited_on,
            "place": b.visit.place,
            "cash": _money(b.cash),
            "goods": b.goods,
            "goods_value": _money(b.goods_value),
        }
        for b in (selectors.labour_model_visits(lm) if with_visits else [])
    ]
    return {
        "id": lm.pk,
        "name": lm.name,
        "level": lm.level,
        "title": lm.title,
        "year": lm.year,
        "unit_name": lm.unit_name,
        "org_code": lm.org.code,
        "member_id": lm.member_id,
        "visits": visits,
    }


@router.get("/care/labour-models", response=list[LabourModelOut])
@paginate(Paged)
def list_labour_models(
    request: HttpRequest, level: str | None = None, year: Year | None = None, q: str | None = None
) -> Rendered[dict[str, Any]]:
    qs = selectors.labour_models_visible_to(actor(request)).select_related("org")
    if level:
        qs = qs.filter(level=level)
    if year:
        qs = qs.filter(year=year)
    if q:
        qs = qs.filter(name__contains=q)
    return Rendered(qs, lambda page: [_labour_model_out(lm, with_visits=False) for lm in page])


@router.post("/care/labour-models", response={201: LabourModelOut})
def create_labour_model(request: HttpRequest, body: LabourModelIn) -> Status[dict[str, Any]]:
    member = None
    if body.member_id is not None:
        member = (
            members_visible_to(actor(request))
            .select_related("unit")
            .filter(pk=body.member_id)
            .first()
        )
        if member is None:
            raise NotFound(pgettext("未找到", "会员 %(id)s") % {"id": body.member_id})
    lm = services.labour_model_create(
        actor=actor(request),
        name=body.name,
        level=body.level,
        unit_name=body.unit_name,
        org=_org(request, body.org_code),
        year=body.year,
        title=body.title,
        member=member,
        note=body.note,
    )
    return Status(201, _labour_model_out(lm, with_visits=True))


@router.get("/care/labour-models/{lm_id}", response=LabourModelOut)
def get_labour_model(request: HttpRequest, lm_id: int) -> dict[str, Any]:
    """A labour model with its visit history."""
    lm = (
        selectors.labour_models_visible_to(actor(request))
        .select_related("org")
        .filter(pk=lm_id)
        .first()
    )
    if lm is None:
        raise NotFound(pgettext("未找到", "劳模"))
    return _labour_model_out(lm, with_visits=True)
