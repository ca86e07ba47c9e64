"""Server-rendered pages: the public home page and the staff console (thin views)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huzhu.accounts.models import STAFF_ROLES, User
from huzhu.accounts.selectors import members_visible_to, orgs_visible_to
from huzhu.core.errors import DomainError, Forbidden
from huzhu.core.tabular import TableError
from huzhu.members.models import Member, Organisation
from huzhu.members.roster import members_import


def home(request: HttpRequest) -> HttpResponse:
    context = {
        "members": Member.objects.count(),
        "units": Organisation.objects.filter(kind="unit").count(),
        "districts": Organisation.objects.filter(kind="district").count(),
    }
    return render(request, "web/home.html", context)


def _staff(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    if user.role not in STAFF_ROLES or user.org_id is None:
        raise Forbidden()
    return user


@login_required
def console_home(request: HttpRequest) -> HttpResponse:
    try:
        user = _staff(request)
    except Forbidden:
        return render(request, "web/forbidden.html", status=403)
    context = {
        "org": user.org,
        "member_count": members_visible_to(user).count(),
        "org_count": orgs_visible_to(user).count(),
    }
    return render(request, "web/console/home.html", context)


@login_required
def console_members(request: HttpRequest) -> HttpResponse:
    try:
        user = _staff(request)
    except Forbidden:
        return render(request, "web/forbidden.html", status=403)
    qs = members_visible_to(user).select_related("unit").order_by("id")
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(name__contains=q)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "web/console/members.html", {"page": page, "q": q})


@login_required
def console_import_members(request: HttpRequest) -> HttpResponse:
    """Upload a roster; the row-by-row report is shown on the page, as the CLI prints it."""
    try:
        user = _staff(request)
    except Forbidden:
        return render(request, "web/forbidden.html", status=403)
    context: dict[str, object] = {}
    if request.method == "POST" and request.FILES.get("file"):
        upload = request.FILES.get("file")
        assert upload is not None and not isinstance(upload, list)
        keep_valid = request.POST.get("keep_valid") == "on"
        try:
            report = members_import(
                upload.read(), file=upload.name or "upload.csv", actor=user, keep_valid=keep_valid
            )
            context["report"] = report
            context["errors"] = report.errors
        except TableError as exc:
            context["errors"] = exc.errors
            context["refused"] = True
        except DomainError as exc:
            context["failure"] = exc.message
    return render(
        request,
        "web/console/import_members.html",
        context,
        status=400 if context.get("refused") else 200,
    )


@login_required
def console_stats(request: HttpRequest) -> HttpResponse:
    """The statistics dashboard: charts drawn by static/web/stats.js from /api/v1/stats/."""
    try:
        user = _staff(request)
    except Forbidden:
        return render(request, "web/forbidden.html", status=403)
    this_year = timezone.localdate().year
    try:
        year = int(request.GET.get("year", this_year))
    except ValueError:
        year = this_year
    year = min(max(year, this_year - 30), this_year + 1)
    q = f"year={year}"
    charts = [
        ("payouts-month", _("互助金给付（按月）"), f"payouts?group_by=month&{q}"),
        ("payouts-benefit", _("互助金给付（按保障类型）"), f"payouts?group_by=benefit&{q}"),
        ("payouts-district", _("互助金给付（按区）"), f"payouts?group_by=district&{q}"),
        ("payouts-year", _("互助金给付（历年）"), "payouts?group_by=year"),
        ("members", _("参保人数（按计划）"), f"members?{q}"),
        ("contributions", _("缴费（按计划）"), f"contributions?group_by=plan&{q}"),
        ("bookings", _("普惠活动预约与核销"), f"bookings?{q}"),
        ("stations", _("驿站服务（按月）"), f"stations?group_by=month&{q}"),
        ("care", _("慰问资金与预算"), f"care?{q}"),
    ]
    context = {
        "org": user.org,
        "year": year,
        "years": list(range(this_year, this_year - 26, -1)),
        "charts": [
            {
                "id": cid,
                "title": title,
                "source": source,
                "export": source.replace("?", ".xlsx?", 1),
            }
            for cid, title, source in charts
        ],
    }
    return render(request, "web/console/stats.html", context)
