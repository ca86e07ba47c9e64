"""Pages of every list keep INTERFACES' "no input may cause a 5xx": a limit from 1 to 1,000 and
an offset a database can hold, else a 422 naming the parameter (an offset of 10**20 was a 500)."""

from __future__ import annotations

import pytest

from huzhu.accounts.models import Role
from huzhu.api.pagination import MAX_OFFSET, MAX_PAGE
from tests.conftest import refused_naming

LISTS = [
    "/orgs",
    "/members",
    "/stations",
    "/activities",
    "/bookings",
    "/payment-runs",
    "/approvals",
    "/care/campaigns",
    "/care/labour-models",
]


@pytest.fixture
def city(tree, make_staff):
    return make_staff(Role.CITY_ADMIN, tree.city)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("offset", "99999999999999999999"),
        ("offset", str(MAX_OFFSET + 1)),
        ("offset", "-1"),
        ("limit", "99999999999999999999"),
        ("limit", str(MAX_PAGE + 1)),
        ("limit", "0"),
        ("limit", "١٠"),
    ],
)
def test_a_page_out_of_bounds_is_refused_naming_the_parameter(city, api_as, path, param, value):
    assert refused_naming(api_as(city).get(f"{path}?{param}={value}"), param)


@pytest.mark.parametrize("path", LISTS)
def test_pages_on_the_bounds_are_answered(city, api_as, path):
    api = api_as(city)
    r = api.get(f"{path}?offset={MAX_OFFSET}&limit={MAX_PAGE}")
    assert r.status_code == 200, r.content
    assert r.json()["items"] == []
    assert api.get(f"{path}?offset=0&limit=1").status_code == 200
