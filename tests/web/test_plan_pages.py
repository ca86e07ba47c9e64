"""Console pages for plans and enrolments."""

from __future__ import annotations

from django.test import Client

from huzhu.accounts.models import Role
from huzhu.protection.models import Enrollment, PlanVersion
from huzhu.protection.plans import plan_load_toml
from tests.settlement.test_import import ZY


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_city_admin_edits_a_version_before_its_first_payout(tree, make_staff):
    version, _ = plan_load_toml(ZY, file="zy.toml")
    client = _client(make_staff(Role.CITY_ADMIN, tree.city))
    page = client.get("/console/plans/")
    assert page.status_code == 200 and "住院医疗" in page.content.decode()
    r = client.post(
        f"/console/plans/{version.pk}/",
        {
            "action": "edit",
            "contribution": "80.00",
            "waiting_days": "60",
            "period_end": "2026-12-31",
        },
    )
    assert r.status_code == 200
    version.refresh_from_db()
    assert (str(version.contribution), version.waiting_days) == ("80.00", 60)


def test_a_frozen_version_refuses_changes_on_the_page(tree, make_staff):
    from django.utils import timezone

    version, _ = plan_load_toml(ZY, file="zy.toml")
    PlanVersion.objects.filter(pk=version.pk).update(frozen_at=timezone.now())
    client = _client(make_staff(Role.CITY_ADMIN, tree.city))
    r = client.post(
        f"/console/plans/{version.pk}/",
        {
            "action": "edit",
            "contribution": "80.00",
            "waiting_days": "60",
            "period_end": "2026-12-31",
        },
    )
    assert r.status_code == 409
    version.refresh_from_db()
    assert str(version.contribution) == "60.00"


def test_district_admin_enrols_a_unit_of_its_own_district_only(tree, make_staff, make_member):
    version, _ = plan_load_toml(ZY, file="zy.toml")
    make_member(tree.u1)
    make_member(tree.u1)
    make_member(tree.u3)
    client = _client(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    r = client.post(f"/console/plans/{version.pk}/", {"action": "enrol", "unit_code": "U1"})
    assert r.status_code == 200 and Enrollment.objects.filter(version=version).count() == 2
    r = client.post(f"/console/plans/{version.pk}/", {"action": "enrol", "unit_code": "U3"})
    assert r.status_code == 404
    assert Enrollment.objects.filter(version=version).count() == 2
    statement = client.get("/console/contributions/?unit=U1&year=2026").content.decode()
    assert "120.00" in statement


def test_gate_staff_cannot_edit_or_enrol(tree, make_staff):
    version, _ = plan_load_toml(ZY, file="zy.toml")
    client = _client(make_staff(Role.GATE, tree.xicheng))
    r = client.post(f"/console/plans/{version.pk}/", {"action": "enrol", "unit_code": "U1"})
    assert r.status_code == 403
    assert client.get("/console/contributions/").status_code == 403
