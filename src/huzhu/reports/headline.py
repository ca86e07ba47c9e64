"""The console dashboard's figures of the year (工作台), read from the summaries, never from
the enrolments or the ledger: enrolments from protection.EnrollmentFigures, payouts from
reports.PayoutYearSummary; scoped to the viewer's subtree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from huzhu.accounts.models import User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.protection.models import EnrollmentFigures
from huzhu.reports.models import PayoutYearSummary


@dataclass(frozen=True)
class Headline:
    year: int
    enrolments: int  # 参保人次: enrolments in plan versions starting in the year
    paid: Decimal  # 互助金给付 booked in the year (net of reversals), yuan


def headline_figures(*, user: User, year: int) -> Headline:
    scope = staff_scope_path(user)
    enrolled = EnrollmentFigures.objects.filter(
        unit__path__startswith=scope,
        version__period_start__gte=date(year, 1, 1),
        version__period_start__lt=date(year + 1, 1, 1),
    ).aggregate(n=Sum("members"))["n"]
    fen = PayoutYearSummary.objects.filter(unit__path__startswith=scope, year=year).aggregate(
        fen=Sum("amount_fen")
    )["fen"]
    return Headline(
        year=year,
        enrolments=int(enrolled or 0),
        paid=(Decimal(int(fen or 0)) / 100).quantize(Decimal("0.01")),
    )
