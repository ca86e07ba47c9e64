"""The statistics (统计), each a small table scoped to the viewer's subtree.

Every figure is read from summaries kept in the same transaction as the rows they count: the
payout summaries (a few thousand rows a year however long the ledger grows), and the figures
the database's triggers keep of enrolments, bookings, station visits and care money.
`payouts_recounted` and reports.recounts compute the same tables from the raw rows, for checks
and the benchmarks. Only the held payouts are counted from the claims (a few at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import ExtractYear
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.benefits.models import BookingFigures
from huzhu.care.models import CareCampaign, CareFundFigures
from huzhu.care.selectors import CARE_ROLES, care_scope_path
from huzhu.core import bounds
from huzhu.core.errors import DomainError
from huzhu.members.models import Organisation, OrgKind
from huzhu.protection.models import (
    BenefitType,
    Claim,
    ClaimState,
    Enrollment,
    EnrollmentFigures,
    PlanVersion,
)
from huzhu.reports.models import PayoutSummary, PayoutYearSummary
from huzhu.reports.services import DISABILITY, as_date, payout_recount_sql, year_sql
from huzhu.stations.models import StationVisitFigures

TEXT, MONEY, COUNT, PERCENT = "text", "money", "count", "percent"


@dataclass(frozen=True)
class Column:
    key: str
    label: Any  # a lazy translation; Chinese by default
    kind: str = TEXT


@dataclass
class Report:
    name: str
    title: Any
    columns: list[Column]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    # A figure by month or year: every period of its span in order ("2026-01"… or "2001"…),
    # rows or not, so that a chart shows a period without a row as zero. The rows (and the
    # Excel export) keep only the periods that have figures.
    periods: list[str] | None = None

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip([c.key for c in self.columns], r, strict=True)) for r in self.rows]


PAYOUT_GROUPS = ("month", "year", "benefit", "district", "unit")
CONTRIBUTION_GROUPS = ("plan", "unit")
STATION_GROUPS = ("month", "station")


def _check(value: str, allowed: Iterable[str], name: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise DomainError(
            "invalid_request",
            _("%(name)s 只能是 %(allowed)s 之一") % {"name": name, "allowed": ", ".join(allowed)},
            field=name,
        )
    return value


def _year_range(year: int | None) -> tuple[date, date] | None:
    """[1 January, next 1 January) of a year within INTERFACES' bounds (1900-2099)."""
    if year is None:
        return None
    if problem := bounds.year_problem(year):
        raise DomainError("invalid_request", bounds.field_problem("year", problem), field="year")
    return date(year, 1, 1), date(year + 1, 1, 1)


def _months(year: int) -> list[str]:
    return [f"{year:04d}-{m:02d}" for m in range(1, 13)]


def _month_span(keys: list[str]) -> list[str]:
    """Every month from the first to the last of some "YYYY-MM" keys."""
    if not keys:
        return []
    y, m = (int(part) for part in min(keys).split("-"))
    last = tuple(int(part) for part in max(keys).split("-"))
    out = []
    while (y, m) <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _year_span(keys: list[str]) -> list[str]:
    if not keys:
        return []
    return [str(y) for y in range(int(min(keys)), int(max(keys)) + 1)]


def _fen(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(Decimal("0.01"))


# Payouts -------------------------------------------------------------------------------------

PayoutRows = list[tuple[Any, int, int, int]]  # group value, fen, entries, person-times


def _districts_of(unit_ids: Iterable[int]) -> dict[int, Organisation | None]:
    """Each unit's district: its ancestor of kind district (None above district level)."""
    units = Organisation.objects.in_bulk(list(unit_ids))
    ancestor_ids = {int(p) for u in units.values() for p in u.path.strip("/").split("/") if p}
    districts = Organisation.objects.filter(pk__in=ancestor_ids, kind=OrgKind.DISTRICT).in_bulk()
    out: dict[int, Organisation | None] = {}
    for uid, unit in units.items():
        ids = [int(p) for p in unit.path.strip("/").split("/") if p]
        out[uid] = next((districts[i] for i in ids if i in districts), None)
    return out


def _payout_report(group_by: str, grouped: PayoutRows, year: int | None) -> Report:
    label = {
        "month": _("月份"),
        "year": _("年度"),
        "benefit": _("保障类型"),
        "district": _("区总工会"),
        "unit": _("基层工会"),
    }[group_by]
    columns = [Column("key", _("编码")), Column("label", label)]
    if group_by == "unit":
        columns[0] = Column("key", _("单位编码"))
    columns += [
        Column("amount", _("给付金额（元）"), MONEY),
        Column("persons", _("给付人次"), COUNT),
        Column("entries", _("账目笔数"), COUNT),
    ]
    report = Report("payouts", _("互助金给付"), columns)
    totals: dict[tuple[str, str], list[int]] = {}
    if group_by in ("district", "unit"):
        unit_ids = [g for g, *_ in grouped]
        if group_by == "district":
            of = _districts_of(unit_ids)
            names = {u: (d.code, d.name) if d else ("", str(_("（无区）"))) for u, d in of.items()}
        else:
            names = {u.pk: (u.code, u.name) for u in Organisation.objects.filter(pk__in=unit_ids)}
        keyed = [(names[g], fen, n, p) for g, fen, n, p in grouped]
    elif group_by == "benefit":
        labels = {**dict(BenefitType.choices), DISABILITY: _("伤残")}
        keyed = [((g, str(labels.get(g, g or "-"))), fen, n, p) for g, fen, n, p in grouped]
    elif group_by == "year":
        keyed = [((str(int(g)),) * 2, fen, n, p) for g, fen, n, p in grouped]
    else:
        keyed = [((f"{as_date(g):%Y-%m}",) * 2, fen, n, p) for g, fen, n, p in grouped]
    for key, fen, n, p in keyed:
        total = totals.setdefault(key, [0, 0, 0])
        total[0] += int(fen)
        total[1] += int(n)
        total[2] += int(p)
    for (code, name), (fen, n, p) in sorted(totals.items()):
        report.rows.append((code, name, _fen(fen), p, n))
    if group_by == "month":
        assert year is not None  # see _payout_year
        report.periods = _months(year)
    elif group_by == "year":
        report.periods = _year_span([str(r[0]) for r in report.rows])
    return report


def _payout_year(group_by: str, year: int | None) -> int | None:
    if group_by == "month" and year is None:
        return timezone.localdate().year  # 300 months at once are no chart
    return year


def payouts(*, user: User, group_by: str = "month", year: int | None = None) -> Report:
    """Payout money and person-times (see reports.models), from the summaries. Grouped by
    month it covers one year (the current one unless given); otherwise all years unless given,
    read from the yearly roll-up."""
    scope = staff_scope_path(user)
    _check(group_by, PAYOUT_GROUPS, "group_by")
    year = _payout_year(group_by, year)
    qs: Any
    if group_by == "month":
        span = _year_range(year)
        assert span is not None
        qs = PayoutSummary.objects.filter(month__gte=span[0], month__lt=span[1])
    else:
        _year_range(year)
        qs = PayoutYearSummary.objects.all()
        if year is not None:
            qs = qs.filter(year=year)
    qs = qs.filter(unit__path__startswith=scope)
    field_name = {"month": "month", "year": "year", "benefit": "benefit"}.get(group_by, "unit_id")
    grouped = [
        (g, fen, n, p)
        for g, fen, n, p in qs.values(field_name)
        .annotate(fen=Sum("amount_fen"), n=Sum("entries"), p=Sum("persons"))
        .values_list(field_name, "fen", "n", "p")
        .order_by(field_name)
    ]
    return _payout_report(group_by, grouped, year)


def payouts_recounted(*, user: User, group_by: str = "month", year: int | None = None) -> Report:
    """The same table as `payouts`, counted from the raw ledger (slow: for checks)."""
    scope = staff_scope_path(user)
    _check(group_by, PAYOUT_GROUPS, "group_by")
    year = _payout_year(group_by, year)
    column = {
        "month": "r.month",
        "year": year_sql("r.month"),
        "benefit": "r.benefit",
    }.get(group_by, "r.unit_id")
    where, params = ["o.path LIKE %s"], [scope + "%"]
    if (span := _year_range(year)) is not None:
        where.append("r.month >= %s AND r.month < %s")
        params += [str(d) for d in span]  # ISO dates compare as dates and as SQLite text
    sql = (
        f"SELECT {column}, SUM(r.fen), SUM(r.n), SUM(r.persons) FROM ({payout_recount_sql()}) r "
        f'JOIN "{Organisation._meta.db_table}" o ON o.id = r.unit_id '
        f"WHERE {' AND '.join(where)} GROUP BY {column}"
    )
    with connection.cursor() as cur:
        cur.execute(sql, params)
        grouped = list(cur.fetchall())
    return _payout_report(group_by, grouped, year)


# Members and contributions ------------------------------------------------------------------


def _enrollments(user: User, year: int | None) -> Any:
    qs = Enrollment.objects.filter(unit__path__startswith=staff_scope_path(user))
    if (span := _year_range(year)) is not None:
        qs = qs.filter(version__period_start__gte=span[0], version__period_start__lt=span[1])
    return qs


def _figures(user: User, year: int | None) -> Any:
    """The enrolment figures (kept by the database's triggers, EnrollmentFigures) of the
    viewer's subtree: one row per plan version, unit and payer, never a scan of the enrolments."""
    qs = EnrollmentFigures.objects.filter(
        unit__path__startswith=staff_scope_path(user), members__gt=0
    )
    if (span := _year_range(year)) is not None:
        qs = qs.filter(version__period_start__gte=span[0], version__period_start__lt=span[1])
    return qs


def _plan_years_with_two_versions() -> set[tuple[str, int]]:
    """(plan code, year) where two versions of a plan start in one year: a member enrolled in
    both is one person there, which per-version figures cannot tell."""
    rows = (
        PlanVersion.objects.annotate(year=ExtractYear("period_start"))
        .values("plan__code", "year")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return {(r["plan__code"], r["year"]) for r in rows}


def members_covered(*, user: User, year: int | None = None) -> Report:
    """Members enrolled (参保人数) per plan and year of the plan version: the figures' sums,
    people counted once in a plan-year with two versions (from the enrolments, rare)."""
    rows = (
        _figures(user, year)
        .annotate(year=ExtractYear("version__period_start"))
        .values("version__plan__code", "version__plan__name", "year")
        .annotate(members=Sum("members"))
        .order_by("version__plan__code", "year")
    )
    shared = _plan_years_with_two_versions()
    report = Report(
        "members",
        _("参保人数"),
        [
            Column("plan_code", _("计划编码")),
            Column("plan_name", _("计划名称")),
            Column("year", _("年度")),
            Column("members", _("参保人数"), COUNT),
        ],
    )
    for r in rows:
        members = r["members"]
        if (r["version__plan__code"], r["year"]) in shared:
            members = (
                _enrollments(user, year)
                .filter(
                    version__plan__code=r["version__plan__code"],
                    version__period_start__year=r["year"],
                )
                .values("member")
                .distinct()
                .count()
            )
        report.rows.append(
            (r["version__plan__code"], r["version__plan__name"], r["year"], int(members))
        )
    return report


def _yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(Decimal("0.01"))


def contributions(*, user: User, group_by: str = "plan", year: int | None = None) -> Report:
    """Contributions paid (缴费) per plan and year, or per unit, from the enrolment figures."""
    _check(group_by, CONTRIBUTION_GROUPS, "group_by")
    qs = _figures(user, year)
    money_columns = [
        Column("members", _("参保人数"), COUNT),
        Column("amount", _("缴费金额（元）"), MONEY),
    ]
    if group_by == "plan":
        rows = (
            qs.annotate(year=ExtractYear("version__period_start"))
            .values("version__plan__code", "version__plan__name", "year")
            .annotate(members=Sum("members"), fen=Sum("amount_fen"))
            .order_by("version__plan__code", "year")
        )
        report = Report(
            "contributions",
            _("缴费"),
            [
                Column("plan_code", _("计划编码")),
                Column("plan_name", _("计划名称")),
                Column("year", _("年度")),
                *money_columns,
            ],
        )
        report.rows = [
            (
                r["version__plan__code"],
                r["version__plan__name"],
                r["year"],
                int(r["members"]),
                _yuan(r["fen"]),
            )
            for r in rows
        ]
        return report
    units = (
        qs.values("unit__code", "unit__name")
        .annotate(members=Sum("members"), fen=Sum("amount_fen"))
        .order_by("unit__code")
    )
    report = Report(
        "contributions",
        _("缴费"),
        [Column("unit_code", _("单位编码")), Column("unit_name", _("基层工会")), *money_columns],
    )
    report.rows = [
        (r["unit__code"], r["unit__name"], int(r["members"]), _yuan(r["fen"])) for r in units
    ]
    return report


# Benefits, stations, care -------------------------------------------------------------------
# From the figures the database keeps beside the rows (BookingFigures, StationVisitFigures,
# CareFundFigures); reports.recounts counts the same tables from the rows themselves.

BookingRow = tuple[int, str, int, int, int, int]  # activity, title, entries, booked, redeemed...


def booking_report(rows: Iterable[BookingRow]) -> Report:
    report = Report(
        "bookings",
        _("普惠活动预约与核销"),
        [
            Column("activity_id", _("活动编号")),
            Column("activity", _("活动名称")),
            Column("entries", _("报名"), COUNT),
            Column("booked", _("预约成功"), COUNT),
            Column("redeemed", _("已核销"), COUNT),
            Column("cancelled", _("已取消"), COUNT),
        ],
    )
    report.rows = [(a, t, int(n), int(b), int(r), int(c)) for a, t, n, b, r, c in rows]
    return report


def bookings(*, user: User, year: int | None = None) -> Report:
    """Bookings and redemptions per activity, by members of the viewer's subtree (the year
    of booking in Asia/Shanghai), from the booking figures (whose single rows are no counts,
    only their sums: see BookingFigures)."""
    qs = BookingFigures.objects.filter(unit__path__startswith=staff_scope_path(user))
    if year is not None:
        _year_range(year)
        qs = qs.filter(year=year)
    rows = (
        qs.values("activity_id", "activity__title")
        .annotate(n=Sum("entries"), b=Sum("booked"), r=Sum("redeemed"), c=Sum("cancelled"))
        .filter(n__gt=0)
        .values_list("activity_id", "activity__title", "n", "b", "r", "c")
        .order_by("activity_id")
    )
    return booking_report(rows)


def station_report(group_by: str, rows: Iterable[tuple[Any, ...]], year: int | None) -> Report:
    """Rows (month, visits, people) or (station code, name, visits, people)."""
    counts = [Column("visits", _("登记次数"), COUNT), Column("people", _("服务人次"), COUNT)]
    if group_by == "month":
        report = Report("stations", _("驿站服务"), [Column("month", _("月份")), *counts])
        report.rows = [(f"{as_date(m):%Y-%m}", int(v), int(p or 0)) for m, v, p in rows]
        report.periods = _months(year) if year else _month_span([r[0] for r in report.rows])
        return report
    report = Report(
        "stations",
        _("驿站服务"),
        [Column("station_code", _("驿站编码")), Column("station", _("驿站名称")), *counts],
    )
    report.rows = [(code, name, int(v), int(p or 0)) for code, name, v, p in rows]
    return report


def station_visits(*, user: User, group_by: str = "month", year: int | None = None) -> Report:
    """Visits to warm stations of the viewer's subtree: registrations and people (人次), from
    the visit figures (per station and month)."""
    _check(group_by, STATION_GROUPS, "group_by")
    qs = StationVisitFigures.objects.filter(
        station__org__path__startswith=staff_scope_path(user), visits__gt=0
    )
    if (span := _year_range(year)) is not None:
        qs = qs.filter(month__gte=span[0], month__lt=span[1])
    group = ["month"] if group_by == "month" else ["station__code", "station__name"]
    rows = (
        qs.values(*group)
        .annotate(v=Sum("visits"), p=Sum("people"))
        .values_list(*group, "v", "p")
        .order_by(*group)
    )
    return station_report(group_by, rows, year)


def care_report(rows: Iterable[tuple[CareCampaign, Decimal, Decimal, bool]]) -> Report:
    """Rows (campaign, allocated, spent, partial)."""
    report = Report(
        "care",
        _("慰问资金"),
        [
            Column("code", _("活动编码")),
            Column("title", _("活动名称")),
            Column("budget", _("预算（元）"), MONEY),
            Column("allocated", _("已拨付（元）"), MONEY),
            Column("spent", _("已支出（元）"), MONEY),
            Column("spent_share", _("预算执行率"), PERCENT),
            Column("partial", _("仅本级及下级")),
        ],
    )
    for campaign, allocated, spent, partial in rows:
        budget = campaign.budget
        share = (spent / budget).quantize(Decimal("0.0001")) if budget else None
        yes_no = str(_("是")) if partial else str(_("否"))
        report.rows.append((campaign.code, campaign.title, budget, allocated, spent, share, yes_no))
    return report


def care_funds(*, user: User, year: int | None = None) -> Report:
    """Care campaigns' money against budget, from the fund figures: the campaigns run inside
    the viewer's subtree (all their money) and those that put money into it (only the
    subtree's share: `partial`), as care.selectors.campaign_summary counts them."""
    scope = care_scope_path(user)
    qs = _care_campaigns(scope).select_related("org")
    if (span := _year_range(year)) is not None:
        qs = qs.filter(starts_on__gte=span[0], starts_on__lt=span[1])
    campaigns = list(qs.order_by("starts_on", "code"))

    def sums(figures: Any) -> dict[int, tuple[Decimal, Decimal]]:
        rows = (
            figures.filter(campaign__in=[c.pk for c in campaigns])
            .values("campaign_id")
            .annotate(a=Sum("allocated_fen"), s=Sum("spent_fen"))
            .values_list("campaign_id", "a", "s")
        )
        return {c: (_fen(a), _fen(s)) for c, a, s in rows}

    in_scope = CareFundFigures.objects.filter(org__path__startswith=scope)
    everywhere, here = sums(CareFundFigures.objects.all()), sums(in_scope)
    nothing = (Decimal("0.00"), Decimal("0.00"))
    rows = []
    for campaign in campaigns:
        partial = not in_subtree(campaign.org.path, scope)
        allocated, spent = (here if partial else everywhere).get(campaign.pk, nothing)
        rows.append((campaign, allocated, spent, partial))
    return care_report(rows)


def held_for_review(*, user: User, year: int | None = None) -> Report:
    """Bureau settlements whose payouts wait for a reviewer (`review_above`): how many and how
    much the rules give them, per plan, members of the viewer's subtree; counted apart from
    what was paid."""
    qs = Claim.objects.filter(
        member__unit__path__startswith=staff_scope_path(user),
        state__in=(ClaimState.HELD, ClaimState.AWAITING_SECOND_APPROVAL),
        held_amount__isnull=False,
    )
    if year is not None:
        _year_range(year)
        qs = qs.filter(version__period_start__year=year)
    rows = qs.values("plan_code", "version__plan__name").annotate(n=Count("id"))
    amounts: dict[str, Decimal] = {}
    for code, amount in qs.values_list("plan_code", "held_amount"):
        amounts[code] = amounts.get(code, Decimal("0.00")) + (amount or Decimal("0.00"))
    report = Report(
        "held",
        _("待审核的大额给付"),
        [
            Column("plan", _("计划编码")),
            Column("name", _("计划名称")),
            Column("claims", _("笔数"), COUNT),
            Column("amount", _("待审核金额（元）"), MONEY),
        ],
    )
    report.rows = [
        (r["plan_code"], r["version__plan__name"], r["n"], amounts[r["plan_code"]])
        for r in rows.order_by("plan_code")
    ]
    return report


# The years to offer -------------------------------------------------------------------------


def _care_campaigns(scope: str) -> Any:
    """The campaigns run inside the subtree at `scope`, and those that put money into it (as
    care.selectors.campaigns_visible_to finds them, from the fund figures)."""
    funded = CareFundFigures.objects.filter(org__path__startswith=scope, entries__gt=0)
    return CareCampaign.objects.filter(
        Q(org__path__startswith=scope) | Q(pk__in=funded.values("campaign_id"))
    )


def years_with_data(*, user: User) -> list[int]:
    """The years in which the viewer's subtree has any figure: payouts (from the yearly
    summaries), enrolments and contributions (by plan version), bookings and station visits
    (from their figures) and care campaigns (for the roles that see them); most recent first,
    the current year always among them."""
    scope = staff_scope_path(user)
    paid = PayoutYearSummary.objects.filter(unit__path__startswith=scope)
    # A few versions, each asked whether it has an enrolment in scope (not millions of rows).
    enrolled = Enrollment.objects.filter(version=OuterRef("pk"), unit__path__startswith=scope)
    versions = PlanVersion.objects.filter(Exists(enrolled))
    visits = StationVisitFigures.objects.filter(station__org__path__startswith=scope, visits__gt=0)
    booked = (
        BookingFigures.objects.filter(unit__path__startswith=scope)
        .values("year")
        .annotate(n=Sum("entries"))
        .filter(n__gt=0)
    )
    years = {timezone.localdate().year}
    years.update(paid.values_list("year", flat=True).distinct())
    years.update(booked.values_list("year", flat=True))  # in Asia/Shanghai
    days: list[Any] = [*versions.dates("period_start", "year"), *visits.dates("month", "year")]
    if user.role in CARE_ROLES:  # the care figure is refused to the other roles
        days += _care_campaigns(scope).dates("starts_on", "year")
    years.update(day.year for day in days)
    return sorted(years, reverse=True)


Builder = Callable[..., Report]
REPORTS: dict[str, Builder] = {
    "payouts": payouts,
    "members": members_covered,
    "contributions": contributions,
    "bookings": bookings,
    "stations": station_visits,
    "care": care_funds,
    "held": held_for_review,
}
