"""Audit gaps (issue 16): edits in the Django admin, refusals, bank file and document downloads
and redemptions all leave an audit event; a phone number is never revealed without a reason."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.benefits.bookings import booking_create
from huzhu.benefits.redemption import redemption_scan
from huzhu.benefits.voucher_codes import voucher_code
from huzhu.members.models import Organisation
from huzhu.members.services import org_create
from huzhu.protection.payments import payment_run_create, payment_run_release
from tests.benefits.conftest import make_activity

PDF = b"%PDF-1.4 invoice\n%%EOF\n"


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def superuser_client(tree, make_staff):
    """The city root's admin, who may use /admin/ (a superuser, as staff_create makes it)."""
    user = make_staff(Role.CITY_ADMIN, tree.city)
    assert user.is_superuser
    client = Client()
    client.force_login(user)
    return user, client


def test_an_edit_in_the_admin_is_audited_with_what_changed(tree, superuser_client):
    user, client = superuser_client
    r = client.post(
        f"/admin/members/organisation/{tree.u2.pk}/change/",
        {"code": "U2", "name": "西城环卫工会（改）", "kind": "unit", "parent": tree.xicheng.pk},
    )
    assert r.status_code == 302, r.content[:2000]
    assert Organisation.objects.get(pk=tree.u2.pk).name == "西城环卫工会（改）"
    [event] = _events("admin.change")
    assert (event.actor_id, event.object_type, event.object_id) == (
        user.pk,
        "members.organisation",
        str(tree.u2.pk),
    )
    assert event.org_path == tree.u2.path
    assert event.data["changes"] == [{"changed": {"fields": ["名称"]}}]


def test_an_addition_and_a_deletion_in_the_admin_are_audited(tree, superuser_client):
    user, client = superuser_client
    r = client.post(
        "/admin/members/organisation/add/",
        {"code": "U9", "name": "新工会", "kind": "unit", "parent": tree.xicheng.pk},
    )
    assert r.status_code == 302, r.content[:2000]
    added = Organisation.objects.get(code="U9")
    assert added.path == f"{tree.xicheng.path}{added.pk}/"  # inside the tree, as org_create puts it
    [event] = _events("admin.add")
    assert (event.actor_id, event.object_id) == (user.pk, str(added.pk))
    r = client.post(f"/admin/members/organisation/{added.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    [event] = _events("admin.delete")
    assert (event.actor_id, event.object_id, event.data["repr"]) == (
        user.pk,
        str(added.pk),
        str(added),
    )


def test_a_bulk_deletion_in_the_admin_is_audited_row_by_row(tree, superuser_client):
    _, client = superuser_client
    extra = [
        org_create(code=f"X{i}", name=f"临时{i}", kind="unit", parent=tree.xicheng)
        for i in range(2)
    ]
    r = client.post(
        "/admin/members/organisation/",
        {"action": "delete_selected", "_selected_action": [o.pk for o in extra], "post": "yes"},
    )
    assert r.status_code == 302
    assert sorted(e.object_id for e in _events("admin.delete")) == sorted(str(o.pk) for o in extra)


def test_refusals_are_audited_in_the_api_and_on_pages(tree, make_staff, api_as):
    gate = make_staff(Role.GATE, tree.xicheng)
    assert api_as(gate).get("/members").status_code == 403
    client = Client()
    client.force_login(gate)
    assert client.get("/console/members/").status_code == 403
    events = _events("access.denied")
    assert [(e.actor_id, e.data["status"], e.data["path"]) for e in events] == [
        (gate.pk, 403, "/api/v1/members"),
        (gate.pk, 403, "/console/members/"),
    ]
    assert events[0].data["code"] == "forbidden"
    assert events[0].org_path == tree.xicheng.path


def test_a_refusal_that_is_a_benefit_rule_is_not_an_access_denial(tree, member_api, make_member):
    """`not_eligible` (no active card) is an answer about the member, not a breach attempt; a
    flash crowd may give thousands of them."""
    ski = make_activity(tree.u1)
    member = make_member(tree.u1)
    r = member_api(member).post(f"/activities/{ski.pk}/bookings")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_eligible")
    assert _events("access.denied") == []


def _released_run(approved_claim, insured, tree, make_staff, city_admin):
    approved_claim(insured, "500.00")
    run = payment_run_create(actor=city_admin).run
    return payment_run_release(actor=make_staff(Role.CITY_ADMIN, tree.city), run=run)


def test_downloading_the_bank_file_is_audited(
    insured, approved_claim, tree, make_staff, city_admin, api_as
):
    run = _released_run(approved_claim, insured, tree, make_staff, city_admin)
    r = api_as(city_admin).get(f"/payment-runs/{run.reference}/file")
    assert r.status_code == 200
    client = Client()
    client.force_login(city_admin)
    assert client.get(f"/console/payments/{run.reference}/bank.csv").status_code == 200
    events = _events("payment.file_download")
    assert [(e.actor_id, e.object_id, e.data["items"]) for e in events] == [
        (city_admin.pk, str(run.pk), 1),
        (city_admin.pk, str(run.pk), 1),
    ]


def test_downloading_a_claim_document_is_audited(
    settings, tmp_path, insured, file_claim, reviewer, api_as
):
    settings.MEDIA_ROOT = tmp_path
    claim = file_claim(insured, documents=[("发票.pdf", SimpleUploadedFile("发票.pdf", PDF))])
    doc = claim.documents.get()
    got = api_as(reviewer).get(f"/claims/{claim.pk}/documents/{doc.pk}")
    assert b"".join(got.streaming_content) == PDF
    client = Client()
    client.force_login(reviewer)
    page = client.get(f"/console/claims/{claim.pk}/documents/{doc.pk}/")
    assert b"".join(page.streaming_content) == PDF
    events = _events("claim.document_download")
    assert [(e.actor_id, e.object_id, e.data["document"]) for e in events] == [
        (reviewer.pk, str(claim.pk), doc.pk),
        (reviewer.pk, str(claim.pk), doc.pk),
    ]
    assert events[0].org_path == insured.unit.path


def test_redemptions_are_audited_online_and_offline(tree, make_staff, card_holder, api_as):
    from django.utils import timezone

    gate = make_staff(Role.GATE, tree.huairou)
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=5)
    first, second = (
        booking_create(activity=ski, member=card_holder(tree.u3), actor=staff) for _ in range(2)
    )
    api = api_as(gate)
    r = api.post("/redemptions", {"code": voucher_code(first), "gate": "东门"})
    assert r.status_code == 200
    again = api.post("/redemptions", {"code": voucher_code(first), "gate": "西门"})
    assert again.status_code == 409
    batch = {
        "gate": "北门(离线)",
        "scans": [{"code": voucher_code(second), "scanned_at": timezone.now().isoformat()}],
    }
    assert api.post("/redemptions/batch", batch).json()["redeemed"] == 1
    events = _events("booking.redeem")
    assert [
        (e.actor_id, e.object_id, e.data["result"], e.data["gate"], e.data["offline"])
        for e in events
    ] == [
        (gate.pk, str(first.pk), "redeemed", "东门", False),
        (gate.pk, str(first.pk), "already_redeemed", "西门", False),
        (gate.pk, str(second.pk), "redeemed", "北门(离线)", True),
    ]
    assert events[0].org_path == first.member.unit.path


def test_a_phone_number_is_not_revealed_without_a_reason(tree, make_staff, make_member, api_as):
    member = make_member(tree.u1, phone="13812345678")
    api = api_as(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    for reason in ("", "   "):
        r = api.post(f"/members/{member.pk}/reveal", {"field": "phone", "reason": reason})
        assert r.status_code == 400, r.content
        assert r.json()["error"]["code"] == "reason_required"
        assert "138" not in r.content.decode()
    assert _events("member.reveal_phone") == []
    r = api.post(f"/members/{member.pk}/reveal", {"field": "phone", "reason": "联系本人"})
    assert r.json()["value"] == "13812345678"
    [event] = _events("member.reveal_phone")
    assert event.reason == "联系本人"


def test_a_member_without_a_phone_still_needs_a_reason_and_a_role(
    tree, make_staff, make_member, api_as
):
    member = make_member(tree.u1)
    gate = api_as(make_staff(Role.GATE, tree.xicheng))
    assert (
        gate.post(f"/members/{member.pk}/reveal", {"field": "phone", "reason": "x"}).status_code
        == 403
    )
    admin = api_as(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    r = admin.post(f"/members/{member.pk}/reveal", {"field": "phone", "reason": ""})
    assert r.status_code == 400


@pytest.mark.postgres
def test_a_scan_is_audited_without_an_extra_round_trip(tree, make_staff, card_holder):
    """The gate's hot path: the scan's log row and its audit event are one statement; the whole
    scan (replay check, lock timeout, activity with its organiser, booking, redemption, log)
    is 8 statements with the transaction's own, one fewer than before it was audited."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    gate = make_staff(Role.GATE, tree.huairou)
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    booking = booking_create(
        activity=make_activity(tree.huairou, quota=5), member=card_holder(tree.u3), actor=staff
    )
    code = voucher_code(booking)
    gate.org  # noqa: B018 - loaded with the login in production (the bearer-token lookup)
    with CaptureQueriesContext(connection) as queries:
        outcome = redemption_scan(code=code, gate="东门", actor=gate, nonce="n1")
    assert outcome.result == "redeemed"
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 8, "\n".join(s[:120] for s in statements)
    [audit] = [s for s in statements if "audit_auditevent" in s]
    assert "INSERT INTO benefits_scan" in audit
    assert _events("booking.redeem")[0].object_id == str(booking.pk)
