"""Figures by workplace union (基层工会) as a ranked table: a city has some 20,000 units, which no
chart can show, so the API and the console give a page of the ranking (the top 20 unless asked
otherwise), a search by name or code, and the whole ranking as the Excel export.

Ranked by amount, largest first; units with the same amount by code, so that every unit has one
place and pages neither repeat nor skip one. Read from the summaries only: payouts from the
yearly roll-up (reports.PayoutYearSummary), contributions and members from the enrolment figures
(protection.EnrollmentFigures); scoped to the viewer's subtree like every statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from huzhu.accounts.models import User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.core import bounds
from huzhu.core.errors import DomainError
from huzhu.protection.models import EnrollmentFigures
from huzhu.reports.models import PayoutYearSummary
from huzhu.reports.selectors import COUNT, MONEY, Column, Report

UNIT_PAGE = 20  # the top N a page shows unless asked otherwise
MAX_UNIT_PAGE = 500
MAX_SEARCH = 100  # characters of a search


@dataclass
class Ranking(Report):
    """A page of a ranking: `rows` from place `offset` + 1 on, `total` units matching in all
    (before paging); `limit` None when every unit is in `rows` (the export)."""

    total: int = 0
    offset: int = 0
    limit: int | None = None


def _yuan(fen: Any) -> Decimal:
    return (Decimal(int(fen or 0)) / 100).quantize(Decimal("0.01"))


def _check_year(year: int | None) -> None:
    if year is not None and (problem := bounds.year_problem(year)):
        raise DomainError("invalid_request", bounds.field_problem("year", problem), field="year")


def _search(qs: QuerySet[Any], q: str) -> QuerySet[Any]:
    q = q.strip()
    if len(q) > MAX_SEARCH:
        raise DomainError(
            "invalid_request",
            bounds.field_problem("q", _("最多 %(n)s 个字符") % {"n": MAX_SEARCH}),
            field="q",
        )
    if not q:
        return qs
    return qs.filter(Q(unit__name__contains=q) | Q(unit__code__icontains=q))


def _ranked(
    report: Report, grouped: QuerySet[Any], fields: tuple[str, ...], limit: int | None, offset: int
) -> Ranking:
    """Every group of `grouped` (one per unit) in ranking order, in one pass over the summaries:
    the total is how many there are, the page a slice of them."""
    if limit is not None and not 1 <= limit <= MAX_UNIT_PAGE:
        raise DomainError(
            "invalid_request",
            bounds.field_problem("limit", bounds.between(1, MAX_UNIT_PAGE, limit)),
            field="limit",
        )
    if offset < 0:
        problem = _("不能为负数：%(value)s") % {"value": offset}
        raise DomainError(
            "invalid_request", bounds.field_problem("offset", problem), field="offset"
        )
    every = list(grouped.order_by("-fen", "unit__code").values_list(*fields))
    page = every[offset:] if limit is None else every[offset : offset + limit]
    return Ranking(
        report.name,
        report.title,
        report.columns,
        rows=page,
        total=len(every),
        offset=offset,
        limit=limit,
    )


def payouts_by_unit(
    *, user: User, year: int | None = None, q: str = "", limit: int | None = None, offset: int = 0
) -> Ranking:
    """Payout money, person-times and entries per unit (as `payouts` by unit), ranked by money:
    all years unless `year`; units whose name contains `q` or whose code contains it."""
    _check_year(year)
    qs = PayoutYearSummary.objects.filter(unit__path__startswith=staff_scope_path(user))
    if year is not None:
        qs = qs.filter(year=year)
    grouped = (
        _search(qs, q)
        .values("unit_id", "unit__code", "unit__name")
        .annotate(fen=Sum("amount_fen"), n=Sum("entries"), p=Sum("persons"))
    )
    report = Report(
        "payouts",
        _("互助金给付"),
        [
            Column("key", _("单位编码")),
            Column("label", _("基层工会")),
            Column("amount", _("给付金额（元）"), MONEY),
            Column("persons", _("给付人次"), COUNT),
            Column("entries", _("账目笔数"), COUNT),
        ],
    )
    ranking = _ranked(report, grouped, ("unit__code", "unit__name", "fen", "p", "n"), limit, offset)
    ranking.rows = [(code, name, _yuan(fen), p, n) for code, name, fen, p, n in ranking.rows]
    return ranking


def contributions_by_unit(
    *, user: User, year: int | None = None, q: str = "", limit: int | None = None, offset: int = 0
) -> Ranking:
    """Members enrolled and contributions paid per unit (as `contributions` by unit), ranked by
    the amount paid: plan versions starting in `year`, or all."""
    _check_year(year)
    qs = EnrollmentFigures.objects.filter(
        unit__path__startswith=staff_scope_path(user), members__gt=0
    )
    if year is not None:
        qs = qs.filter(
            version__period_start__gte=date(year, 1, 1),
            version__period_start__lt=date(year + 1, 1, 1),
        )
    grouped = (
        _search(qs, q)
        .values("unit_id", "unit__code", "unit__name")
        .annotate(members=Sum("members"), fen=Sum("amount_fen"))
    )
    report = Report(
        "contributions",
        _("缴费"),
        [
            Column("unit_code", _("单位编码")),
            Column("unit_name", _("基层工会")),
            Column("members", _("参保人数"), COUNT),
            Column("amount", _("缴费金额（元）"), MONEY),
        ],
    )
    fields = ("unit__code", "unit__name", "members", "fen")
    ranking = _ranked(report, grouped, fields, limit, offset)
    ranking.rows = [(code, name, int(m), _yuan(fen)) for code, name, m, fen in ranking.rows]
    return ranking
