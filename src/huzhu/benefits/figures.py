"""The booking figures (BookingFigures) kept by the database's triggers: what they count, and
the recount from the bookings that checks and rebuilds them (huzhu.core.figures)."""

from __future__ import annotations

from huzhu.core.figures import Joined, KeptFigures

# A flash crowd books one activity from one unit at once: a figure held by one booking's
# transaction takes the next booking to another row of the same key, up to this many.
SPREAD = 16


def _year(vendor: str) -> str:
    """The year of a booking's creation in Asia/Shanghai, as the statistics' `year=` takes it.
    SQLite keeps UTC text; Shanghai has had no daylight saving since 1991, and none ever at a
    new year."""
    if vendor == "postgresql":
        return "CAST(EXTRACT(YEAR FROM {r}.created_at AT TIME ZONE 'Asia/Shanghai') AS integer)"
    return "CAST(strftime('%Y', substr({r}.created_at, 1, 19), '+8 hours') AS integer)"


BOOKING_FIGURES = KeptFigures(
    name="booking_figures",
    table="benefits_bookingfigures",
    source="benefits_booking",
    keys={
        "activity_id": "{r}.activity_id",
        "unit_id": "m.unit_id",  # the member's unit, now: the figures follow a member who moves
        "year": _year,
    },
    sums={
        "entries": "1",
        "booked": "CASE WHEN {r}.booked_at IS NOT NULL THEN 1 ELSE 0 END",
        "redeemed": "CASE WHEN {r}.status = 'redeemed' THEN 1 ELSE 0 END",
        "cancelled": "CASE WHEN {r}.status = 'cancelled' THEN 1 ELSE 0 END",
    },
    reads=("activity_id", "member_id", "created_at", "booked_at", "status"),
    joined=Joined(table="members_member", alias="m", column="unit_id", by="member_id"),
    spread=SPREAD,
)
