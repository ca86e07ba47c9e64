"""Warm stations in the console (职工暖心驿站): the list, a form for a new station and one to
keep a station current. Opening hours are edited day by day, the position is pasted as a map
picker gives it (GCJ-02 from 高德/腾讯 maps, or WGS-84 from a phone). Thin: stations.services
decides who may change what (an operator only its own stations' service fields) and audits."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.core import bounds
from huzhu.core.errors import DomainError, NotFound
from huzhu.members.selectors import orgs_visible_to
from huzhu.stations import geo, rules
from huzhu.stations.hours import (
    DAYS,
    ROW_SPANS,
    DayRow,
    DayState,
    day_names,
    hours_in_words,
    parse_hours,
    week_rows,
    weekly_text_of,
)
from huzhu.stations.models import Service, Station, StationStatus
from huzhu.stations.selectors import STATION_ADMIN_ROLES, station_get_visible, stations_visible_to
from huzhu.stations.services import (
    OPERATOR_FIELDS,
    station_create,
    station_may_manage,
    station_update,
)
from huzhu.web.access import staff_required

TEXT_FIELDS = ("name", "host", "district", "address", "contact_name", "contact_phone", "note")


@staff_required()
def stations(request: HttpRequest, user: User) -> HttpResponse:
    """The stations of the user's subtree (an operator: its own), found by name, code or
    address, with their hours and services in words."""
    query = request.GET.get("q", "").strip()[:100]
    qs = stations_visible_to(user).select_related("org").order_by("org__path", "code")
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(code=query) | Q(address__icontains=query))
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    labels = dict(Service.choices)
    rows = [
        {
            "station": s,
            "hours": _hours_words(s),
            "services": "、".join(str(labels[x]) for x in rules.services_of(s.services)),
        }
        for s in page
    ]
    context = {
        "page": page,
        "rows": rows,
        "q": query,
        "total": page.paginator.count,
        "may_create": user.role in STATION_ADMIN_ROLES,
    }
    return render(request, "web/console/stations.html", context)


def _hours_words(station: Station) -> str:
    try:
        return hours_in_words(parse_hours(station.hours, station.hours_exceptions))
    except ValueError:
        return station.hours


def _posted_rows(request: HttpRequest) -> list[DayRow]:
    return [
        DayRow(
            request.POST.get(f"day{i}", DayState.OFF),
            tuple(
                (request.POST.get(f"day{i}_from{k}", ""), request.POST.get(f"day{i}_to{k}", ""))
                for k in range(1, ROW_SPANS + 1)
            ),
        )
        for i in range(len(DAYS))
    ]


def _posted_hours(request: HttpRequest) -> str:
    """The weekly text: written out when the form shows the text, else composed from the rows."""
    if "hours_text" in request.POST:
        return request.POST["hours_text"]
    try:
        return weekly_text_of(_posted_rows(request))
    except ValueError as exc:
        raise DomainError("invalid_hours", str(exc), field="hours") from None


def _posted_position(request: HttpRequest) -> tuple[float, float, str]:
    """(lat, lng, crs) as pasted; the form's `crs` says which map the point was picked on."""
    crs = request.POST.get("crs", geo.Crs.GCJ02)
    try:
        lat, lng = rules.parse_position(request.POST.get("position", ""))
    except ValueError as exc:
        raise DomainError("invalid_coordinates", str(exc), field="position") from None
    return lat, lng, crs


def _posted_capacity(request: HttpRequest) -> int | None:
    text = request.POST.get("capacity", "").strip()
    return bounds.parse_quota(text, "capacity") if text else None


def _form_context(user: User, station: Station | None, request: HttpRequest) -> dict[str, Any]:
    """What the station form shows: the posted values after an error, else the station's."""
    values: dict[str, Any]
    if request.method == "POST":
        values = {f: request.POST.get(f, "") for f in (*TEXT_FIELDS, "code", "org", "status")}
        values |= {
            "position": request.POST.get("position", ""),
            "crs": request.POST.get("crs", geo.Crs.GCJ02),
            "capacity": request.POST.get("capacity", ""),
            "hours_exceptions": request.POST.get("hours_exceptions", ""),
            "services": request.POST.getlist("services"),
        }
        rows: list[DayRow] | None = _posted_rows(request)
        hours_text = request.POST.get("hours_text")
        if hours_text is not None:
            rows = None
    elif station is not None:
        values = {f: getattr(station, f) for f in TEXT_FIELDS}
        values |= {
            "code": station.code,
            "org": station.org.code,
            "status": station.status,
            "position": rules.position_text(
                *geo.from_wgs84(station.lat, station.lng, geo.Crs.GCJ02)
            ),
            "crs": geo.Crs.GCJ02,
            "capacity": "" if station.capacity is None else str(station.capacity),
            "hours_exceptions": station.hours_exceptions,
            "services": rules.services_of(station.services),
        }
        rows, hours_text = week_rows(station.hours), station.hours
    else:
        values = {"crs": geo.Crs.GCJ02, "status": StationStatus.ACTIVE, "services": []}
        rows, hours_text = [DayRow(DayState.OPEN, (("08:00", "20:00"),))] * len(DAYS), None
    names = day_names()
    return {
        "values": values,
        "days": (
            None
            if rows is None
            else [
                {"i": i, "name": names[i], "state": row.state, "spans": _padded(row)}
                for i, row in enumerate(rows)
            ]
        ),
        "hours_text": hours_text if rows is None else None,
        "services": Service.choices,
        "statuses": StationStatus.choices,
        "orgs": orgs_visible_to(user).order_by("path")[:500],
        "admin": user.role in STATION_ADMIN_ROLES,
        "station": station,
    }


def _padded(row: DayRow) -> list[tuple[int, str, str]]:
    spans = list(row.spans) + [("", "")] * (ROW_SPANS - len(row.spans))
    return [(k + 1, start, end) for k, (start, end) in enumerate(spans[:ROW_SPANS])]


def _org_posted(user: User, request: HttpRequest) -> Any:
    org = orgs_visible_to(user).filter(code=request.POST.get("org", "")).first()
    if org is None:
        raise DomainError("invalid_org", _("请选择所属组织"), field="org")
    return org


def _refused(request: HttpRequest, context: dict[str, Any], exc: DomainError) -> HttpResponse:
    context["error"], context["error_field"] = exc.message, exc.details.get("field")
    return render(request, "web/console/station.html", context, status=exc.status)


@staff_required(STATION_ADMIN_ROLES)
def station_new(request: HttpRequest, user: User) -> HttpResponse:
    """新增驿站: where it is, when it opens, what it offers, who answers."""
    context = _form_context(user, None, request)
    if request.method != "POST":
        return render(request, "web/console/station.html", context)
    try:
        lat, lng, crs = _posted_position(request)
        station = station_create(
            actor=user,
            code=request.POST.get("code", "").strip(),
            org=_org_posted(user, request),
            lat=lat,
            lng=lng,
            crs=crs,
            hours=_posted_hours(request),
            hours_exceptions=request.POST.get("hours_exceptions", ""),
            services=request.POST.getlist("services"),
            capacity=_posted_capacity(request),
            status=request.POST.get("status", StationStatus.ACTIVE),
            **{f: request.POST.get(f, "").strip() for f in TEXT_FIELDS},
        )
    except DomainError as exc:
        return _refused(request, context, exc)
    return HttpResponseRedirect(f"/console/stations/{station.code}/?saved=1")


def _changes(user: User, station: Station, request: HttpRequest) -> dict[str, Any]:
    """The fields the form posted, as station_update takes them: an operator's only its
    OPERATOR_FIELDS, and the position only when it was changed (a GCJ-02 round trip would move
    it by a hair). A field the form did not send is left as it is."""
    post = request.POST
    given: dict[str, Any] = {f: post[f].strip() for f in TEXT_FIELDS if f in post}
    if "hours_text" in post or "day0" in post:
        given["hours"] = _posted_hours(request)
    if "hours_exceptions" in post:
        given["hours_exceptions"] = post["hours_exceptions"]
    if "services_shown" in post:
        given["services"] = post.getlist("services")
    if "capacity" in post:
        given["capacity"] = _posted_capacity(request)
    if "status" in post:
        given["status"] = post["status"]
    shown = rules.position_text(*geo.from_wgs84(station.lat, station.lng, geo.Crs.GCJ02))
    if "position" in post and (post["position"] != shown or post.get("crs") != geo.Crs.GCJ02):
        given["lat"], given["lng"], given["crs"] = _posted_position(request)
    if user.role not in STATION_ADMIN_ROLES:
        return {k: v for k, v in given.items() if k in OPERATOR_FIELDS or k == "crs"}
    if "org" in post:
        given["org"] = _org_posted(user, request)
    return given


@staff_required()
def station_detail(request: HttpRequest, user: User, code: str) -> HttpResponse:
    """A station as its staff keep it: every field for its admins, the service fields for its
    operators, read-only for the other staff of the subtree."""
    try:
        station = station_get_visible(user=user, code=code)
    except NotFound:
        raise Http404 from None
    may_manage = station_may_manage(user, station)
    context = _form_context(user, station, request) | {"may_manage": may_manage}
    if request.method != "POST":
        return render(request, "web/console/station.html", context)
    if not may_manage:
        return render(request, "web/forbidden.html", status=403)
    try:
        station_update(station=station, actor=user, **_changes(user, station, request))
    except DomainError as exc:
        return _refused(request, context, exc)
    return HttpResponseRedirect(f"/console/stations/{station.code}/?saved=1")
