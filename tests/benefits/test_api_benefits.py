"""Benefits through the HTTP API: the contract in INTERFACES.md, codes and statuses included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from huzhu.accounts.models import Role
from huzhu.benefits import vouchers
from huzhu.benefits.models import Booking, BookingStatus, Quota, Scan
from huzhu.benefits.redemption import redemption_scan
from huzhu.benefits.selectors import member_hash, total_quota
from huzhu.benefits.voucher_codes import public_key
from huzhu.core.errors import DomainError
from huzhu.members.services import card_report_lost
from tests.benefits.conftest import make_activity


@pytest.fixture
def huairou_admin(tree, make_staff):
    return make_staff(Role.DISTRICT_ADMIN, tree.huairou)


@pytest.fixture
def gate(tree, make_staff):
    return make_staff(Role.GATE, tree.huairou)


def _book(api, activity, **extra):
    return api.post(f"/activities/{activity.pk}/bookings", {}, **extra)


def test_staff_create_an_activity_for_their_subtree(tree, huairou_admin, api_as):
    api = api_as(huairou_admin)
    now = timezone.now()
    body = {
        "title": "职工免费滑雪",
        "venue": "怀柔滑雪场",
        "quota": 8000,
        "group": "2021冬季冰雪",
        "mode": "fcfs",
        "opens_at": "2021-01-13T12:00:00",
        "closes_at": "2021-02-28T23:59:59",
        "valid_from": "2021-01-13",
        "valid_to": "2021-03-15",
        "eligible_org": "BJ16",
    }
    r = api.post("/activities", body)
    assert r.status_code == 201, r.content
    out = r.json()
    assert out["quota"] == 8000 and out["remaining"] == 8000 and out["group"] == "2021冬季冰雪"
    # 12:00 typed without a zone is Beijing time, stored as 04:00 UTC.
    assert out["opens_at"].startswith("2021-01-13T12:00:00+08:00") or out["opens_at"].startswith(
        "2021-01-13T04:00:00"
    )
    assert api.post("/activities", {**body, "eligible_org": "BJ02"}).status_code == 404
    bad = api.post("/activities", {**body, "closes_at": "2021-01-01T00:00:00"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_window"
    key = api.get(f"/activities/{out['id']}/public-key").json()
    assert key["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in key["pem"]
    assert now  # the response keeps the quota; the rows exist, spread over shards
    shards = Quota.objects.filter(activity_id=out["id"], day__isnull=True).order_by("shard")
    assert [(q.shard, q.size, q.used) for q in shards] == [(i, 1000, 0) for i in range(8)]


def test_members_and_gates_may_not_create_activities(tree, gate, card_holder, member_api, api_as):
    body = {
        "title": "t",
        "venue": "v",
        "quota": 1,
        "opens_at": "2021-01-13T12:00:00",
        "closes_at": "2021-02-28T00:00:00",
        "valid_from": "2021-01-13",
        "valid_to": "2021-03-01",
        "eligible_org": "BJ16",
    }
    assert api_as(gate).post("/activities", body).status_code == 403
    member = member_api(card_holder(tree.u3))
    assert member.post("/activities", body).status_code in (403, 404)


def test_member_sees_activities_open_to_it_with_remaining(tree, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou, quota=5)
    make_activity(tree.xicheng, title="西城的活动")
    api = member_api(card_holder(tree.u3))
    items = api.get("/activities").json()["items"]
    assert [(a["id"], a["remaining"], a["window"]) for a in items] == [(ski.pk, 5, "open")]
    assert _book(api, ski).status_code == 201
    assert api.get("/activities").json()["items"][0]["remaining"] == 4


def test_fcfs_books_and_gives_a_voucher(tree, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou, quota=5)
    member = card_holder(tree.u3)
    api = member_api(member)
    r = _book(api, ski)
    assert r.status_code == 201
    booking = r.json()
    assert booking["status"] == "booked" and booking["activity"] == ski.pk
    v = api.get(f"/bookings/{booking['id']}/voucher").json()
    data = vouchers.decode(v["code"], public_key(ski))
    assert (data.activity, data.booking) == (ski.pk, booking["id"])
    assert data.member == member_hash(member)
    png = api.get(f"/bookings/{booking['id']}/voucher.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = api.get(f"/bookings/{booking['id']}/voucher.svg")
    assert svg.status_code == 200 and b"<svg" in svg.content


def test_one_booking_per_exclusive_group(tree, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou, group="2021冬季冰雪", title="滑雪")
    park = make_activity(tree.huairou, group="2021冬季冰雪", title="游园")
    other = make_activity(tree.huairou, title="不在组内")
    api = member_api(card_holder(tree.u3))
    assert _book(api, ski).status_code == 201
    r = _book(api, park)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "already_booked_in_group"
    assert _book(api, ski).json()["error"]["code"] == "already_booked_in_group"
    assert _book(api, other).status_code == 201
    assert _book(api, other).json()["error"]["code"] == "already_booked"


def test_the_database_enforces_one_per_group(tree, card_holder):
    ski = make_activity(tree.huairou, group="G", title="滑雪")
    park = make_activity(tree.huairou, group="G", title="游园")
    member = card_holder(tree.u3)
    Booking.objects.create(activity=ski, member=member, group=ski.group, status="booked")
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(activity=park, member=member, group=park.group, status="booked")
    # a cancelled booking does not count
    Booking.objects.create(activity=park, member=member, group=park.group, status="cancelled")


def test_the_database_refuses_an_oversold_quota(tree):
    ski = make_activity(tree.huairou, quota=1)
    Quota.objects.filter(activity=ski).update(used=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Quota.objects.filter(activity=ski).update(used=F("used") + 1)


def test_sold_out(tree, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou, quota=1)
    assert _book(member_api(card_holder(tree.u3)), ski).status_code == 201
    r = _book(member_api(card_holder(tree.u3)), ski)
    assert r.status_code == 409 and r.json()["error"]["code"] == "sold_out"


def test_window_closed_before_opening_and_after_closing(tree, card_holder, member_api, api_as):
    early = make_activity(tree.huairou, opens_in=timedelta(hours=1), closes_in=timedelta(days=1))
    late = make_activity(tree.huairou, opens_in=timedelta(days=-2), closes_in=timedelta(days=-1))
    api = member_api(card_holder(tree.u3))
    for activity in (early, late):
        r = _book(api, activity)
        assert r.status_code == 409 and r.json()["error"]["code"] == "window_closed"


def test_not_eligible_without_an_active_card(tree, make_member, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou)
    no_card = member_api(make_member(tree.u3))
    r = _book(no_card, ski)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_eligible"
    holder = card_holder(tree.u3)
    card_report_lost(card=holder.cards.get())
    assert _book(member_api(holder), ski).json()["error"]["code"] == "not_eligible"


def test_not_eligible_outside_the_subtree(tree, card_holder, member_api, api_as, city_admin):
    xicheng_only = make_activity(tree.xicheng)
    member = card_holder(tree.u3)
    # a member does not even see it; staff above both book and get not_eligible
    assert _book(member_api(member), xicheng_only).status_code == 404
    r = api_as(city_admin).post(
        f"/activities/{xicheng_only.pk}/bookings", {"member": _id_number(member)}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_eligible"


def _id_number(member):
    from huzhu.core.pii import vault

    return vault().decrypt(member.id_cipher)


def test_staff_book_for_a_member_of_their_subtree(
    tree, card_holder, api_as, xicheng_admin, huairou_admin
):
    ski = make_activity(tree.huairou)
    member = card_holder(tree.u3)
    r = api_as(huairou_admin).post(f"/activities/{ski.pk}/bookings", {"member": _id_number(member)})
    assert r.status_code == 201 and r.json()["member"] == member.pk
    other = card_holder(tree.u3)
    r = api_as(xicheng_admin).post(f"/activities/{ski.pk}/bookings", {"member": _id_number(other)})
    assert r.status_code == 404


def test_idempotency_key_returns_the_first_answer(tree, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou, quota=1)
    api = member_api(card_holder(tree.u3))
    first = _book(api, ski, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _book(api, ski, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Booking.objects.count() == 1
    # a definitive refusal is replayed too, even after the quota came back
    late = member_api(card_holder(tree.u3))
    refused = _book(late, ski, HTTP_IDEMPOTENCY_KEY="k-1")
    assert refused.json()["error"]["code"] == "sold_out"
    api.delete(f"/bookings/{first.json()['id']}")
    assert _book(late, ski, HTTP_IDEMPOTENCY_KEY="k-1").json()["error"]["code"] == "sold_out"
    assert _book(late, ski, HTTP_IDEMPOTENCY_KEY="k-2").status_code == 201


def test_staff_reusing_a_key_for_another_member_is_refused(
    tree, card_holder, api_as, huairou_admin
):
    ski = make_activity(tree.huairou, quota=1)
    first, second, third = (card_holder(tree.u3) for _ in range(3))
    api = api_as(huairou_admin)

    def book(member, key):
        return api.post(
            f"/activities/{ski.pk}/bookings",
            {"member": _id_number(member)},
            HTTP_IDEMPOTENCY_KEY=key,
        )

    assert book(first, "k-1").status_code == 201
    assert book(first, "k-1").status_code == 201  # the same request again: the same answer
    reused = book(second, "k-1")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    # a remembered refusal belongs to its member too
    assert book(second, "k-2").json()["error"]["code"] == "sold_out"
    assert book(third, "k-2").json()["error"]["code"] == "idempotency_key_reused"
    assert Booking.objects.filter(activity=ski).count() == 1


def test_cancel_returns_the_quota(tree, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou, quota=1, group="G")
    park = make_activity(tree.huairou, quota=1, group="G", title="游园")
    api = member_api(card_holder(tree.u3))
    booking = _book(api, ski).json()
    r = api.delete(f"/bookings/{booking['id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api.get(f"/activities/{ski.pk}").json()["remaining"] == 1
    assert api.get(f"/bookings/{booking['id']}/voucher").json()["error"]["code"] == (
        "voucher_cancelled"
    )
    # the group is free again, and the quota can go to somebody else
    assert _book(api, park).status_code == 201
    assert _book(member_api(card_holder(tree.u3)), ski).status_code == 201


def test_members_cannot_see_or_cancel_others_bookings(tree, card_holder, member_api, api_as):
    ski = make_activity(tree.huairou)
    mine = _book(member_api(card_holder(tree.u3)), ski).json()
    other = member_api(card_holder(tree.u3))
    assert other.get(f"/bookings/{mine['id']}").status_code == 404
    assert other.delete(f"/bookings/{mine['id']}").status_code == 404
    assert other.get(f"/bookings/{mine['id']}/voucher").status_code == 404


@pytest.mark.parametrize("role", [Role.GATE, Role.REVIEWER, Role.STATION_OPERATOR])
def test_staff_who_do_not_run_activities_see_no_bookings_or_vouchers(
    tree, card_holder, member_api, make_staff, api_as, role
):
    ski = make_activity(tree.huairou)
    mine = _book(member_api(card_holder(tree.u3)), ski).json()
    api = api_as(make_staff(role, tree.huairou))
    assert api.get("/bookings").status_code == 403
    for path in (f"/bookings/{mine['id']}", f"/bookings/{mine['id']}/voucher"):
        assert api.get(path).status_code == 403, path
    assert api.delete(f"/bookings/{mine['id']}").status_code == 403


@pytest.mark.parametrize("role", [Role.GATE, Role.REVIEWER, Role.STATION_OPERATOR])
def test_staff_who_do_not_run_activities_may_not_book_for_members(
    tree, card_holder, make_staff, api_as, role
):
    ski = make_activity(tree.huairou)
    member = card_holder(tree.u3)
    api = api_as(make_staff(role, tree.huairou))
    r = api.post(f"/activities/{ski.pk}/bookings", {"member": _id_number(member)})
    assert r.status_code == 403 and not Booking.objects.exists()


# -- redemption -----------------------------------------------------------------------------------


@pytest.fixture
def voucher(tree, card_holder, member_api, api_as):
    # Valid since yesterday: an offline scan seen minutes ago may fall on yesterday (just after
    # midnight in Beijing), and must still be within the validity period.
    ski = make_activity(tree.huairou, valid_from=timezone.localdate() - timedelta(days=1))
    api = member_api(card_holder(tree.u3))
    booking = _book(api, ski).json()
    code = api.get(f"/bookings/{booking['id']}/voucher").json()["code"]
    return ski, booking, code, api


def test_redeem_once_then_already_redeemed_with_time_and_gate(voucher, gate, api_as):
    _ski, booking, code, _api = voucher
    g = api_as(gate)
    r = g.post("/redemptions", {"code": code, "gate": "东门1号"})
    assert r.status_code == 200 and r.json()["result"] == "redeemed"
    again = g.post("/redemptions", {"code": code, "gate": "西门2号"})
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "already_redeemed"
    assert error["details"]["gate"] == "东门1号" and error["details"]["redeemed_at"]
    assert Booking.objects.get(pk=booking["id"]).status == BookingStatus.REDEEMED


def test_a_used_voucher_scanned_after_its_validity_says_when_and_where(voucher, gate):
    _ski, _booking, code, _api = voucher
    redemption_scan(code=code, gate="东门1号", actor=gate)
    later = timezone.now() + timedelta(days=90)
    again = redemption_scan(code=code, gate="西门2号", actor=gate, scanned_at=later)
    assert again.result == "already_redeemed" and again.body["gate"] == "东门1号"


def test_scan_nonce_makes_a_retry_idempotent(voucher, gate, api_as):
    _ski, _booking, code, _api = voucher
    g = api_as(gate)
    first = g.post("/redemptions", {"code": code, "gate": "东门1号", "nonce": "n-1"})
    retry = g.post("/redemptions", {"code": code, "gate": "东门1号", "nonce": "n-1"})
    assert first.status_code == retry.status_code == 200
    assert retry.json()["replayed"] is True
    assert Scan.objects.count() == 1


def test_invalid_and_cancelled_vouchers_are_refused_and_logged(voucher, gate, api_as):
    ski, booking, code, api = voucher
    g = api_as(gate)
    r = g.post("/redemptions", {"code": code[:-6] + "AAAAAA", "gate": "东门1号"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_code"
    assert g.post("/redemptions", {"code": "garbage", "gate": "东门1号"}).status_code == 400
    api.delete(f"/bookings/{booking['id']}")
    r = g.post("/redemptions", {"code": code, "gate": "东门1号"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "voucher_cancelled"
    assert sorted(Scan.objects.values_list("result", flat=True)) == [
        "invalid_code",
        "invalid_code",
        "voucher_cancelled",
    ]
    assert g.get(f"/activities/{ski.pk}/revocations").json()["cancelled"] == [booking["id"]]


def test_voucher_outside_its_validity_is_refused(tree, card_holder, member_api, api_as, gate):
    today = timezone.localdate()
    later = make_activity(
        tree.huairou, valid_from=today + timedelta(days=3), valid_to=today + timedelta(days=9)
    )
    api = member_api(card_holder(tree.u3))
    booking = _book(api, later).json()
    code = api.get(f"/bookings/{booking['id']}/voucher").json()["code"]
    r = api_as(gate).post("/redemptions", {"code": code, "gate": "g"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_valid_today"


def test_members_may_not_redeem(voucher):
    _ski, _booking, code, api = voucher
    assert api.post("/redemptions", {"code": code, "gate": "g"}).status_code == 403


def test_offline_gate_uploads_later_and_double_use_is_reported(voucher, gate, api_as):
    ski, booking, code, _api = voucher
    g = api_as(gate)
    kit = g.get(f"/activities/{ski.pk}/public-key").json()
    import base64

    # the gate verifies offline with the downloaded key
    assert vouchers.decode(code, base64.b64decode(kit["public_key"])).booking == booking["id"]
    # used online at the east gate meanwhile, then the offline north gate uploads its scans
    g.post("/redemptions", {"code": code, "gate": "东门"})
    seen = (timezone.now() - timedelta(minutes=5)).isoformat()
    r = g.post(
        "/redemptions/batch",
        {
            "gate": "北门(离线)",
            "scans": [
                {"code": code, "scanned_at": seen, "nonce": "off-1"},
                {"code": "junk", "scanned_at": seen, "nonce": "off-2"},
            ],
        },
    )
    assert r.status_code == 200
    out = r.json()
    assert out["received"] == 2 and out["redeemed"] == 0
    assert [d["gate"] for d in out["double_uses"]] == ["东门"]
    assert [x["result"] for x in out["results"]] == ["already_redeemed", "invalid_code"]
    # uploading the same batch again changes nothing
    again = g.post(
        "/redemptions/batch",
        {"gate": "北门(离线)", "scans": [{"code": code, "scanned_at": seen, "nonce": "off-1"}]},
    )
    assert again.json()["results"][0]["replayed"] is True
    stats = g.get(f"/activities/{ski.pk}/stats").json()
    # the junk code names no activity, so it is logged but not counted here
    assert stats["double_uses"] == 1 and stats["redeemed"] == 1 and stats["scans"] == 2


def test_offline_scan_redeems_at_the_time_it_was_seen(voucher, gate, api_as):
    _ski, booking, code, _api = voucher
    seen = timezone.now() - timedelta(minutes=30)
    r = api_as(gate).post(
        "/redemptions/batch",
        {"gate": "北门", "scans": [{"code": code, "scanned_at": seen.isoformat(), "nonce": "a"}]},
    )
    assert r.json()["redeemed"] == 1
    assert Booking.objects.get(pk=booking["id"]).redeemed_at == seen


def test_stats_for_staff(tree, card_holder, member_api, api_as, huairou_admin, gate):
    ski = make_activity(tree.huairou, quota=3)
    codes = []
    for _ in range(2):
        api = member_api(card_holder(tree.u3))
        b = _book(api, ski).json()
        codes.append(api.get(f"/bookings/{b['id']}/voucher").json()["code"])
    api_as(gate).post("/redemptions", {"code": codes[0], "gate": "g"})
    stats = api_as(huairou_admin).get(f"/activities/{ski.pk}/stats").json()
    assert {k: stats[k] for k in ("quota", "booked", "redeemed", "remaining", "no_shows")} == {
        "quota": 3,
        "booked": 2,
        "redeemed": 1,
        "remaining": 1,
        "no_shows": 0,
    }
    from huzhu.benefits.selectors import activity_stats

    after = activity_stats(ski, today=ski.valid_to + timedelta(days=1))
    assert after.no_shows == 1
    assert member_api(card_holder(tree.u3)).get(f"/activities/{ski.pk}/stats").status_code == 403


def test_quota_change_may_not_go_below_booked(tree, card_holder, member_api, api_as, huairou_admin):
    ski = make_activity(tree.huairou, quota=2, actor=huairou_admin)
    _book(member_api(card_holder(tree.u3)), ski)
    admin = api_as(huairou_admin)
    assert admin.patch(f"/activities/{ski.pk}", {"quota": 0}).json()["error"]["code"] == (
        "quota_below_used"
    )
    r = admin.patch(f"/activities/{ski.pk}", {"quota": 5, "title": "滑雪（加量）"})
    assert (
        r.status_code == 200 and r.json()["remaining"] == 4 and r.json()["title"] == "滑雪（加量）"
    )


def test_per_day_quota(tree, card_holder, member_api, api_as):
    today = timezone.localdate()
    d1, d2 = today + timedelta(days=1), today + timedelta(days=2)
    ski = make_activity(tree.huairou, quota=10, day_quotas={d1: 1, d2: 5})
    api = member_api(card_holder(tree.u3))
    assert _book(api, ski).json()["error"]["code"] == "day_required"
    r = api.post(f"/activities/{ski.pk}/bookings", {"day": d1.isoformat()})
    assert r.status_code == 201 and r.json()["day"] == d1.isoformat()
    other = member_api(card_holder(tree.u3))
    full = other.post(f"/activities/{ski.pk}/bookings", {"day": d1.isoformat()})
    assert full.json()["error"]["code"] == "sold_out"
    assert other.post(f"/activities/{ski.pk}/bookings", {"day": d2.isoformat()}).status_code == 201
    bad = other.post(
        f"/activities/{ski.pk}/bookings", {"day": (today + timedelta(days=3)).isoformat()}
    )
    assert bad.status_code in (400, 409)


# -- lottery --------------------------------------------------------------------------------------


def _lottery(tree, quota, group=None, title="摇号滑雪"):
    activity = make_activity(tree.huairou, quota=quota, mode="lottery", group=group, title=title)
    return activity


def _close(activity):
    type(activity).objects.filter(pk=activity.pk).update(
        opens_at=timezone.now() - timedelta(days=2), closes_at=timezone.now() - timedelta(days=1)
    )
    activity.refresh_from_db()


def test_lottery_registers_draws_reproducibly_and_waitlist_moves_up(
    tree, card_holder, member_api, api_as, huairou_admin
):
    lot = _lottery(tree, quota=3)
    apis = [member_api(card_holder(tree.u3)) for _ in range(6)]
    for api in apis:
        r = _book(api, lot)
        assert r.status_code == 201 and r.json()["status"] == "registered"
    admin = api_as(huairou_admin)
    early = admin.post(f"/activities/{lot.pk}/draw", {"seed": "s"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "window_open"
    _close(lot)
    assert _book(apis[0], lot).json()["error"]["code"] == "window_closed"
    draw = admin.post(f"/activities/{lot.pk}/draw", {"seed": "上证指数 2021-01-20 收盘 3583.09"})
    assert draw.status_code == 200, draw.content
    result = draw.json()
    assert len(result["winners"]) == 3 and len(result["waiting"]) == 3
    # anyone can re-run it from what is published
    from huzhu.benefits.rules import Entry, lottery_draw

    ids = Booking.objects.filter(activity=lot).values_list("pk", "member_id")
    rerun = lottery_draw(
        seed=result["seed"], entries=[Entry(id=i, member=m) for i, m in ids], capacity=3
    )
    assert rerun.winners == result["winners"] and rerun.order == result["entries"]
    assert admin.post(f"/activities/{lot.pk}/draw", {"seed": result["seed"]}).json() == result
    other = admin.post(f"/activities/{lot.pk}/draw", {"seed": "another"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "already_drawn"
    assert apis[0].get(f"/activities/{lot.pk}/draw").status_code in (200, 404)
    statuses = dict(Booking.objects.filter(activity=lot).values_list("pk", "status"))
    assert sorted(statuses[w] for w in result["winners"]) == ["booked"] * 3
    # a winner cancels: the first on the waiting list takes the place
    admin.delete(f"/bookings/{result['winners'][0]}")
    first_waiting = Booking.objects.get(pk=result["waiting"][0])
    assert first_waiting.status == BookingStatus.BOOKED
    assert Quota.objects.get(activity=lot).used == 3


def test_lottery_winners_win_at_most_one_per_group(
    tree, card_holder, member_api, api_as, huairou_admin
):
    ski = _lottery(tree, quota=10, group="冰雪", title="滑雪")
    park = _lottery(tree, quota=10, group="冰雪", title="游园")
    members = [card_holder(tree.u3) for _ in range(4)]
    for m in members:
        api = member_api(m)
        assert _book(api, ski).status_code == 201
        assert _book(api, park).status_code == 201
    _close(ski)
    _close(park)
    admin = api_as(huairou_admin)
    first = admin.post(f"/activities/{ski.pk}/draw", {"seed": "a"}).json()
    second = admin.post(f"/activities/{park.pk}/draw", {"seed": "b"}).json()
    assert len(first["winners"]) == 4
    assert second["winners"] == [] and len(second["excluded"]) == 4
    assert set(Booking.objects.filter(activity=park).values_list("status", flat=True)) == {"lost"}


def test_lottery_registration_refused_when_already_booked_in_group(
    tree, card_holder, member_api, api_as
):
    fcfs = make_activity(tree.huairou, group="冰雪", title="滑雪")
    lot = _lottery(tree, quota=5, group="冰雪", title="游园")
    api = member_api(card_holder(tree.u3))
    assert _book(api, fcfs).status_code == 201
    assert _book(api, lot).json()["error"]["code"] == "already_booked_in_group"


def test_demo_creates_the_huairou_case(db):
    from huzhu.benefits.models import Activity
    from huzhu.demo import demo_load

    demo_load()
    activities = Activity.objects.filter(group__name="2021冬季冰雪")
    assert activities.count() == 3
    assert sum(services_total(a) for a in activities) == 16_000
    from huzhu.accounts.models import User

    assert User.objects.filter(role="member", member__isnull=False).count() >= 2
    demo_load()
    assert Activity.objects.count() == 3


def services_total(activity):
    return total_quota(activity).size


def test_a_quota_has_no_more_shards_than_places(tree, huairou_admin):
    with pytest.raises(DomainError) as refused:
        make_activity(tree.huairou, quota=3, shards=4, actor=huairou_admin)
    assert refused.value.code == "invalid_shards" and refused.value.details["field"] == "shards"
    small = make_activity(tree.huairou, quota=3, actor=huairou_admin)  # by size: one row
    assert Quota.objects.filter(activity=small).count() == 1
