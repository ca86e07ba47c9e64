"""Member pages through Django's test client: sign-in, card, plans, payouts with reasons in
plain words, booking and cancelling, the voucher, stations near me."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from huzhu.benefits.bookings import booking_create
from huzhu.benefits.models import Booking, BookingStatus, Quota
from huzhu.core import sms
from huzhu.core.errors import Conflict
from huzhu.members.logins import member_login
from huzhu.members.services import card_issue
from tests.benefits.conftest import make_activity
from tests.stations.factories import make_station
from tests.web.conftest import make_plan_with_claims


def test_pages_need_a_member_login(db, tree, city_admin):
    r = Client().get("/m/")
    assert r.status_code == 302 and r["Location"].startswith("/m/login/?next=")
    staff = Client()
    staff.force_login(city_admin)
    assert staff.get("/m/").status_code == 403


def test_sms_sign_in_through_the_page(member, settings: Any, django_capture_on_commit_callbacks):
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.MemoryBackend"
    sms.outbox.clear()
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/m/login/", {"phone": "138 1234 5678", "action": "send"})
    assert r.status_code == 200 and 'name="code"' in r.content.decode()
    code = re.search(r"\d{6}", sms.outbox[-1].text).group(0)  # type: ignore[union-attr]
    r = client.post("/m/login/", {"phone": "13812345678", "code": "000000", "action": "verify"})
    if code != "000000":
        assert r.status_code == 400 and "验证码不正确" in r.content.decode()
    r = client.post(
        "/m/login/", {"phone": "13812345678", "code": code, "action": "verify", "next": "/m/plans/"}
    )
    assert r.status_code == 302 and r["Location"] == "/m/plans/"
    assert client.get("/m/").context["member"] == member


def test_open_redirect_is_refused(member, settings: Any, django_capture_on_commit_callbacks):
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.MemoryBackend"
    sms.outbox.clear()
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/m/login/", {"phone": "13812345678", "action": "send"})
    code = re.search(r"\d{6}", sms.outbox[-1].text).group(0)  # type: ignore[union-attr]
    r = client.post(
        "/m/login/",
        {"phone": "13812345678", "code": code, "action": "verify", "next": "https://evil.example/"},
    )
    assert r["Location"] == "/m/"


def test_card_page_shows_the_card_and_a_masked_id(member, member_client):
    html = member_client.get("/m/").content.decode()
    assert "HZ00000001" in html and member.id_masked in html
    assert member.id_masked.count("*") == 8


def test_plans_and_payouts_say_why_in_words(member, member_client):
    make_plan_with_claims(member)
    html = member_client.get("/m/plans/").content.decode()
    assert "在职职工住院医疗互助保障计划" in html and "1,000.00" in html
    html = member_client.get("/m/payouts/").content.decode()
    assert "免申即享" in html  # the paid claim
    assert "本年度累计自付未超过起付线1000.00元" in html  # the one that paid nothing
    assert html.count("不符合给付条件") == 1 and "已批准" in html
    assert re.search(r"合计\s*<strong>1000.00</strong>", html)


def test_book_show_voucher_and_cancel(tree, member, member_client):
    activity = make_activity(tree.xicheng, quota=3, title="冰雪节门票")
    html = member_client.get("/m/benefits/").content.decode()
    assert (
        "冰雪节门票" in html
        and "剩余名额 <strong data-n>3</strong> / <span data-q>3</span>" in html
    )
    r = member_client.post(f"/m/benefits/{activity.pk}/book/")
    booking = Booking.objects.get(member=member)
    assert r.status_code == 302 and r["Location"] == f"/m/bookings/{booking.pk}/voucher/"
    html = member_client.get(r["Location"]).content.decode()
    booking.refresh_from_db()
    short = booking.short_code
    assert short and "<svg" in html and f"{short[:4]}-{short[4:8]}-{short[8:]}" in html
    assert member.name in html and member.id_masked in html  # for the gate's ID check
    assert "请调亮屏幕" in html
    places = member_client.get(f"/m/benefits/remaining/?ids={activity.pk}").json()
    assert places["activities"] == {str(activity.pk): {"remaining": 2, "quota": 3}}
    r = member_client.post(f"/m/bookings/{booking.pk}/cancel/")
    assert r.status_code == 302
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert Quota.objects.get(activity=activity, day__isnull=True).used == 0
    html = member_client.get(f"/m/bookings/{booking.pk}/voucher/").content.decode()
    assert 'data-voucher-state="cancelled"' in html and "<svg" not in html
    assert "请调亮屏幕" not in html


def test_a_used_or_expired_voucher_is_greyed_out_with_its_state(tree, member, member_client):
    from datetime import timedelta

    from django.utils import timezone

    from huzhu.benefits.bookings import booking_create
    from huzhu.members.logins import member_login

    activity = make_activity(tree.xicheng, title="冰雪节门票")
    booking = booking_create(activity=activity, member=member, actor=member_login(member=member))
    Booking.objects.filter(pk=booking.pk).update(
        status=BookingStatus.REDEEMED, redeemed_at=timezone.now(), redeemed_gate="东门1号"
    )
    html = member_client.get(f"/m/bookings/{booking.pk}/voucher/").content.decode()
    assert 'data-voucher-state="redeemed"' in html and "东门1号" in html
    assert "<svg" not in html and "请调亮屏幕" not in html
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.BOOKED)
    type(activity).objects.filter(pk=activity.pk).update(
        valid_from=timezone.localdate() - timedelta(days=30),
        valid_to=timezone.localdate() - timedelta(days=1),
    )
    html = member_client.get(f"/m/bookings/{booking.pk}/voucher/").content.decode()
    assert 'data-voucher-state="expired"' in html and "<svg" not in html


def test_booking_a_full_activity_says_so(tree, member, member_client, make_member):
    from huzhu.benefits.bookings import booking_create
    from huzhu.members.logins import member_login
    from huzhu.members.services import card_issue

    activity = make_activity(tree.xicheng, quota=1)
    other = make_member(tree.u1, name="王五")
    card_issue(member=other, card_no="HZ00000002")
    booking_create(activity=activity, member=other, actor=member_login(member=other))
    r = member_client.post(f"/m/benefits/{activity.pk}/book/")
    assert r.status_code == 409 and "名额已约满" in r.content.decode()


def test_another_members_voucher_is_not_shown(tree, member, member_client, make_member):
    from huzhu.benefits.bookings import booking_create
    from huzhu.members.logins import member_login
    from huzhu.members.services import card_issue

    activity = make_activity(tree.xicheng)
    other = make_member(tree.u1, name="王五")
    card_issue(member=other, card_no="HZ00000003")
    booking = booking_create(activity=activity, member=other, actor=member_login(member=other))
    r = member_client.get(f"/m/bookings/{booking.pk}/voucher/")
    assert r.status_code == 404 and "HZ1." not in r.content.decode()


def test_stations_near_me(tree, db):
    make_station(tree.u1, name="邮政驿站", lat=39.9100, lng=116.3700)
    make_station(tree.u1, name="远处驿站", lat=40.3000, lng=116.6300)
    html = Client().get("/m/stations/near/", {"lat": "39.9105", "lng": "116.3702"}).content
    text = html.decode()
    assert "邮政驿站" in text and "远处驿站" not in text
    assert Client().get("/m/stations/near/", {"lat": "x"}).status_code == 400


def test_english_switch(member, member_client):
    make_plan_with_claims(member)
    r = member_client.post("/i18n/setlang/", {"language": "en", "next": "/m/payouts/"})
    assert r.status_code == 302
    html = member_client.get("/m/payouts/").content.decode()
    assert 'lang="en"' in html and "My payouts" in html
    assert "total has not passed the deductible of 1000.00 yuan" in html


# -- the opening moment ---------------------------------------------------------------------------


def test_the_places_poll_answers_counts_of_the_asked_activities_and_the_servers_clock(
    tree, member, member_client
):
    open_one = make_activity(tree.xicheng, quota=3, title="冰雪节门票")
    later = make_activity(tree.xicheng, quota=5, opens_in=timedelta(hours=2), title="音乐会")
    closed = make_activity(
        tree.xicheng, opens_in=timedelta(days=-2), closes_in=timedelta(days=-1), title="旧活动"
    )
    before = timezone.now().timestamp() * 1000
    r = member_client.get(
        f"/m/benefits/remaining/?ids={open_one.pk},{later.pk},{closed.pk},x,999999"
    )
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    body = r.json()
    assert before - 1000 <= body["now"] <= timezone.now().timestamp() * 1000 + 1000
    assert body["activities"] == {
        str(open_one.pk): {"remaining": 3, "quota": 3},
        str(later.pk): {"remaining": 5, "quota": 5},
    }
    assert Client().get("/m/benefits/remaining/?ids=1").status_code == 302  # members only


def test_the_places_poll_reads_the_counts_once_a_second_not_once_a_phone(
    tree, member, member_client
):
    activity = make_activity(tree.xicheng, quota=3)
    url = f"/m/benefits/remaining/?ids={activity.pk}"
    member_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert member_client.get(url).json()["activities"][str(activity.pk)]["remaining"] == 3
    assert not [q for q in queries.captured_queries if "benefits_quota" in q["sql"]]


def test_a_card_before_its_opening_waits_with_its_opening_time_by_the_servers_clock(
    tree, member, member_client
):
    activity = make_activity(tree.xicheng, opens_in=timedelta(minutes=30), title="音乐会")
    html = member_client.get("/m/benefits/").content.decode()
    opens_ms = int(activity.opens_at.timestamp() * 1000)
    assert f'data-opens-at="{opens_ms}"' in html
    now_ms = int(re.search(r'data-server-now="(\d+)"', html).group(1))  # type: ignore[union-attr]
    assert abs(now_ms - timezone.now().timestamp() * 1000) < 5000
    card = html[html.index('id="act-') :]
    assert re.search(r"<button[^>]*data-book[^>]*disabled[^>]*>未到预约时间</button>", card, re.S)
    assert "开始预约" in card and "立即预约" not in card.split("</button>")[0].split(">")[-1]


def test_a_sold_out_card_offers_no_booking(tree, member, member_client, make_member):
    activity = make_activity(tree.xicheng, quota=1, title="冰雪节门票")
    other = make_member(tree.u2, name="王五")
    card_issue(member=other, card_no="HZ00000009")
    booking_create(activity=activity, member=other, actor=member_login(member=other))
    html = member_client.get("/m/benefits/").content.decode()
    assert re.search(r"<button[^>]*data-book[^>]*disabled[^>]*>名额已约满</button>", html, re.S)


def test_a_second_activity_of_a_group_is_refused_naming_the_first_and_how_to_change(
    tree, member, member_client, member_user
):
    first = make_activity(tree.xicheng, group="冬季活动", title="冰雪节门票")
    second = make_activity(tree.xicheng, group="冬季活动", title="温泉券")
    booking_create(activity=first, member=member, actor=member_user)
    html = member_client.get("/m/benefits/").content.decode()
    card = html[html.index(f'id="act-{second.pk}"') :].split("</article>")[0]
    assert "已选同组的“冰雪节门票”" in card and "data-book" not in card
    with pytest.raises(Conflict) as exc:
        booking_create(activity=second, member=member, actor=member_user)
    assert exc.value.code == "already_booked_in_group"
    assert "冰雪节门票" in exc.value.message and "取消" in exc.value.message
    assert exc.value.details == {"held_activity": first.pk}
    r = member_client.post(f"/m/benefits/{second.pk}/book/")
    assert r.status_code == 409 and "您已选了同组的“冰雪节门票”" in r.content.decode()


# -- payouts a member understands -----------------------------------------------------------------

ZJ = """
code = "ZJ"
name = "重大疾病互助保障计划"
benefit = "critical_illness"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "40.00"
waiting_days = 0
[critical_illness]
amount = "10000.00"
icd10_prefixes = ["C", "I21", "I63"]
""".encode()


def test_payouts_show_each_stay_with_hospital_dates_arithmetic_and_transfer(tree, enrolled):
    from huzhu.members.models import Member
    from huzhu.protection.enrollments import enrollments_import
    from huzhu.protection.plans import plan_load_toml
    from huzhu.settlement.services import settlements_import
    from tests.settlement.test_import import file, row

    plan_load_toml(ZJ, file="zj.toml")
    enrollments_import(
        f"id_number,plan_code,period_start\n{enrolled},ZJ,2026-01-01\n".encode(), file="e.csv"
    )
    settlements_import(
        file(row("S1", enrolled, "2026-03-01", "12000.00", discharged="2026-03-11"),
             row("S2", enrolled, "2026-02-01", "800.00")),
        file="bureau.csv",
    )  # fmt: skip
    client = Client()
    client.force_login(member_login(member=Member.objects.get()))
    html = client.get("/m/payouts/").content.decode()
    # 800.00 stays below the 1,000.00 deductible; the March stay brings the year to 12,800.00:
    # the first 10,000.00 above the deductible at 50%, the next 1,800.00 at 60%.
    assert "协和医院 · 2026-03-01 入院，2026-03-11 出院" in html
    assert (
        "本次住院医保范围内个人自付 12,000.00 元；本保障期累计 12,800.00 元（此前 800.00 元）"
        in html
    )
    assert (
        "超过起付线 1,000.00 元的部分按比例计算：10,000.00 元 × 50% = 5,000.00 元；"
        "1,800.00 元 × 60% = 1,080.00 元，合计 6,080.00 元" in html
    )
    assert "转账：等待下一个支付批次" in html
    assert "不符合给付条件" in html and "已拒绝" not in html  # the February stay
    # The critical-illness plan covers neither stay's diagnosis: no rows about it at all.
    assert "重大疾病" not in html
