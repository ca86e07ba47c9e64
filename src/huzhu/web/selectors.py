"""Reads for the member pages and the console that are shaped for a page: a member's plans and
payouts with the reason for each amount in plain words, the audit log in a staff user's scope,
the progress of a settlement job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.models import AuditEvent
from huzhu.members.models import Member
from huzhu.protection.models import (
    BenefitType,
    Claim,
    ClaimSource,
    ClaimState,
    Enrollment,
    LedgerEntry,
    PlanVersion,
)
from huzhu.web.models import JobStatus, SettlementJob

ZERO = Decimal("0.00")


def _yuan(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


# -- a member's plans -----------------------------------------------------------------------------


def plan_terms_sentence(version: PlanVersion) -> str:
    """The heart of a plan version's terms in one sentence a member can read."""
    t = version.terms or {}
    benefit = version.plan.benefit
    if benefit == BenefitType.INPATIENT:
        return _(
            "住院医保范围内个人自付部分，年度累计超过起付线%(d)s元后按比例报销，每年最高%(c)s元"
        ) % {
            "d": _yuan(t.get("deductible", 0)),
            "c": _yuan(t.get("cap", 0)),
        }
    if benefit == BenefitType.ALLOWANCE:
        return _("住院期间每天%(p)s元，每年最多%(n)s天") % {
            "p": _yuan(t.get("per_day", 0)),
            "n": t.get("max_days", 0),
        }
    if benefit == BenefitType.CRITICAL_ILLNESS:
        return _("确诊保障范围内的重大疾病，一次性给付%(a)s元") % {"a": _yuan(t.get("amount", 0))}
    if benefit == BenefitType.ACCIDENT:
        return _("意外伤害医疗费用按实报销，每年最高%(c)s元") % {"c": _yuan(t.get("cap", 0))}
    return ""


@dataclass(frozen=True)
class PlanLine:
    name: str
    benefit: str
    period_start: date
    period_end: date
    payer: str
    terms: str
    waiting_days: int


def member_plans(member: Member, *, year: int) -> list[PlanLine]:
    """The plans the member is enrolled in for any part of `year`."""
    enrolments = (
        Enrollment.objects.filter(
            member=member,
            version__period_start__lte=date(year, 12, 31),
            version__period_end__gte=date(year, 1, 1),
        )
        .select_related("version__plan")
        .order_by("version__plan__code")
    )
    return [
        PlanLine(
            name=e.version.plan.name,
            benefit=str(BenefitType(e.version.plan.benefit).label),
            period_start=e.version.period_start,
            period_end=e.version.period_end,
            payer=e.get_payer_display(),
            terms=plan_terms_sentence(e.version),
            waiting_days=e.version.waiting_days,
        )
        for e in enrolments
    ]


# -- a member's claims and payouts ----------------------------------------------------------------


def reason_sentence(code: str, version: PlanVersion | None) -> str:
    """Why the rules paid nothing under a plan, in words, with the version's figures."""
    t = version.terms if version else {}
    benefit = version.plan.benefit if version else ""
    sentences = {
        "NOT_MEMBER": _("未能匹配到工会会员信息"),
        "NOT_ENROLLED": _("就医时您没有参加这项互助保障计划"),
        "WAITING_PERIOD": _("新参保后%(n)s天等待期内的住院不予给付")
        % {"n": version.waiting_days if version else 0},
        "REVERSED": _("这笔医保结算已被冲销，相应的互助金已收回"),
    }
    if code == "BELOW_DEDUCTIBLE":
        if benefit == BenefitType.ALLOWANCE:
            return _("住院天数扣除不计津贴的天数后，没有可给付的天数")
        return _("本年度累计自付金额还没有超过起付线%(d)s元") % {"d": _yuan(t.get("deductible", 0))}
    if code == "CAP_REACHED":
        if benefit == BenefitType.CRITICAL_ILLNESS:
            return _("重大疾病互助金每个保障期只给付一次，已经给付过了")
        if benefit == BenefitType.ALLOWANCE:
            return _("本年度住院津贴已达%(n)s天上限") % {"n": t.get("max_days", 0)}
        return _("本年度给付已达封顶线%(c)s元") % {"c": _yuan(t.get("cap", 0))}
    if code == "NOT_COVERED":
        if benefit == BenefitType.CRITICAL_ILLNESS:
            return _("诊断不在重大疾病保障范围内")
        if benefit == BenefitType.ACCIDENT:
            return _("不是意外伤害，不属于意外伤害保障范围")
        return _("不属于这项计划的保障范围")
    return sentences.get(code, _("其他原因（%(code)s）") % {"code": code})


@dataclass(frozen=True)
class PayoutLine:
    claim_id: int
    plan: str
    event_date: date | None
    hospital: str
    state: str
    amount: Decimal
    reason: str


def _why(claim: Claim, amount: Decimal) -> str:
    if claim.reason:
        return reason_sentence(claim.reason, claim.version)
    if claim.state == ClaimState.REJECTED:
        return _("经审核未予批准，详情请咨询所在工会")
    if claim.source == ClaimSource.SETTLEMENT:
        return _("根据医保结算数据按保障条款自动计算，无需申请（免申即享），给付%(a)s元") % {
            "a": _yuan(amount)
        }
    if claim.state in (ClaimState.APPROVED, ClaimState.PAID):
        return _("工会代您申请，经审核符合保障条款，给付%(a)s元") % {"a": _yuan(amount)}
    return _("工会已代您提交申请，正在办理")


def member_payouts(member: Member) -> tuple[list[PayoutLine], Decimal]:
    """The member's claims, newest first, each with its amount (the sum of its ledger entries)
    and the reason for it; and the total."""
    claims = list(
        Claim.objects.filter(member=member)
        .select_related("version__plan", "settlement")
        .order_by("-created_at", "-id")[:200]
    )
    sums = dict(
        LedgerEntry.objects.filter(claim__in=claims)
        .values("claim_id")
        .annotate(s=Sum("amount"))
        .values_list("claim_id", "s")
    )
    lines = []
    for c in claims:
        amount = sums.get(c.pk) or ZERO
        settlement = c.settlement
        lines.append(
            PayoutLine(
                claim_id=c.pk,
                plan=c.version.plan.name if c.version else c.plan_code,
                event_date=c.event_date or (settlement.admitted_on if settlement else None),
                hospital=settlement.hospital if settlement else "",
                state=str(ClaimState(c.state).label),
                amount=amount,
                reason=_why(c, amount),
            )
        )
    return lines, sum((line.amount for line in lines), ZERO)


# -- the audit log --------------------------------------------------------------------------------


def audit_events_visible(
    user: User,
    *,
    action: str = "",
    actor: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events of the user's subtree; the city root also sees events of no organisation
    (system jobs, settlement imports)."""
    scope = staff_scope_path(user)
    qs = AuditEvent.objects.all()
    assert user.org is not None
    if user.org.parent_id is not None:
        qs = qs.filter(org_path__startswith=scope)
    if action:
        qs = qs.filter(action__startswith=action)
    if actor:
        qs = qs.filter(actor_label=actor)
    if since:
        qs = qs.filter(at__date__gte=since)
    if until:
        qs = qs.filter(at__date__lte=until)
    return qs.order_by("-at", "-id")


# -- settlement jobs ------------------------------------------------------------------------------


def job_progress(job: SettlementJob) -> tuple[str, int]:
    """(stage, count) now: from the progress file while the job runs, else from the row."""
    if job.status == JobStatus.RUNNING:
        path = Path(settings.MEDIA_ROOT) / job.progress_path
        try:
            data = json.loads(path.read_text())
            return str(data["stage"]), int(data["count"])
        except (OSError, ValueError, KeyError):
            return job.stage or "read", job.count
    return job.stage, job.count
