"""Writes for care: campaigns, allocations, visits with their spending, reversals, labour
models. Money moves only as ledger entries, written in the same transaction as the audit event
while the campaign row is locked, so two writers cannot both spend the last yuan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.accounts.policy import in_subtree
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.care.models import (
    BeneficiaryKind,
    CareBeneficiary,
    CareCampaign,
    CareLedgerEntry,
    CareVisit,
    EntryKind,
    LabourModel,
    LabourModelLevel,
)
from huzhu.care.selectors import campaign_funds, care_scope_path
from huzhu.core import bounds
from huzhu.core.bounds import field_problem
from huzhu.core.errors import Conflict, DomainError, Forbidden
from huzhu.core.locking import locked_row
from huzhu.members import rules as member_rules
from huzhu.members.models import Member, Organisation

ZERO = Decimal("0.00")


def _check_scope(actor: User | None, org: Organisation, what: str = "organisation") -> None:
    if actor is not None and not in_subtree(org.path, care_scope_path(actor)):
        words = {
            "organisation": pgettext("超出范围的对象", "组织"),
            "campaign": pgettext("超出范围的对象", "关爱活动"),
            "member": pgettext("超出范围的对象", "会员"),
            "labour model": pgettext("超出范围的对象", "劳模"),
        }
        raise Forbidden(
            "forbidden",
            _("该%(what)s不在您的组织范围内") % {"what": words.get(what, what)},
        )


def _checked_amount(value: Decimal, field: str, *, allow_zero: bool = False) -> Decimal:
    return bounds.parse_money(value, field, allow_zero=allow_zero)


def _lock(campaign: CareCampaign) -> CareCampaign:
    """Lock the campaign row: its budget and balances are the scarce thing (core.locking: a
    short wait, then Busy; it never waits forever for a campaign someone else holds)."""
    return locked_row(CareCampaign.objects.all(), campaign.pk)


def care_campaign_create(
    *,
    actor: User | None,
    code: str,
    title: str,
    org: Organisation,
    budget: Decimal,
    starts_on: date,
    ends_on: date | None = None,
    description: str = "",
) -> CareCampaign:
    _check_scope(actor, org)
    if problem := member_rules.code_problem(code):
        raise DomainError("invalid_code", problem, field="code")
    if not title.strip():
        raise DomainError("required", _("请填写标题"), field="title")
    bounds.parse_date(starts_on, "starts_on")
    if ends_on is not None:
        bounds.parse_date(ends_on, "ends_on")
    if ends_on is not None and ends_on < starts_on:
        raise DomainError("invalid_dates", _("活动的结束日期早于开始日期"), field="ends_on")
    amount = _checked_amount(budget, "budget", allow_zero=True)
    if CareCampaign.objects.filter(code=code).exists():
        raise Conflict(
            "duplicate_code", _("关爱活动 %(code)s 已存在") % {"code": code}, field="code"
        )
    with transaction.atomic():
        campaign = CareCampaign.objects.create(
            code=code,
            title=title.strip(),
            org=org,
            budget=amount,
            starts_on=starts_on,
            ends_on=ends_on,
            description=description,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action=Action.CARE_CAMPAIGN_CREATE,
            obj=campaign,
            org_path=org.path,
            budget=str(amount),
        )
    return campaign


def care_campaign_budget_set(
    *, campaign: CareCampaign, budget: Decimal, actor: User | None, reason: str
) -> CareCampaign:
    """Raise or lower the budget; never below what is already allocated."""
    _check_scope(actor, campaign.org, "campaign")
    amount = _checked_amount(budget, "budget", allow_zero=True)
    if not reason.strip():
        raise DomainError("reason_required", _("请说明预算为什么要改"), field="reason")
    with transaction.atomic():
        locked = _lock(campaign)
        allocated = sum((f.allocated for f in campaign_funds(locked).values()), ZERO)
        if amount < allocated:
            raise Conflict(
                "below_allocated",
                _("已经拨付了 %(allocated)s 元") % {"allocated": allocated},
                allocated=str(allocated),
            )
        old = locked.budget
        locked.budget = amount
        locked.save(update_fields=["budget"])
        audit_record(
            actor=actor,
            action=Action.CARE_BUDGET_SET,
            obj=locked,
            org_path=locked.org.path,
            reason=reason,
            old=str(old),
            new=str(amount),
        )
    campaign.budget = amount
    return locked


def care_allocation_create(
    *,
    campaign: CareCampaign,
    org: Organisation,
    amount: Decimal,
    on: date,
    actor: User | None,
    payee: str = "",
    memo: str = "",
) -> CareLedgerEntry:
    """Allocate (拨付) part of the budget to an organisation of the campaign's subtree."""
    _check_scope(actor, campaign.org, "campaign")
    if not org.path.startswith(campaign.org.path):
        raise DomainError(
            "invalid_org",
            _("%(code)s 不在该关爱活动所属组织之下") % {"code": org.code},
            field="org",
        )
    value = _checked_amount(amount, "amount")
    bounds.parse_date(on, "date")
    with transaction.atomic():
        locked = _lock(campaign)
        allocated = sum((f.allocated for f in campaign_funds(locked).values()), ZERO)
        if allocated + value > locked.budget:
            raise Conflict(
                "over_budget",
                _("预算只剩 %(left)s 元未拨付") % {"left": locked.budget - allocated},
                unallocated=str(locked.budget - allocated),
            )
        entry = CareLedgerEntry.objects.create(
            campaign=locked,
            org=org,
            kind=EntryKind.ALLOCATION,
            amount=value,
            occurred_on=on,
            payee=payee,
            memo=memo,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action=Action.CARE_ALLOCATE,
            obj=entry,
            org_path=org.path,
            campaign=locked.code,
            amount=str(value),
        )
    return entry


@dataclass(frozen=True)
class BeneficiaryIn:
    """One line of a visit. A member or labour model is named by its record; frontline staff
    by `name` (a person or a group, with `headcount`)."""

    kind: str
    name: str = ""
    member: Member | None = None
    labour_model: LabourModel | None = None
    unit_name: str = ""
    headcount: int = 1
    cash: Decimal = ZERO
    goods: str = ""
    goods_quantity: int = 0
    goods_value: Decimal = ZERO


def _checked_line(actor: User | None, line: BeneficiaryIn, index: int) -> BeneficiaryIn:
    where = f"beneficiaries[{index}]"
    if line.kind not in BeneficiaryKind.values:
        raise DomainError(
            "invalid_kind",
            field_problem(where, _("kind 只能是 member、labour_model 或 frontline")),
        )
    if line.kind == BeneficiaryKind.MEMBER:
        if line.member is None:
            raise DomainError(
                "required", field_problem(where, _("会员类的慰问对象须指明是哪位会员"))
            )
        _check_scope(actor, line.member.unit, "member")
    if line.kind == BeneficiaryKind.LABOUR_MODEL:
        if line.labour_model is None:
            raise DomainError(
                "required", field_problem(where, _("劳模类的慰问对象须指明是哪位劳模"))
            )
        _check_scope(actor, line.labour_model.org, "labour model")
    name = (
        line.name
        or (line.member.name if line.member else "")
        or (line.labour_model.name if line.labour_model else "")
    )
    if not name.strip():
        raise DomainError("required", field_problem(where, _("请填写姓名")))
    headcount = bounds.parse_quota(line.headcount, f"{where}.headcount", minimum=1)
    goods_quantity = bounds.parse_quota(line.goods_quantity, f"{where}.goods_quantity")
    cash = _checked_amount(line.cash, f"{where}.cash", allow_zero=True)
    goods_value = _checked_amount(line.goods_value, f"{where}.goods_value", allow_zero=True)
    if goods_value and not line.goods.strip():
        raise DomainError("required", field_problem(where, _("请写明发放了什么物品")))
    return BeneficiaryIn(
        kind=line.kind,
        name=name.strip(),
        member=line.member,
        labour_model=line.labour_model,
        unit_name=line.unit_name or (line.labour_model.unit_name if line.labour_model else ""),
        headcount=headcount,
        cash=cash,
        goods=line.goods.strip(),
        goods_quantity=goods_quantity,
        goods_value=goods_value,
    )


def care_visit_record(
    *,
    campaign: CareCampaign,
    org: Organisation,
    visited_on: date,
    place: str,
    beneficiaries: Sequence[BeneficiaryIn],
    actor: User | None,
    visitors: str = "",
    note: str = "",
) -> CareVisit:
    """A visit by `org` and what it handed out. The cash and goods of every line are spent
    from `org`'s allocation in the campaign, one ledger entry per line with money."""
    _check_scope(actor, org)
    if not beneficiaries:
        raise DomainError("required", _("一次慰问至少要有一位慰问对象"), field="beneficiaries")
    if not place.strip():
        raise DomainError("required", _("请填写地点"), field="place")
    bounds.parse_date(visited_on, "visited_on")
    if visited_on > timezone.localdate():
        raise DomainError("invalid_date", _("慰问日期不能晚于今天"), field="visited_on")
    lines = [_checked_line(actor, line, i) for i, line in enumerate(beneficiaries)]
    total = sum((line.cash + line.goods_value for line in lines), ZERO)
    with transaction.atomic():
        locked = _lock(campaign)
        balance = campaign_funds(locked).get(org.pk)
        available = balance.balance if balance is not None else ZERO
        if total > available:
            raise Conflict(
                "insufficient_funds",
                _("%(org)s 在 %(campaign)s 中还剩 %(available)s 元；这次慰问需要 %(total)s 元")
                % {
                    "org": org.code,
                    "campaign": locked.code,
                    "available": available,
                    "total": total,
                },
                available=str(available),
                needed=str(total),
            )
        visit = CareVisit.objects.create(
            campaign=locked,
            org=org,
            visited_on=visited_on,
            place=place.strip(),
            visitors=visitors,
            note=note,
            created_by=actor,
        )
        for line in lines:
            _spend_line(visit, line, actor=actor)
        audit_record(
            actor=actor,
            action=Action.CARE_VISIT_RECORD,
            obj=visit,
            org_path=org.path,
            campaign=locked.code,
            total=str(total),
            beneficiaries=len(lines),
        )
    return visit


def _spend_line(visit: CareVisit, line: BeneficiaryIn, *, actor: User | None) -> None:
    """One line of a visit: the beneficiary, and the ledger entry of its cash and goods."""
    row = CareBeneficiary.objects.create(
        visit=visit,
        kind=line.kind,
        member=line.member,
        labour_model=line.labour_model,
        name=line.name,
        unit_name=line.unit_name,
        headcount=line.headcount,
        cash=line.cash,
        goods=line.goods,
        goods_quantity=line.goods_quantity,
        goods_value=line.goods_value,
    )
    amount = line.cash + line.goods_value
    if amount:
        CareLedgerEntry.objects.create(
            campaign=visit.campaign,
            org=visit.org,
            kind=EntryKind.SPENDING,
            amount=amount,
            occurred_on=visit.visited_on,
            visit=visit,
            beneficiary=row,
            payee=line.name[:200],
            memo=line.goods[:300],
            created_by=actor,
        )


def care_entry_reverse(
    *, entry: CareLedgerEntry, actor: User | None, reason: str
) -> CareLedgerEntry:
    """Cancel an entry by booking its opposite. An allocation can be reversed only while the
    organisation has not spent it."""
    _check_scope(actor, entry.campaign.org if entry.kind == EntryKind.ALLOCATION else entry.org)
    if not reason.strip():
        raise DomainError("reason_required", _("请说明为什么冲销这笔账"), field="reason")
    if entry.reverses_id is not None:
        raise DomainError("not_reversible", _("冲销记录本身不能再冲销"))
    with transaction.atomic():
        locked = _lock(entry.campaign)
        if CareLedgerEntry.objects.filter(reverses=entry).exists():
            raise Conflict("already_reversed", _("这笔账已经冲销过了"))
        if entry.kind == EntryKind.ALLOCATION:
            funds = campaign_funds(locked).get(entry.org_id)
            if funds is None or funds.balance < entry.amount:
                raise Conflict("allocation_spent", _("该组织已经用掉了这笔钱"))
        reversal = CareLedgerEntry.objects.create(
            campaign=locked,
            org_id=entry.org_id,
            kind=entry.kind,
            amount=-entry.amount,
            occurred_on=timezone.localdate(),
            visit_id=entry.visit_id,
            beneficiary_id=entry.beneficiary_id,
            payee=entry.payee,
            memo=reason[:300],
            reverses=entry,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action=Action.CARE_ENTRY_REVERSE,
            obj=reversal,
            org_path=entry.org.path,
            reverses=entry.pk,
            reason=reason,
        )
    return reversal


def care_visit_cancel(*, visit: CareVisit, actor: User | None, reason: str) -> CareVisit:
    """A visit recorded by mistake: mark it cancelled and reverse its spending."""
    _check_scope(actor, visit.org)
    if visit.cancelled_at is not None:
        raise Conflict("already_cancelled", _("这次慰问已经取消了"))
    if not reason.strip():
        raise DomainError("reason_required", _("请说明为什么取消这次慰问"), field="reason")
    with transaction.atomic():
        for entry in visit.entries.filter(reverses__isnull=True, reversed_by__isnull=True):
            care_entry_reverse(entry=entry, actor=actor, reason=reason)
        visit.cancelled_at = timezone.now()
        visit.cancel_reason = reason
        visit.save(update_fields=["cancelled_at", "cancel_reason"])
        audit_record(
            actor=actor,
            action=Action.CARE_VISIT_CANCEL,
            obj=visit,
            org_path=visit.org.path,
            reason=reason,
        )
    return visit


def labour_model_create(
    *,
    actor: User | None,
    name: str,
    level: str,
    unit_name: str,
    org: Organisation,
    year: int | None = None,
    title: str = "",
    member: Member | None = None,
    note: str = "",
) -> LabourModel:
    _check_scope(actor, org)
    if level not in LabourModelLevel.values:
        raise DomainError("invalid_level", _("level 只能是 national 或 provincial"), field="level")
    if not name.strip() or not unit_name.strip():
        raise DomainError("required", _("请填写姓名和单位"), field="name")
    if year is not None and not 1950 <= year <= timezone.localdate().year:
        raise DomainError(
            "invalid_year", _("不是有效的获奖年份：%(year)s") % {"year": year}, field="year"
        )
    if member is not None:
        _check_scope(actor, member.unit, "member")
    with transaction.atomic():
        labour_model = LabourModel.objects.create(
            name=name.strip(),
            level=level,
            unit_name=unit_name.strip(),
            org=org,
            year=year,
            title=title or str(LabourModelLevel(level).label),
            member=member,
            note=note,
        )
        audit_record(
            actor=actor, action=Action.CARE_LABOUR_MODEL_CREATE, obj=labour_model, org_path=org.path
        )
    return labour_model
