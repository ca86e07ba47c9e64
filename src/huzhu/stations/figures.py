"""The station visit figures (StationVisitFigures) kept by the database's triggers: what they
count, and the recount from the visits that checks and rebuilds them (huzhu.core.figures)."""

from __future__ import annotations

from huzhu.core.figures import KeptFigures


def _month(vendor: str) -> str:
    """The first day of the month of a visit's date (its Beijing date, `visited_on`)."""
    if vendor == "postgresql":
        return "CAST(date_trunc('month', CAST({r}.visited_on AS timestamp)) AS date)"
    return "strftime('%Y-%m-01', {r}.visited_on)"


VISIT_FIGURES = KeptFigures(
    name="station_visit_figures",
    table="stations_stationvisitfigures",
    source="stations_stationvisit",
    keys={"station_id": "{r}.station_id", "month": _month},
    sums={"visits": "1", "people": "{r}.people"},
    reads=("station_id", "visited_on", "people"),
    date_keys=("month",),
)
