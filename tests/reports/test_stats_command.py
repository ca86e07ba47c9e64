"""`huzhu stats check` says whether every summary behind the statistics equals a recount of its
rows (exit 1, listing where not), and `huzhu stats recount` rebuilds them all."""

from __future__ import annotations

from datetime import date

import pytest

from huzhu import cli
from huzhu.stations.models import StationVisitFigures
from huzhu.stations.services import station_visit_tally
from tests.stations.factories import make_station

pytestmark = pytest.mark.django_db


def test_check_lists_the_differences_and_recount_mends_them(tree, capsys):
    station_visit_tally(station=make_station(tree.u1), actor=None, on=date(2026, 1, 5), people=3)
    assert cli.main(["stats", "check"]) == 0
    assert "every summary equals a recount" in capsys.readouterr().out
    StationVisitFigures.objects.update(people=4)
    assert cli.main(["stats", "check"]) == 1
    out = capsys.readouterr().out
    assert "station_visit_figures" in out and "stored (1, 4)\trecounted (1, 3)" in out
    assert cli.main(["stats", "recount"]) == 0
    assert cli.main(["stats", "check"]) == 0
