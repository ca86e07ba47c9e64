"""INTERFACES "Bounds" on the pages: the audit log's date filters lie from 1900-01-01 to
2099-12-31 in ASCII digits, else a 400 naming the field (never a 500, never a silent filter)."""

from __future__ import annotations

import pytest

from huzhu.accounts.models import Role


@pytest.fixture
def admin_page(tree, make_staff, staff_client):
    return staff_client(make_staff(Role.CITY_ADMIN, tree.city))


@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize(
    "value", ["0001-01-01", "1899-12-31", "2100-01-01", "9999-12-31", "٢٠٢٦-01-01", "2026-02-30"]
)
def test_an_audit_filter_date_outside_1900_to_2099_is_a_400_naming_the_field(
    admin_page, field, value
):
    r = admin_page.get("/console/audit/", {field: value})
    assert r.status_code == 400
    assert f"{field}：" in r.content.decode()


def test_audit_filter_dates_on_the_bounds_are_answered(admin_page):
    r = admin_page.get("/console/audit/", {"since": "1900-01-01", "until": "2099-12-31"})
    assert r.status_code == 200
