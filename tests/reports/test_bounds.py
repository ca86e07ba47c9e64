"""INTERFACES "Bounds" for statistics: a year asked for lies from 1900 to 2099, as a whole number
in ASCII digits; anything else is a 422 naming `year`, never a 500, on every figure and export.
The console's statistics page keeps its year within reach, whatever it is given."""

from __future__ import annotations

import pytest
from django.test import Client

from huzhu.accounts.models import Role
from huzhu.core.errors import DomainError
from huzhu.reports.selectors import payouts
from tests.conftest import refused_naming

FIGURES = ["payouts", "members", "contributions", "bookings", "stations", "care"]
BAD_YEARS = ["99999999999", "9223372036854775808", "0", "-1", "1899", "2100", "١٩٩٠", "1e3"]


@pytest.fixture
def city(tree, make_staff):
    return make_staff(Role.CITY_ADMIN, tree.city)


@pytest.mark.parametrize("year", BAD_YEARS)
@pytest.mark.parametrize("figure", FIGURES)
def test_a_year_outside_1900_to_2099_is_refused_naming_the_field(city, api_as, figure, year):
    api = api_as(city)
    assert refused_naming(api.get(f"/stats/{figure}?year={year}"), "year")
    assert refused_naming(api.get(f"/stats/{figure}.xlsx?year={year}"), "year")


@pytest.mark.parametrize("year", ["1900", "2099"])
@pytest.mark.parametrize("figure", FIGURES)
def test_a_year_on_the_bounds_is_answered(city, api_as, figure, year):
    api = api_as(city)
    assert api.get(f"/stats/{figure}?year={year}").status_code == 200
    assert api.get(f"/stats/{figure}.xlsx?year={year}").status_code == 200


def test_the_selectors_refuse_what_the_api_refuses(city):
    for year in (99999999999, 1899, 2100):
        with pytest.raises(DomainError) as exc:
            payouts(user=city, group_by="month", year=year)
        assert exc.value.details["field"] == "year"


@pytest.mark.parametrize("year", ["99999999999", "0001", "١٩٩٠", "abc"])
def test_the_console_statistics_page_answers_whatever_year_it_is_given(city, year):
    client = Client()
    client.force_login(city)
    assert client.get(f"/console/stats/?year={year}").status_code == 200
