"""The visit figures behind the statistics (驿站服务): kept by the database's triggers per station
and month in the same statement as the visits, so that they always equal a count of the visits,
and the statistic read from them equals the one counted from the visits, by month and by
station, for every viewer and year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from unittest import mock

import pytest

from huzhu.accounts.models import Role
from huzhu.reports.recounts import station_visits_recounted
from huzhu.reports.selectors import station_visits
from huzhu.stations.figures import VISIT_FIGURES
from huzhu.stations.models import StationVisit, StationVisitFigures
from huzhu.stations.services import station_qr_content, station_visit_record, station_visit_tally
from tests.stations.factories import make_station

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewers(tree, make_staff):
    return [
        make_staff(Role.CITY_ADMIN, tree.city),
        make_staff(Role.DISTRICT_ADMIN, tree.xicheng),
        make_staff(Role.UNIT_ADMIN, tree.u3),
    ]


def _equal_to_a_recount(viewers) -> None:
    assert VISIT_FIGURES.stored() == VISIT_FIGURES.recounted()
    for user in viewers:
        for group_by in ("month", "station"):
            for year in (None, 2025, 2026):
                kwargs = {"user": user, "group_by": group_by, "year": year}
                figures, recounted = station_visits(**kwargs), station_visits_recounted(**kwargs)
                assert (figures.rows, figures.periods) == (recounted.rows, recounted.periods)


def test_scans_tallies_corrections_and_deletions_are_counted_as_they_happen(tree, viewers):
    xicheng, huairou = make_station(tree.u1), make_station(tree.u3)
    # 2026-02-28 23:30 in Beijing, then the first minutes of March.
    for at, visitor in (
        (datetime(2026, 2, 28, 15, 30, tzinfo=UTC), "a"),
        (datetime(2026, 2, 28, 16, 5, tzinfo=UTC), "a"),
        (datetime(2026, 2, 28, 16, 6, tzinfo=UTC), "a"),  # the same visitor that day: once
    ):
        station_visit_record(content=station_qr_content(xicheng), visitor=visitor, at=at)
    with mock.patch("django.utils.timezone.localdate", return_value=date(2026, 6, 1)):
        station_visit_tally(station=huairou, actor=None, on=date(2026, 3, 5), people=7)
        station_visit_tally(station=huairou, actor=None, on=date(2025, 12, 31), people=2)
    _equal_to_a_recount(viewers)
    by_month = station_visits(user=viewers[0], group_by="month", year=2026).rows
    assert by_month == [("2026-02", 1, 1), ("2026-03", 2, 8)]
    tally = StationVisit.objects.get(people=7)
    tally.people, tally.visited_on = 9, date(2026, 4, 1)
    tally.save()
    StationVisit.objects.filter(people=2).update(station=xicheng)
    _equal_to_a_recount(viewers)
    StationVisit.objects.filter(station=xicheng, people=1).delete()
    _equal_to_a_recount(viewers)
    assert station_visits(user=viewers[1], group_by="station").rows == [
        (xicheng.code, xicheng.name, 1, 2)
    ]


def test_a_station_handed_to_another_union_is_counted_there(tree, viewers):
    station = make_station(tree.u1)
    station_visit_tally(station=station, actor=None, on=date(2026, 1, 5), people=3)
    assert [r[3] for r in station_visits(user=viewers[1], group_by="station").rows] == [3]
    type(station).objects.filter(pk=station.pk).update(org=tree.u3)
    assert station_visits(user=viewers[1], group_by="station").rows == []
    assert [r[3] for r in station_visits(user=viewers[2], group_by="station").rows] == [3]
    _equal_to_a_recount(viewers)


def test_a_figure_written_past_the_triggers_is_a_difference_a_recount_mends(tree):
    from huzhu.reports.services import summaries_differences, summaries_recount

    station_visit_tally(station=make_station(tree.u1), actor=None, on=date(2026, 1, 5), people=3)
    assert summaries_differences() == []
    StationVisitFigures.objects.update(people=30)
    assert [d.table for d in summaries_differences()] == ["station_visit_figures"]
    summaries_recount()
    assert summaries_differences() == []


def test_leftovers_of_a_flush_in_any_table_order_are_cleared_after_it(tree):
    from django.core.management.sql import emit_post_migrate_signal

    station_visit_tally(station=make_station(tree.u1), actor=None, on=date(2026, 1, 5), people=3)
    StationVisitFigures.objects.all().delete()
    StationVisit.objects.all().delete()
    assert {f.people for f in StationVisitFigures.objects.all()} == {-3}
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert not StationVisitFigures.objects.exists()
