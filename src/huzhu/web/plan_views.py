"""Console pages for plans and enrolments: versions with their terms, editing a version until
its first payout (city staff), enrolling a unit in a version, and a unit's contribution
statement. Thin: every write goes through protection.plans / protection.services."""

from __future__ import annotations

from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import ROSTER_ROLES
from huzhu.accounts.selectors import staff_scope_path
from huzhu.core.aggregates import MoneySum
from huzhu.core.bounds import parse_date, parse_money, year_problem
from huzhu.core.errors import DomainError, NotFound
from huzhu.members.selectors import orgs_visible_to
from huzhu.protection.enrollments import contribution_statement
from huzhu.protection.models import Enrollment, PlanVersion
from huzhu.protection.plans import plan_version_update
from huzhu.protection.unit_enrolment import enrollment_create_for_unit
from huzhu.web.access import staff_required


@staff_required()
def plans(request: HttpRequest, user: User) -> HttpResponse:
    scope = staff_scope_path(user)
    versions = (
        PlanVersion.objects.select_related("plan")
        .annotate(
            enrolled=Count("enrollments", distinct=True),
        )
        .order_by("-period_start", "plan__code")
    )
    counts = dict(
        Enrollment.objects.filter(unit__path__startswith=scope)
        .values_list("version_id")
        .annotate(n=Count("id"))
        .values_list("version_id", "n")
    )
    rows = [{"version": v, "enrolled_here": counts.get(v.pk, 0)} for v in versions]
    return render(request, "web/console/plans.html", {"rows": rows, "org": user.org})


@staff_required()
def plan_version(request: HttpRequest, user: User, version_id: int) -> HttpResponse:
    version = PlanVersion.objects.select_related("plan").filter(pk=version_id).first()
    if version is None:
        raise Http404
    terms = version.terms or {}
    context: dict[str, object] = {
        "version": version,
        "disability": (
            {
                "sum": terms["disability_sum"],
                "grades": list(enumerate(terms.get("disability_ratios", []), start=1)),
            }
            if "disability_sum" in terms
            else None
        ),
        "org": user.org,
        "may_edit": user.role == Role.CITY_ADMIN and not version.frozen_at,
        "may_enrol": user.role in ROSTER_ROLES,
    }
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("action") == "edit":
                _edit(user, version, request)
                context["done"] = "saved"
            elif request.POST.get("action") == "enrol":
                code = request.POST.get("unit_code", "").strip()
                unit = orgs_visible_to(user).filter(code=code).first()
                if unit is None:
                    raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": code})
                result = enrollment_create_for_unit(
                    actor=user, unit=unit, version=version, paid_on=timezone.localdate()
                )
                context["enrolled"] = result
        except DomainError as exc:
            context["failure"] = exc.message
            status = exc.status
        version.refresh_from_db()
    scope = staff_scope_path(user)
    context["totals"] = Enrollment.objects.filter(
        version=version, unit__path__startswith=scope
    ).aggregate(members=Count("id"), amount=MoneySum("amount"))
    return render(request, "web/console/plan_version.html", context, status=status)


def _edit(user: User, version: PlanVersion, request: HttpRequest) -> None:
    contribution = parse_money(
        request.POST.get("contribution", ""), "contribution", allow_zero=True
    )
    waiting = request.POST.get("waiting_days", "").strip()
    if not (waiting.isascii() and waiting.isdigit() and len(waiting) <= 5):
        raise DomainError("invalid_input", _("waiting_days：应为整数天数"), field="waiting_days")
    waiting_days = int(waiting)
    period_end = parse_date(request.POST.get("period_end", ""), "period_end")
    review = request.POST.get("review_above", "").strip()
    plan_version_update(
        review_above=parse_money(review, "review_above") if review else None,
        clear_review=not review,
        actor=user,
        version=version,
        contribution=contribution,
        waiting_days=waiting_days,
        period_end=period_end,
    )


@staff_required(roles=ROSTER_ROLES)
def contributions(request: HttpRequest, user: User) -> HttpResponse:
    """A unit's contribution statement for a year (缴费明细)."""
    units = orgs_visible_to(user).filter(kind="unit").order_by("code")
    code = request.GET.get("unit", "")
    year = request.GET.get("year", str(timezone.localdate().year))
    unit = units.filter(code=code).first() if code else None
    known = len(year) == 4 and year.isascii() and year.isdigit()
    rows = (
        contribution_statement(unit.pk, int(year))
        if unit and known and year_problem(int(year)) is None
        else []
    )
    return render(
        request,
        "web/console/contributions.html",
        {
            "units": units[:500],
            "unit": unit,
            "year": year,
            "rows": rows,
            "org": user.org,
        },
    )
