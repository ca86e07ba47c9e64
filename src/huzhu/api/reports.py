"""Statistics (统计) as JSON for the console's charts and as Excel files, each scoped to the
caller's subtree. Money is a string of yuan with two decimals, never a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import pgettext
from ninja import Field, Query, Router, Schema

from huzhu.accounts.models import User
from huzhu.api.pagination import MAX_OFFSET
from huzhu.core.bounds import Year
from huzhu.core.errors import NotFound
from huzhu.reports.exports import report_xlsx
from huzhu.reports.ranking import (
    MAX_SEARCH,
    MAX_UNIT_PAGE,
    UNIT_PAGE,
    Ranking,
    contributions_by_unit,
    payouts_by_unit,
)
from huzhu.reports.selectors import (
    MONEY,
    PERCENT,
    REPORTS,
    Report,
    bookings,
    care_funds,
    contributions,
    held_for_review,
    members_covered,
    payouts,
    station_visits,
)

router = Router(tags=["stats"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


class ColumnOut(Schema):
    key: str
    label: str
    kind: str


class ReportOut(Schema):
    name: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    # By month or year only: every period of the span in order, a period without a row is zero.
    periods: list[str] | None = None
    # By unit only (a ranking, largest amount first, then by code): `rows` are the units from
    # place `offset` + 1 on, at most `limit`; `total` is how many units match in all.
    total: int | None = None
    offset: int | None = None
    limit: int | None = None


class Filters(Schema):
    group_by: str | None = None
    year: Year | None = None  # 1900-2099 (INTERFACES "Bounds"): a 422 naming it otherwise


class UnitPage(Schema):
    """By unit: the page of the ranking, and a search of the units' names and codes."""

    q: str = Field("", max_length=MAX_SEARCH)
    limit: int = Field(UNIT_PAGE, ge=1, le=MAX_UNIT_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def _cell(value: Any, kind: str) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.4f}" if kind == PERCENT else f"{value:.2f}"
    if kind == MONEY and value is None:
        return "0.00"
    return value


def _out(report: Report) -> dict[str, Any]:
    kinds = {c.key: c.kind for c in report.columns}
    out: dict[str, Any] = {
        "name": report.name,
        "title": str(report.title),
        "columns": [{"key": c.key, "label": str(c.label), "kind": c.kind} for c in report.columns],
        "rows": [{k: _cell(v, kinds[k]) for k, v in row.items()} for row in report.as_dicts()],
        "periods": report.periods,
    }
    if isinstance(report, Ranking):
        out.update(total=report.total, offset=report.offset, limit=report.limit)
    return out


def _kwargs(filters: Filters) -> dict[str, Any]:
    out: dict[str, Any] = {"year": filters.year}
    if filters.group_by:
        out["group_by"] = filters.group_by
    return out


@router.get("/stats/payouts", response=ReportOut, summary="互助金给付：金额与人次")
def stats_payouts(
    request: HttpRequest, filters: Query[Filters], page: Query[UnitPage]
) -> dict[str, Any]:
    """group_by = month | year | benefit | district | unit; year optional (all years without).
    By unit a ranking by amount, paged (`limit`, default 20, at most 500; `offset`) and searched
    (`q`: in the unit's name or code), with `total` units matching."""
    if filters.group_by == "unit":
        ranked = payouts_by_unit(user=actor(request), year=filters.year, **page.model_dump())
        return _out(ranked)
    return _out(payouts(user=actor(request), **_kwargs(filters)))


@router.get("/stats/members", response=ReportOut, summary="参保人数（按计划、年度）")
def stats_members(request: HttpRequest, filters: Query[Filters]) -> dict[str, Any]:
    return _out(members_covered(user=actor(request), year=filters.year))


@router.get("/stats/contributions", response=ReportOut, summary="缴费")
def stats_contributions(
    request: HttpRequest, filters: Query[Filters], page: Query[UnitPage]
) -> dict[str, Any]:
    """group_by = plan | unit. By unit a ranking by amount paid, paged and searched as the
    payouts by unit."""
    if filters.group_by == "unit":
        ranked = contributions_by_unit(user=actor(request), year=filters.year, **page.model_dump())
        return _out(ranked)
    return _out(contributions(user=actor(request), **_kwargs(filters)))


@router.get("/stats/bookings", response=ReportOut, summary="普惠活动预约与核销")
def stats_bookings(request: HttpRequest, filters: Query[Filters]) -> dict[str, Any]:
    return _out(bookings(user=actor(request), year=filters.year))


@router.get("/stats/stations", response=ReportOut, summary="驿站服务")
def stats_stations(request: HttpRequest, filters: Query[Filters]) -> dict[str, Any]:
    """group_by = month | station."""
    return _out(station_visits(user=actor(request), **_kwargs(filters)))


@router.get("/stats/care", response=ReportOut, summary="慰问资金与预算")
def stats_care(request: HttpRequest, filters: Query[Filters]) -> dict[str, Any]:
    return _out(care_funds(user=actor(request), year=filters.year))


@router.get("/stats/held", response=ReportOut, summary="待审核的大额给付")
def stats_held(request: HttpRequest, filters: Query[Filters]) -> dict[str, Any]:
    """Bureau settlements whose payouts wait for a reviewer (`review_above`), per plan."""
    return _out(held_for_review(user=actor(request), year=filters.year))


RANKINGS = {"payouts": payouts_by_unit, "contributions": contributions_by_unit}


@router.get("/stats/{name}.xlsx", summary="统计导出（Excel）")
def stats_xlsx(
    request: HttpRequest,
    name: str,
    filters: Query[Filters],
    q: str = Query("", max_length=MAX_SEARCH),
) -> HttpResponse:
    """name = payouts | members | contributions | bookings | stations | care | held, with the
    same filters as the JSON figure; by unit the whole ranking (every unit matching `q`)."""
    builder = REPORTS.get(name)
    if builder is None:
        raise NotFound(pgettext("未找到", "统计 %(name)s") % {"name": name})
    kwargs = _kwargs(filters) if name in ("payouts", "contributions", "stations") else {}
    kwargs["year"] = filters.year
    if name in RANKINGS and filters.group_by == "unit":
        report: Report = RANKINGS[name](user=actor(request), year=filters.year, q=q)
    else:
        report = builder(user=actor(request), **kwargs)
    response = HttpResponse(report_xlsx(report), content_type=XLSX)
    suffix = f"-{filters.year}" if filters.year else ""
    response["Content-Disposition"] = f'attachment; filename="stats-{name}{suffix}.xlsx"'
    return response
