"""Reads of care campaigns, visits and labour models, each scoped to the staff user's subtree."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.accounts.policy import Permission, in_subtree, roles
from huzhu.accounts.selectors import staff_scope_path
from huzhu.care.models import (
    CareBeneficiary,
    CareCampaign,
    CareLedgerEntry,
    CareVisit,
    EntryKind,
    LabourModel,
)
from huzhu.care.rules import OrgFunds, funds_by_org
from huzhu.core.aggregates import MoneySum
from huzhu.core.errors import Forbidden, NotFound
from huzhu.members.models import Organisation

# Care work is for the federation's admins (city, district, workplace union).
CARE_ROLES = roles(Permission.CARE_MANAGE)


def care_scope_path(user: User) -> str:
    scope = staff_scope_path(user)
    if user.role not in CARE_ROLES:
        raise Forbidden("forbidden", _("您的角色无权使用关爱活动"))
    return scope


def campaigns_visible_to(user: User) -> QuerySet[CareCampaign]:
    """Campaigns run inside the user's subtree, and those that allocated money into it."""
    scope = care_scope_path(user)
    funded = CareLedgerEntry.objects.filter(org__path__startswith=scope).values("campaign_id")
    return CareCampaign.objects.filter(Q(org__path__startswith=scope) | Q(pk__in=funded))


def campaign_get_visible(*, user: User, code: str) -> CareCampaign:
    campaign = campaigns_visible_to(user).select_related("org").filter(code=code).first()
    if campaign is None:
        raise NotFound(pgettext("未找到", "关爱活动 %(code)s") % {"code": code})
    return campaign


def visits_visible_to(user: User) -> QuerySet[CareVisit]:
    return CareVisit.objects.filter(org__path__startswith=care_scope_path(user))


def campaign_entries(*, campaign: CareCampaign, user: User) -> QuerySet[CareLedgerEntry]:
    """The campaign's ledger as far as it concerns the user's subtree, oldest first; each entry
    carries `reversal_id`, the entry that cancelled it (None while it stands)."""
    return (
        CareLedgerEntry.objects.filter(
            campaign=campaign, org__path__startswith=care_scope_path(user)
        )
        .select_related("org")
        .annotate(reversal_id=F("reversed_by__id"))
        .order_by("id")
    )


def campaign_visits(*, campaign: CareCampaign, user: User) -> QuerySet[CareVisit]:
    """The campaign's visits by organisations of the user's subtree, newest first, with their
    beneficiaries."""
    return (
        visits_visible_to(user)
        .filter(campaign=campaign)
        .select_related("org")
        .prefetch_related("beneficiaries")
        .order_by("-visited_on", "-id")
    )


def labour_models_visible_to(user: User) -> QuerySet[LabourModel]:
    return LabourModel.objects.filter(org__path__startswith=care_scope_path(user))


@dataclass(frozen=True)
class OrgLine:
    org: Organisation
    funds: OrgFunds


@dataclass(frozen=True)
class CampaignSummary:
    """What a campaign allocated and spent, against its budget. `partial` when the viewer sees
    only the organisations of its subtree (the campaign is run above it)."""

    budget: Decimal
    allocated: Decimal
    spent: Decimal
    partial: bool
    orgs: list[OrgLine]

    @property
    def unallocated(self) -> Decimal:
        return self.budget - self.allocated

    @property
    def balance(self) -> Decimal:
        return self.allocated - self.spent


def campaign_funds(campaign: CareCampaign) -> dict[int, OrgFunds]:
    rows = (
        CareLedgerEntry.objects.filter(campaign=campaign)
        .values_list("org_id", "kind")
        .annotate(total=MoneySum("amount"))
        .order_by()
    )
    return funds_by_org((org_id, kind, total) for org_id, kind, total in rows)


def campaign_summary(*, campaign: CareCampaign, user: User | None = None) -> CampaignSummary:
    funds = campaign_funds(campaign)
    scope = "/" if user is None else care_scope_path(user)
    partial = not in_subtree(campaign.org.path, scope)
    orgs = Organisation.objects.in_bulk(list(funds))
    lines = sorted(
        (
            OrgLine(orgs[org_id], f)
            for org_id, f in funds.items()
            if in_subtree(orgs[org_id].path, scope)
        ),
        key=lambda line: line.org.path,
    )
    seen = funds.values() if not partial else [line.funds for line in lines]
    return CampaignSummary(
        budget=campaign.budget,
        allocated=sum((f.allocated for f in seen), Decimal("0.00")),
        spent=sum((f.spent for f in seen), Decimal("0.00")),
        partial=partial,
        orgs=lines,
    )


def labour_model_visits(labour_model: LabourModel) -> QuerySet[CareBeneficiary]:
    """Every time the labour model was visited, newest first (cancelled visits left out)."""
    return (
        CareBeneficiary.objects.filter(labour_model=labour_model, visit__cancelled_at__isnull=True)
        .select_related("visit", "visit__campaign", "visit__org")
        .order_by("-visit__visited_on", "-visit_id")
    )


def spending_total(*, campaign: CareCampaign) -> Decimal:
    total = CareLedgerEntry.objects.filter(campaign=campaign, kind=EntryKind.SPENDING).aggregate(
        s=MoneySum("amount")
    )["s"]
    return total or Decimal("0.00")
