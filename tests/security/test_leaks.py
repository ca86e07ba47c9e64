"""Leaks and replays (issue 16): nothing outside a caller's subtree answers differently from
something that does not exist, and a gate's nonce replays only that gate login's own scan of the
same code."""

from __future__ import annotations

import json

from django.utils import timezone

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.benefits.bookings import booking_create
from huzhu.benefits.models import Booking, BookingStatus, Scan
from huzhu.benefits.voucher_codes import voucher_code
from huzhu.members.models import Member
from tests.benefits.conftest import make_activity
from tests.conftest import new_id_number


def _body(id_number: str, unit_code: str) -> dict[str, str]:
    return {"id_number": id_number, "name": "王五", "unit_code": unit_code}


def test_creating_a_member_held_elsewhere_answers_as_anything_outside_does(
    tree, make_staff, make_member, api_as
):
    """A district admin registering a person who is a member in another district gets the
    answer of anything outside its subtree (404 `not_found`), not a 403 that says "this person
    is a member elsewhere"; nothing in it names the other union."""
    huairou_member = make_member(tree.u3, name="怀柔会员")
    api = api_as(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    held = api.post("/members", _body(_id(huairou_member), "U1"))
    outside_unit = api.post("/members", _body(new_id_number(), "U3"))
    assert held.status_code == outside_unit.status_code == 404
    assert held.json()["error"]["code"] == outside_unit.json()["error"]["code"] == "not_found"
    assert held.json()["error"]["details"] == {}
    text = json.dumps(held.json(), ensure_ascii=False)  # as read, not as \u-escaped
    for secret in ("怀柔", "U3", huairou_member.id_masked[-4:], str(huairou_member.pk)):
        assert secret not in text
    assert Member.objects.get(pk=huairou_member.pk).unit_id == tree.u3.pk
    assert Member.objects.get(pk=huairou_member.pk).name == "怀柔会员"
    # the probe is in the audit log, for the city to see
    [event] = AuditEvent.objects.filter(action="access.denied", data__code="member_elsewhere")
    assert event.data["status"] == 404
    assert _id(huairou_member) not in str(event.data)


def _id(member: Member) -> str:
    from huzhu.core.pii import vault

    return vault().decrypt(member.id_cipher)


def test_gate_staff_learn_nothing_about_members_by_booking_for_them(
    tree, make_staff, card_holder, api_as
):
    """Booking for a member is for the admins; a gate asking about a member of its district
    and about one outside it gets the same refusal, before anything is looked up."""
    gate = api_as(make_staff(Role.GATE, tree.xicheng))
    ski = make_activity(tree.xicheng, quota=5)
    inside, outside = card_holder(tree.u1), card_holder(tree.u3)
    answers = {
        who: gate.post(f"/activities/{ski.pk}/bookings", {"member": _id(m)})
        for who, m in (("inside", inside), ("outside", outside), ("nobody", None))
        if m is not None
    }
    answers["nobody"] = gate.post(f"/activities/{ski.pk}/bookings", {"member": new_id_number()})
    assert {who: r.status_code for who, r in answers.items()} == dict.fromkeys(answers, 403)
    assert len({r.content for r in answers.values()}) == 1
    assert not Booking.objects.exists()


def test_a_nonce_replayed_by_another_gate_gives_back_nothing_of_the_first_scan(
    tree, make_staff, card_holder, api_as
):
    """A 西城 gate that learnt a 怀柔 gate's nonce sends it with the same gate name and a
    garbage code: it must get its own answer (invalid_code), never the 怀柔 member's name."""
    huairou_gate = make_staff(Role.GATE, tree.huairou)
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=5)
    member = card_holder(tree.u3, name="怀柔滑雪者")
    booking = booking_create(activity=ski, member=member, actor=staff)
    first = api_as(huairou_gate).post(
        "/redemptions", {"code": voucher_code(booking), "gate": "G1", "nonce": "n-42"}
    )
    assert first.json()["member_name"] == "怀柔滑雪者"
    thief = api_as(make_staff(Role.GATE, tree.xicheng))
    r = thief.post("/redemptions", {"code": "garbage", "gate": "G1", "nonce": "n-42"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_code")
    assert "怀柔滑雪者" not in r.content.decode()
    assert "replayed" not in r.json()["error"]["details"]
    # the same login sending another code under the nonce gets that code's own answer too
    r = api_as(huairou_gate).post(
        "/redemptions", {"code": "garbage", "gate": "G1", "nonce": "n-42"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_code")
    assert "怀柔滑雪者" not in r.content.decode()
    # while a true retry (same login, same code, same nonce) still gets the first answer
    retry = api_as(huairou_gate).post(
        "/redemptions", {"code": voucher_code(booking), "gate": "G1", "nonce": "n-42"}
    )
    assert retry.status_code == 200 and retry.json()["replayed"] is True


def test_an_offline_batch_reusing_a_nonce_counts_each_redemption_once(
    tree, make_staff, card_holder, api_as
):
    """Two vouchers uploaded under one nonce: each is its own scan (the second is not answered
    with the first's `redeemed`), and the same scan sent twice is one redemption."""
    gate = make_staff(Role.GATE, tree.huairou)
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    ski = make_activity(tree.huairou, quota=5)
    a, b = (
        booking_create(activity=ski, member=card_holder(tree.u3), actor=staff) for _ in range(2)
    )
    now = timezone.now().isoformat()
    scans = [
        {"code": voucher_code(a), "scanned_at": now, "nonce": "same"},
        {"code": voucher_code(b), "scanned_at": now, "nonce": "same"},
        {"code": voucher_code(a), "scanned_at": now, "nonce": "same"},
    ]
    body = api_as(gate).post("/redemptions/batch", {"gate": "北门", "scans": scans}).json()
    statuses = Booking.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)
    assert set(statuses) == {BookingStatus.REDEEMED}
    assert [r["booking"] for r in body["results"]] == [a.pk, b.pk, a.pk]
    assert body["redeemed"] == 2  # a and b, each once
    assert Scan.objects.count() == 2
    # the whole batch sent again (the answer was lost) counts the same two, redeems nothing new
    again = api_as(gate).post("/redemptions/batch", {"gate": "北门", "scans": scans}).json()
    assert again["redeemed"] == 2
    assert [r["booking"] for r in again["results"]] == [a.pk, b.pk, a.pk]
    assert Scan.objects.count() == 2
