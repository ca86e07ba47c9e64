"""Every members/organisations endpoint is scoped to the caller's subtree: a district admin of
西城 gets 404 for anything in 怀柔, and member logins, gate staff and station operators get no
roster at all."""

from __future__ import annotations

import pytest

from huzhu.accounts.models import Role
from huzhu.members.services import card_issue

OUTSIDE_CALLS = [
    ("get", "/orgs/U3", None, 404),
    ("patch", "/orgs/U3", {"name": "改名"}, 404),
    ("post", "/orgs", {"code": "U9", "name": "新", "kind": "unit", "parent_code": "BJ16"}, 404),
    ("get", "/members/{member}", None, 404),
    ("post", "/members/{member}/reveal", {"reason": "核对"}, 404),
    ("get", "/members/{member}/cards", None, 404),
    ("post", "/members/{member}/cards", {"card_no": "62990001"}, 404),
    ("post", "/cards/62000003/report-lost", None, 404),
    ("post", "/cards/62000003/replace", {"new_card_no": "62990002"}, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), OUTSIDE_CALLS)
def test_district_admin_cannot_reach_another_district(
    tree, xicheng_admin, make_member, api_as, method, path, body, status
):
    outsider = make_member(tree.u3, name="怀柔会员")
    card_issue(member=outsider, card_no="62000003")
    api = api_as(xicheng_admin)
    call = getattr(api, method)
    url = path.format(member=outsider.pk)
    response = call(url, body) if body is not None else call(url)
    assert response.status_code == status, response.content
    assert "error" in response.json()


def test_city_admin_reaches_every_district(tree, city_admin, make_member, api_as):
    outsider = make_member(tree.u3)
    assert api_as(city_admin).get(f"/members/{outsider.pk}").status_code == 200


@pytest.mark.parametrize("role", [Role.GATE, Role.STATION_OPERATOR, Role.REVIEWER])
def test_non_roster_roles_cannot_create_members(tree, make_staff, api_as, role):
    from tests.conftest import new_id_number

    user = make_staff(role, tree.xicheng)
    r = api_as(user).post(
        "/members", {"id_number": new_id_number(), "name": "李四", "unit_code": "U1"}
    )
    assert r.status_code == 403


def test_member_login_sees_no_roster(tree, make_member, api_as):
    from huzhu.accounts.models import User
    from tests.conftest import PASSWORD

    member = make_member(tree.u1, name="会员本人")
    login = User(username="m1", role=Role.MEMBER, member=member)
    login.set_password(PASSWORD)
    login.save()
    api = api_as(login)
    assert api.get("/members").status_code == 403
    assert api.get("/me/member").json()["name"] == "会员本人"


@pytest.mark.parametrize("role", [Role.GATE, Role.STATION_OPERATOR])
def test_gate_staff_and_station_operators_see_no_roster(
    tree, make_staff, make_member, api_as, role
):
    from django.test import Client

    member = make_member(tree.u1, name="西城会员")
    card_issue(member=member, card_no="62000009")
    user = make_staff(role, tree.xicheng)
    api = api_as(user)
    for path in ("/members", f"/members/{member.pk}", f"/members/{member.pk}/cards"):
        r = api.get(path)
        assert r.status_code == 403 and "西城会员" not in r.content.decode(), path
    assert api.post("/cards/62000009/report-lost").status_code == 403
    pages = Client()
    pages.force_login(user)
    assert pages.get("/console/members/").status_code == 403
    assert pages.get(f"/console/members/{member.pk}/").status_code == 403
    assert pages.get("/console/").status_code == 200  # the dashboard's member count stays


def test_reviewers_read_the_roster_but_do_not_change_it(tree, make_staff, make_member, api_as):
    member = make_member(tree.u1)
    api = api_as(make_staff(Role.REVIEWER, tree.xicheng))
    assert api.get(f"/members/{member.pk}").status_code == 200
    assert api.post(f"/members/{member.pk}/cards", {"card_no": "62990003"}).status_code == 403
