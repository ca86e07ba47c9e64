"""The statistics of bookings, station visits and care money counted from the raw rows, as they
were before the database kept figures of them: the same tables as reports.selectors gives
from the figures, for tests and benchmarks to compare (slow at city scale)."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from huzhu.accounts.models import User
from huzhu.accounts.selectors import staff_scope_path
from huzhu.benefits.models import Booking, BookingStatus
from huzhu.care.selectors import campaign_summary, campaigns_visible_to
from huzhu.reports.selectors import (
    STATION_GROUPS,
    Report,
    _check,
    _year_range,
    booking_report,
    care_report,
    station_report,
)
from huzhu.stations.models import StationVisit


def bookings_recounted(*, user: User, year: int | None = None) -> Report:
    """`selectors.bookings`, counted from the bookings."""
    qs = Booking.objects.filter(member__unit__path__startswith=staff_scope_path(user))
    if year is not None:
        _year_range(year)
        qs = qs.filter(created_at__year=year)  # in Asia/Shanghai, the site's time zone
    rows = (
        qs.values("activity_id", "activity__title")
        .annotate(
            entries=Count("id"),
            booked=Count("id", filter=Q(booked_at__isnull=False)),
            redeemed=Count("id", filter=Q(status=BookingStatus.REDEEMED)),
            cancelled=Count("id", filter=Q(status=BookingStatus.CANCELLED)),
        )
        .values_list("activity_id", "activity__title", "entries", "booked", "redeemed", "cancelled")
        .order_by("activity_id")
    )
    return booking_report(rows)


def station_visits_recounted(
    *, user: User, group_by: str = "month", year: int | None = None
) -> Report:
    """`selectors.station_visits`, counted from the visits."""
    _check(group_by, STATION_GROUPS, "group_by")
    qs = StationVisit.objects.filter(station__org__path__startswith=staff_scope_path(user))
    if (span := _year_range(year)) is not None:
        qs = qs.filter(visited_on__gte=span[0], visited_on__lt=span[1])
    if group_by == "month":
        qs = qs.annotate(m=TruncMonth("visited_on"))
    group = ["m"] if group_by == "month" else ["station__code", "station__name"]
    rows = (
        qs.values(*group)
        .annotate(visits=Count("id"), people=Sum("people"))
        .values_list(*group, "visits", "people")
        .order_by(*group)
    )
    return station_report(group_by, rows, year)


def care_funds_recounted(*, user: User, year: int | None = None) -> Report:
    """`selectors.care_funds`, each campaign summed from its ledger (care.selectors)."""
    qs = campaigns_visible_to(user).select_related("org")
    if (span := _year_range(year)) is not None:
        qs = qs.filter(starts_on__gte=span[0], starts_on__lt=span[1])
    rows = []
    for campaign in qs.order_by("starts_on", "code"):
        s = campaign_summary(campaign=campaign, user=user)
        rows.append((campaign, s.allocated, s.spent, s.partial))
    return care_report(rows)


RECOUNTED = {
    "bookings": bookings_recounted,
    "stations": station_visits_recounted,
    "care": care_funds_recounted,
}
