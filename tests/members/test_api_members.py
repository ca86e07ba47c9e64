"""Members and organisations through the API: scoping, masking, reveal logging, cards."""

from __future__ import annotations

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent


def test_token_then_me(tree, xicheng_admin, api_as):
    api = api_as(xicheng_admin)
    r = api.get("/auth/me")
    assert r.status_code == 200
    assert r.json()["org_code"] == "BJ02"


def test_wrong_password_is_401_with_error_shape(db):
    from tests.conftest import ApiClient

    r = ApiClient().post("/auth/token", {"username": "nobody", "password": "x"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"


def test_anonymous_gets_401(db):
    from tests.conftest import ApiClient

    r = ApiClient().get("/members")
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message", "details"}


def test_district_admin_sees_only_its_subtree(tree, xicheng_admin, make_member, api_as):
    inside = make_member(tree.u1, name="西城会员")
    outside = make_member(tree.u3, name="怀柔会员")
    api = api_as(xicheng_admin)
    names = [m["name"] for m in api.get("/members").json()["items"]]
    assert names == ["西城会员"]
    assert api.get(f"/members/{inside.pk}").status_code == 200
    assert api.get(f"/members/{outside.pk}").status_code == 404
    codes = {o["code"] for o in api.get("/orgs?limit=100").json()["items"]}
    assert codes == {"BJ02", "BJ02T01", "U1", "U2"}


def test_id_numbers_are_masked_in_lists(tree, xicheng_admin, make_member, api_as):
    member = make_member(tree.u1, id_number="11010219850101001X".replace("001X", "0013"))
    body = api_as(xicheng_admin).get(f"/members/{member.pk}").json()
    assert body["id_number"].startswith("110102********")
    assert len(body["id_number"]) == 18


def test_reveal_is_logged_with_reason(tree, xicheng_admin, make_member, api_as):
    from tests.conftest import new_id_number

    number = new_id_number()
    member = make_member(tree.u1, id_number=number)
    r = api_as(xicheng_admin).post(f"/members/{member.pk}/reveal", {"reason": "核对理赔材料"})
    assert r.status_code == 200
    assert r.json()["value"] == number
    event = AuditEvent.objects.get(action="member.reveal_id")
    assert event.actor == xicheng_admin
    assert event.reason == "核对理赔材料"
    assert event.object_id == str(member.pk)


def test_gate_staff_may_not_reveal(tree, make_staff, make_member, api_as):
    gate = make_staff(Role.GATE, tree.xicheng)
    member = make_member(tree.u1)
    r = api_as(gate).post(f"/members/{member.pk}/reveal", {"reason": "想看"})
    assert r.status_code == 403
    assert not AuditEvent.objects.filter(action="member.reveal_id").exists()


def test_reveal_needs_a_reason(tree, xicheng_admin, make_member, api_as):
    member = make_member(tree.u1)
    r = api_as(xicheng_admin).post(f"/members/{member.pk}/reveal", {"reason": " "})
    assert r.status_code == 400


def test_card_issue_lose_replace_keeps_history(tree, xicheng_admin, make_member, api_as):
    member = make_member(tree.u1)
    api = api_as(xicheng_admin)
    assert api.post(f"/members/{member.pk}/cards", {"card_no": "6200001"}).status_code == 201
    assert api.post(f"/members/{member.pk}/cards", {"card_no": "6200002"}).status_code == 409
    assert api.post("/cards/6200001/report-lost").json()["status"] == "lost"
    new = api.post("/cards/6200001/replace", {"new_card_no": "6200003"})
    assert new.status_code == 201
    assert new.json()["replaces"] == "6200001"
    history = api.get(f"/members/{member.pk}/cards").json()
    assert [(c["card_no"], c["status"]) for c in history] == [
        ("6200001", "replaced"),
        ("6200003", "active"),
    ]


def test_create_member_validates_id_number(tree, xicheng_admin, api_as):
    r = api_as(xicheng_admin).post(
        "/members", {"id_number": "110102198501010010", "name": "李四", "unit_code": "U1"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["details"]["field"] == "id_number"


def test_district_admin_cannot_create_member_outside(tree, xicheng_admin, api_as):
    from tests.conftest import new_id_number

    r = api_as(xicheng_admin).post(
        "/members", {"id_number": new_id_number(), "name": "李四", "unit_code": "U3"}
    )
    assert r.status_code == 404


def test_openapi_schema_is_served(db):
    from django.test import Client

    r = Client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert "/api/v1/auth/token" in r.json()["paths"]
