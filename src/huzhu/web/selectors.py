"""Reads for the member pages and the console that are shaped for a page: a member's plans in
plain words, the audit log in a staff user's scope, the progress of a settlement job. (A
member's claims and payouts with their reasons come from huzhu.protection.selectors.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.models import AuditEvent
from huzhu.core.bulk import is_postgres
from huzhu.members.models import Member
from huzhu.protection.models import BenefitType, Enrollment, PlanVersion
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
    # Days in the site's time zone, as bounds on the time itself (the index on `at` serves them;
    # `at__date` would convert every row's time before comparing).
    if since:
        qs = qs.filter(at__gte=_midnight(since))
    if until:
        qs = qs.filter(at__lt=_midnight(until + timedelta(days=1)))
    return qs.order_by("-at", "-id")


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# -- settlement jobs ------------------------------------------------------------------------------


def job_progress(job: SettlementJob) -> tuple[str, int]:
    """(stage, count) now: while the job runs, as its import last wrote them (PostgreSQL: on
    the row, by a connection of its own; SQLite: in the progress file); else from the row."""
    if job.status == JobStatus.RUNNING and not is_postgres():
        path = Path(settings.MEDIA_ROOT) / job.progress_path
        try:
            data = json.loads(path.read_text())
            return str(data["stage"]), int(data["count"])
        except (OSError, ValueError, KeyError):
            return job.stage or "read", job.count
    if job.status == JobStatus.RUNNING:
        return job.stage or "read", job.count
    return job.stage, job.count


def job_figures_in_words(job: SettlementJob) -> dict[str, object]:
    """A finished import's payouts by plan under the plans' names, and its rows paid nothing
    counted by reason in words (the CSV report keeps the codes)."""
    from huzhu.protection.models import Plan
    from huzhu.protection.reasons import reason_label

    report = job.report or {}
    paid = report.get("paid_by_plan") or {}
    names = dict(Plan.objects.filter(code__in=list(paid)).values_list("code", "name"))
    return {
        "paid_by_plan": [(names.get(code, code), code, amount) for code, amount in paid.items()],
        "reasons": [
            (reason_label(code), code, n) for code, n in (report.get("reasons") or {}).items()
        ],
    }
