"""The staff console (/console/…): every list is scoped to the user's organisation subtree by
huzhu.accounts.selectors; every write goes through a domain service."""

from __future__ import annotations

import io
import json
import tempfile
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.apps import apps
from django.core.paginator import Paginator
from django.db.models import F, OuterRef, Q, Subquery
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import ID_REVEAL_ROLES, ROSTER_READ_ROLES, ROSTER_ROLES
from huzhu.audit.actions import Action
from huzhu.benefits import selectors as benefits
from huzhu.benefits.models import Activity
from huzhu.care.selectors import CARE_ROLES
from huzhu.core import bounds, idnumber, sheets
from huzhu.core.errors import DomainError
from huzhu.core.pii import vault
from huzhu.core.tabular import TableError
from huzhu.members import rules as member_rules
from huzhu.members.models import Card, CardStatus, Member, OrgKind
from huzhu.members.roster import members_import
from huzhu.members.roster_columns import MEMBER_COLUMNS
from huzhu.members.roster_export import (
    MEMBER_COLUMN_GUIDE,
    members_export,
    roster_template_xlsx,
)
from huzhu.members.selectors import member_total, members_visible_to, orgs_visible_to
from huzhu.members.services import member_reveal_id_number
from huzhu.protection.models import Enrollment
from huzhu.protection.services import FILE_ROLES, REVIEW_ROLES
from huzhu.reports.headline import headline_figures
from huzhu.reports.selectors import years_with_data
from huzhu.web import selectors, services
from huzhu.web.access import View, staff_required
from huzhu.web.models import JobStatus, SettlementJob
from huzhu.web.paging import cursor_page
from huzhu.web.unit_ranking import unit_ranking


def _object_words(object_type: str) -> str:
    """`benefits.booking` as people say it (预约), or as stored when no model has that name."""
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type


def _page(request: HttpRequest, qs: object, per_page: int = 50) -> object:
    return Paginator(qs, per_page).get_page(request.GET.get("page"))  # type: ignore[arg-type]


@staff_required()
def dashboard(request: HttpRequest, user: User) -> HttpResponse:
    """The subtree at a glance: members (estimated on PostgreSQL where counting would be
    costly, huzhu.core.keyset), this year's enrolments and payouts from the summaries, and a
    few counts of short lists."""
    activities = benefits.activities_for_staff(user)
    now = timezone.now()
    context = {
        "org": user.org,
        "members": member_total(user),
        "headline": headline_figures(user=user, year=timezone.localdate().year),
        "org_count": orgs_visible_to(user).count(),
        "open_activities": activities.filter(opens_at__lte=now, closes_at__gt=now).count(),
        "events_today": selectors.audit_events_visible(user, since=timezone.localdate()).count(),
        "may_import_settlements": services.may_import_settlements(user),
        "roster": user.role in ROSTER_ROLES,
        "may_read_roster": user.role in ROSTER_READ_ROLES,
        "may_claims": user.role in FILE_ROLES | REVIEW_ROLES,
        "may_pay": user.role == Role.CITY_ADMIN,
    }
    return render(request, "web/console/home.html", context)


# -- organisations and members --------------------------------------------------------------------


@staff_required()
def orgs(request: HttpRequest, user: User) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    qs = orgs_visible_to(user).order_by("path")
    if q:
        qs = qs.filter(Q(name__contains=q) | Q(code__iexact=q))
    return render(
        request,
        "web/console/orgs.html",
        {"page": _page(request, qs, 100), "q": q, "query": urlencode({"q": q}) if q else ""},
    )


def _member_search(user: User, q: str) -> object:
    qs = members_visible_to(user).select_related("unit").order_by("id")
    if not q:
        return qs
    if idnumber.is_valid(q):  # a full ID number, in any spelling that normalises to it
        return qs.filter(id_hash=vault().lookup_hash(idnumber.normalize(q)))
    phone = member_rules.normalize_phone(q)
    if not member_rules.phone_problem(phone):
        return qs.filter(phone_hash=vault().lookup_hash(phone))
    return qs.filter(Q(name__contains=q) | Q(cards__card_no=q)).distinct()


@staff_required(ROSTER_READ_ROLES)
def members(request: HttpRequest, user: User) -> HttpResponse:
    """Search by name, full ID number, phone or card number; numbers are shown masked. Narrowed
    to a unit (or a district or town: its whole subtree) by its code, and to members on or off
    the roster; each row with its active card; the total of what was found."""
    return render(request, "web/console/members.html", _member_list(request, user))


def _member_list(request: HttpRequest, user: User) -> dict[str, object]:
    q = request.GET.get("q", "").strip()
    unit_code = request.GET.get("unit", "").strip()
    status = request.GET.get("status", "")
    found = _member_search(user, q)
    unit = orgs_visible_to(user).filter(code=unit_code).first() if unit_code else None
    if unit_code and unit is None:
        found = found.none()  # type: ignore[attr-defined]
    elif unit is not None:
        found = found.filter(unit__path__startswith=unit.path)  # type: ignore[attr-defined]
    if status in ("active", "inactive"):
        found = found.filter(is_active=status == "active")  # type: ignore[attr-defined]
    active_card = Card.objects.filter(member=OuterRef("pk"), status=CardStatus.ACTIVE)
    found = found.annotate(card_no=Subquery(active_card.values("card_no")[:1]))  # type: ignore[attr-defined]
    filters = {"q": q, "unit": unit_code, "status": status}
    return {
        "page": cursor_page(request, found, filters),
        "q": q,
        "unit_code": unit_code,
        "unit": unit,
        "status": status,
        "may_export": user.role in ROSTER_ROLES,
    }


@staff_required(ROSTER_READ_ROLES)
def member_detail(request: HttpRequest, user: User, member_id: int) -> HttpResponse:
    member = visible_member(user, member_id)
    extra: dict[str, object] = {}
    status = 200
    if request.method == "POST":
        try:
            extra["revealed"] = member_reveal_id_number(
                member=member, actor=user, reason=request.POST.get("reason", "")
            )
        except DomainError as exc:
            extra["error"] = exc.message
            status = exc.status
    return member_page(request, user, member, status=status, **extra)


def visible_member(user: User, member_id: int) -> Member:
    member = members_visible_to(user).select_related("unit").filter(pk=member_id).first()
    if member is None:
        raise Http404
    return member


def member_page(
    request: HttpRequest, user: User, member: Member, *, status: int = 200, **extra: object
) -> HttpResponse:
    """The member's page: details, cards (and their forms, for roster staff), enrolments."""
    context: dict[str, object] = {
        "member": member,
        "cards": Card.objects.filter(member=member).order_by("-issued_at"),
        "enrolments": Enrollment.objects.filter(member=member)
        .select_related("version__plan")
        .order_by("-version__period_start"),
        "may_reveal": user.role in ID_REVEAL_ROLES,
        "may_manage_cards": user.role in ROSTER_ROLES,
        "has_active": Card.objects.filter(member=member, status=CardStatus.ACTIVE).exists(),
        "active": CardStatus.ACTIVE,
        **extra,
    }
    response = render(request, "web/console/member.html", context, status=status)
    response["Cache-Control"] = "no-store"  # a revealed number must not linger in caches
    return response


@require_POST
@staff_required(ROSTER_ROLES)
def members_export_xlsx(request: HttpRequest, user: User) -> HttpResponseBase:
    """The roster of the user's subtree as Excel, full numbers included: the export is logged
    with its reason."""
    reason = request.POST.get("reason", "").strip()
    if not reason:
        context = {**_member_list(request, user), "export_error": _("请填写导出原因")}
        return render(request, "web/console/members.html", context, status=400)
    folder = Path(tempfile.mkdtemp(prefix="huzhu-export-"))
    out = folder / f"members-{timezone.localdate():%Y%m%d}.xlsx"
    members_export(out, actor=user, reason=reason)
    handle = out.open("rb")
    # The file is unlinked at once; the open handle keeps it readable until it is streamed.
    out.unlink()
    folder.rmdir()
    response = FileResponse(handle, as_attachment=True, filename=out.name)
    response["Content-Type"] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return response


@staff_required(ROSTER_ROLES)
def import_members(request: HttpRequest, user: User) -> HttpResponse:
    """Upload a roster; the row-by-row report is shown on the page, as the CLI prints it."""
    context: dict[str, object] = {}
    upload = request.FILES.get("file") if request.method == "POST" else None
    if upload is not None and not isinstance(upload, list):
        keep_valid = request.POST.get("keep_valid") == "on"
        try:
            report = members_import(
                upload.read(), file=upload.name or "upload.csv", actor=user, keep_valid=keep_valid
            )
            context["report"] = report
            context["errors"] = report.errors
            context["created_orgs"] = [
                {**org, "kind": OrgKind(org["kind"]).label} for org in report.created_orgs
            ]
        except TableError as exc:
            context["errors"] = exc.errors
            context["refused"] = True
        except DomainError as exc:
            context["failure"] = exc.message
    context["guide"] = [
        (c.zh, c.name, c.required, MEMBER_COLUMN_GUIDE[c.name]) for c in MEMBER_COLUMNS
    ]
    return render(
        request,
        "web/console/import_members.html",
        context,
        status=400 if context.get("refused") else 200,
    )


@staff_required(ROSTER_ROLES)
def roster_template(request: HttpRequest, user: User) -> HttpResponse:
    """The roster template (.xlsx): Chinese headers, text-formatted cells, the column guide."""
    response = HttpResponse(
        roster_template_xlsx(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = quote("会员名册模板.xlsx")
    response["Content-Disposition"] = (
        f"attachment; filename=\"roster-template.xlsx\"; filename*=UTF-8''{name}"
    )
    return response


# -- activities and the gate ----------------------------------------------------------------------


@staff_required()
def activities(request: HttpRequest, user: User) -> HttpResponse:
    qs = (
        benefits.with_total_quota(benefits.activities_for_staff(user))
        .annotate(remaining=F("quota_size") - F("quota_used"))
        .order_by("-opens_at", "-id")
    )
    context = {"page": _page(request, qs), "may_manage": user.role in benefits.MANAGER_ROLES}
    return render(request, "web/console/activities.html", context)


def _activity_for(user: User, activity_id: int) -> Activity:
    try:
        return benefits.activity_get(user=user, activity_id=activity_id)
    except DomainError:
        raise Http404 from None


@staff_required()
def activity_detail(request: HttpRequest, user: User, activity_id: int) -> HttpResponse:
    activity = _activity_for(user, activity_id)
    return render(
        request,
        "web/console/activity.html",
        {"activity": activity, "stats": benefits.activity_stats(activity)},
    )


@staff_required()
def activity_counters(request: HttpRequest, user: User, activity_id: int) -> HttpResponse:
    """Polled every few seconds by the activity page: the live counters."""
    activity = _activity_for(user, activity_id)
    return render(
        request,
        "web/console/_counters.html",
        {"activity": activity, "stats": benefits.activity_stats(activity)},
    )


@staff_required(benefits.GATE_ROLES)
def gate(request: HttpRequest, user: User) -> HttpResponse:
    """Scan vouchers with the device camera, or type the code; the page posts each scan to
    /api/v1/redemptions and shows a big green or red answer."""
    return render(request, "web/console/gate.html", {"gate_name": f"web-{user.username}"[:64]})


# -- settlement imports ---------------------------------------------------------------------------


def _settlement_staff_only(view: View) -> View:
    """The bureau's files cover the whole city: their pages are for city staff at the root
    (403 for other staff, as for any page of another role)."""

    @wraps(view)
    def wrapped(request: HttpRequest, user: User, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not services.may_import_settlements(user):
            return render(request, "web/forbidden.html", status=403)
        return view(request, user, *args, **kwargs)

    return wrapped


@staff_required()
@_settlement_staff_only
def settlements(request: HttpRequest, user: User) -> HttpResponse:
    context: dict[str, object] = {"jobs": SettlementJob.objects.all()[:20]}
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError("file_required", _("请选择文件"), field="file")
            job = services.settlement_job_queue(
                data=upload.read(),
                file_name=upload.name or "settlements.csv",
                actor=user,
                keep_valid=request.POST.get("keep_valid") == "on",
            )
            return HttpResponseRedirect(reverse("web:console_settlement_job", args=[job.pk]))
        except DomainError as exc:
            context["error"] = exc.message
            return render(request, "web/console/settlements.html", context, status=exc.status)
    return render(request, "web/console/settlements.html", context)


def _job(job_id: int) -> SettlementJob:
    job = SettlementJob.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404
    return job


@staff_required()
@_settlement_staff_only
def settlement_job(request: HttpRequest, user: User, job_id: int) -> HttpResponse:
    job = _job(job_id)
    stage, count = selectors.job_progress(job)
    template = "web/console/_job.html" if request.headers.get("HX-Request") else None
    context = {
        "job": job,
        "stage": stage,
        "count": count,
        "finished": job.status in (JobStatus.DONE, JobStatus.FAILED),
        "errors": (job.report or {}).get("errors", [])[:500],
        **selectors.job_figures_in_words(job),
    }
    return render(request, template or "web/console/settlement_job.html", context)


@staff_required()
@_settlement_staff_only
def settlement_job_csv(request: HttpRequest, user: User, job_id: int) -> HttpResponse:
    """The job's report as CSV (UTF-8 with BOM, as Excel opens it): figures, then every error.
    Cells through core.sheets: the file's name and its headers are the uploader's text."""
    job = _job(job_id)
    report = job.report or {}
    buf = io.StringIO()
    w = sheets.csv_writer(buf)
    w.writerow([_("项目"), _("值")])
    w.writerow([_("文件"), job.file_name])
    w.writerow([_("状态"), job.get_status_display()])
    for key in ("rows", "new", "resent", "reversals", "matched", "members_recomputed", "entries"):
        if key in report:
            w.writerow([key, report[key]])
    for plan, amount in (report.get("paid_by_plan") or {}).items():
        w.writerow([f"paid_by_plan.{plan}", amount])
    for reason, n in (report.get("reasons") or {}).items():
        w.writerow([f"reasons.{reason}", n])
    if job.error:
        w.writerow([_("错误"), job.error])
    errors = report.get("errors") or []
    if errors:
        w.writerow([])
        w.writerow([_("行"), _("列"), _("原因")])
        for e in errors:
            w.writerow([e.get("row"), e.get("column"), e.get("reason")])
    response = HttpResponse(
        buf.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="settlement-report-{job.pk}.csv"'
    return response


# -- the audit log --------------------------------------------------------------------------------


def _date(text: str, field: str, problems: list[str]) -> date | None:
    """A filter's date (1900-2099, ASCII digits), or None with the problem noted."""
    if not text:
        return None
    try:
        return bounds.parse_date(text, field)
    except DomainError as exc:
        problems.append(exc.message)
        return None


@staff_required(ROSTER_ROLES)
def audit_log(request: HttpRequest, user: User) -> HttpResponse:
    """Who did what in the subtree: for its admins, not for gate staff, station operators or
    reviewers (whose own decisions are logged here)."""
    f = {
        "action": request.GET.get("action", "").strip(),
        "actor": request.GET.get("actor", "").strip(),
        "since": request.GET.get("since", "").strip(),
        "until": request.GET.get("until", "").strip(),
    }
    problems: list[str] = []
    since, until = _date(f["since"], "since", problems), _date(f["until"], "until", problems)
    qs = selectors.audit_events_visible(
        user, action=f["action"], actor=f["actor"], since=since, until=until
    )
    if problems:
        qs = qs.none()
    page = cursor_page(request, qs, f)
    for event in page:
        event.object_words = _object_words(event.object_type)
    return render(
        request,
        "web/console/audit.html",
        {
            "page": page,
            "f": f,
            "actions": sorted(Action.choices, key=lambda choice: choice[0]),
            "errors": problems,
        },
        status=400 if problems else 200,
    )


# -- statistics -----------------------------------------------------------------------------------


Measure = tuple[str, dict[str, str]]  # a column key and its value axis


def _chart(
    cid: str, title: str, source: str, layout: str, category: str, *measures: Measure
) -> dict[str, str]:
    """A chart for stats.js: its figure (`source`, under /api/v1/stats/), and in `spec` its
    layout (`period`: by month or year, every period shown; `bars`: a bar per named row; `pie`),
    the column naming its bars or slices, and its measures, each on a value axis titled with its
    unit."""
    spec = {
        "layout": layout,
        "category": category,
        "measures": [{"key": key, **axis} for key, axis in measures],
        # Care money spent is labelled with the share of the budget it is.
        "shares": {"spent": "spent_share"} if cid == "care" else {},
    }
    return {
        "id": cid,
        "title": title,
        "source": source,
        "export": source.replace("?", ".xlsx?", 1),
        "spec": json.dumps(spec, ensure_ascii=False),
    }


@staff_required()
def stats(request: HttpRequest, user: User) -> HttpResponse:
    """The statistics dashboard: charts drawn by static/web/stats.js from /api/v1/stats/, for a
    year among those with figures."""
    this_year = timezone.localdate().year
    try:
        year = int(request.GET.get("year", this_year))
    except ValueError:
        year = this_year
    year = min(max(year, this_year - 30), this_year + 1)
    q = f"year={year}"
    money = {"title": _("金额（元）"), "unit": pgettext("计量单位", "元"), "kind": "money"}
    times = {"title": _("人次"), "unit": pgettext("计量单位", "人次"), "kind": "count"}
    count = {"title": _("次数（次）"), "unit": pgettext("计量单位", "次"), "kind": "count"}
    people = {"title": _("人数（人）"), "unit": pgettext("计量单位", "人"), "kind": "count"}
    paid: list[Measure] = [("amount", money), ("persons", times)]
    booked: list[Measure] = [(k, times) for k in ("entries", "booked", "redeemed", "cancelled")]
    charts = [
        _chart("payouts-month", _("互助金给付（按月）"), f"payouts?group_by=month&{q}",
               "period", "key", *paid),
        _chart("payouts-benefit", _("互助金给付（按保障类型）"), f"payouts?group_by=benefit&{q}",
               "pie", "label", ("amount", money)),
        _chart("payouts-district", _("互助金给付（按区）"), f"payouts?group_by=district&{q}",
               "bars", "label", *paid),
        _chart("payouts-year", _("互助金给付（历年）"), "payouts?group_by=year",
               "period", "key", *paid),
        _chart("members", _("参保人数（按计划）"), f"members?{q}",
               "bars", "plan_name", ("members", people)),
        _chart("contributions", _("缴费（按计划）"), f"contributions?group_by=plan&{q}",
               "bars", "plan_name", ("amount", money), ("members", people)),
        _chart("bookings", _("普惠活动预约与核销"), f"bookings?{q}",
               "bars", "activity", *booked),
        _chart("stations", _("驿站服务（按月）"), f"stations?group_by=month&{q}",
               "period", "month", ("visits", count), ("people", times)),
        _chart("care", _("慰问资金与预算"), f"care?{q}",
               "bars", "title", *[(k, money) for k in ("budget", "allocated", "spent")]),
    ]  # fmt: skip
    if user.role not in CARE_ROLES:  # the care figure is refused to them: no chart to fail
        charts = [c for c in charts if c["id"] != "care"]
    years = years_with_data(user=user)
    if year not in years:  # asked for by hand: shown as chosen
        years = sorted([*years, year], reverse=True)
    context = {"org": user.org, "year": year, "years": years, "charts": charts}
    context.update(unit_ranking(request, user, year))
    return render(request, "web/console/stats.html", context)
