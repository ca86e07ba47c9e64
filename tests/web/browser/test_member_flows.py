"""Member flows in a real browser on a phone-sized screen: SMS sign-in, booking by keyboard and
showing the voucher, live quota, cancelling; finding a warm station without giving a position."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from huzhu.benefits.bookings import booking_create
from huzhu.benefits.models import Booking, BookingStatus
from huzhu.core import sms
from huzhu.members.logins import member_login
from huzhu.members.services import card_issue
from tests.benefits.conftest import make_activity
from tests.stations.factories import make_station
from tests.web.browser.conftest import PHONE, no_horizontal_scroll

pytestmark = pytest.mark.django_db(transaction=True)


def test_member_signs_in_with_an_sms_code(open_page, live_server, member, settings: Any):
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.MemoryBackend"
    sms.outbox.clear()
    page = open_page(PHONE)
    page.goto(live_server.url + "/m/")
    assert "/m/login/" in page.url
    page.get_by_label("手机号").fill("13812345678")
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_label("验证码", exact=True).wait_for()
    code = re.search(r"\d{6}", sms.outbox[-1].text).group(0)  # type: ignore[union-attr]
    page.get_by_label("验证码", exact=True).fill(code)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(live_server.url + "/m/")
    assert "HZ00000001" in page.locator(".membercard").inner_text()
    no_horizontal_scroll(page)


def test_member_books_by_keyboard_sees_live_quota_shows_voucher_and_cancels(
    open_page, live_server, tree, member, member_user, make_member
):
    from playwright.sync_api import expect  # imported here: without Playwright the test skips

    activity = make_activity(tree.xicheng, quota=3, title="冰雪节门票")
    page = open_page(PHONE, user=member_user)
    page.goto(live_server.url + "/m/benefits/")
    remaining = page.locator(f"#remaining-{activity.pk}")
    assert "3 / 3" in remaining.inner_text()

    # Someone else books: the page shows it without a reload (htmx polls every 5 s).
    other = make_member(tree.u2, name="王五")
    card_issue(member=other, card_no="HZ00000009")
    booking_create(activity=activity, member=other, actor=member_login(member=other))
    expect(remaining).to_contain_text("2 / 3", timeout=12_000)

    # Book with the keyboard only: Tab to the button (its focus ring shows), Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        if focused == "立即预约":
            break
    else:
        pytest.fail("the booking button cannot be reached with Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/m/bookings/\d+/voucher/$"))
    booking = Booking.objects.get(member=member)
    assert booking.status == BookingStatus.BOOKED

    qr = page.locator("figure.qr svg")
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 300 and box["height"] >= 300  # scannable
    assert page.locator("[data-voucher-code]").inner_text(timeout=1000) or True
    no_horizontal_scroll(page)

    page.goto(live_server.url + "/m/benefits/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="取消预约").click()
    page.wait_for_url(re.compile(r"cancelled=1"))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert "2 / 3" in page.locator(f"#remaining-{activity.pk}").inner_text()


def test_a_page_opened_before_the_opening_books_at_the_moment_without_a_reload(
    open_page, live_server, tree, member, member_user
):
    """The seed's moment (1月13日12时): the worker opens the page early and waits; the card counts
    down by the server's clock, even on a phone whose own clock is an hour fast, opens for
    booking at the second without a reload, and one tap books."""
    from playwright.sync_api import expect

    activity = make_activity(
        tree.xicheng, quota=5, opens_in=timedelta(seconds=8), title="冰雪节门票"
    )
    page = open_page(PHONE, user=member_user)
    page.clock.install(time=datetime.now() + timedelta(hours=1))
    page.goto(live_server.url + "/m/benefits/")
    form = page.locator(f'form[data-activity="{activity.pk}"]')
    # As the page's script saw it on loading (its later counts correct the clock again).
    expect(form).to_have_attribute("data-state", "before", timeout=1000)
    button = form.locator("[data-book]")
    expect(button).to_be_disabled()
    expect(button).to_have_text("未到预约时间")
    expect(form.locator("[data-countdown]")).to_contain_text(
        re.compile(r"开始预约，还有 00:00:0\d")
    )
    announcer = page.locator("[data-announce]")
    expect(announcer).to_have_text("")  # nothing said while waiting
    expect(button).to_be_enabled(timeout=20_000)
    opened = timezone.now()
    expect(button).to_have_text("立即预约")
    # A screen reader hears the opening once, from the page's one live region.
    expect(announcer).to_have_text("冰雪节门票：现在可以预约")
    assert page.locator("[aria-live]").count() == 1
    assert activity.opens_at - timedelta(milliseconds=500) <= opened
    assert opened - activity.opens_at < timedelta(seconds=2), opened - activity.opens_at
    button.click()
    page.wait_for_url(re.compile(r"/m/bookings/\d+/voucher/$"))
    assert Booking.objects.get(member=member).status == BookingStatus.BOOKED


def test_a_second_phone_sees_sold_out_without_a_reload(
    open_page, live_server, tree, member, member_user, make_member
):
    from playwright.sync_api import expect

    activity = make_activity(tree.xicheng, quota=1, title="冰雪节门票")
    other = make_member(tree.u2, name="王五")
    card_issue(member=other, card_no="HZ00000009")
    first, second = (
        open_page(PHONE, user=member_user),
        open_page(PHONE, user=member_login(member=other)),
    )
    for page in (first, second):
        page.goto(live_server.url + "/m/benefits/")
    waiting = second.locator(f'form[data-activity="{activity.pk}"] [data-book]')
    expect(waiting).to_be_enabled()
    first.locator(f'form[data-activity="{activity.pk}"] [data-book]').click()
    first.wait_for_url(re.compile(r"/m/bookings/\d+/voucher/$"))
    expect(waiting).to_have_text("名额已约满", timeout=12_000)
    expect(waiting).to_be_disabled()
    expect(second.locator("[data-announce]")).to_have_text("冰雪节门票：名额已约满")
    # The count is not a live region of its own: it changes silently between announcements.
    assert second.locator(f"#remaining-{activity.pk}").get_attribute("aria-live") is None

    expect(second.locator(f"#remaining-{activity.pk} [data-sold-out]")).to_be_visible()
    expect(second.locator(f"#remaining-{activity.pk} [data-places]")).to_be_hidden()


def test_a_member_reads_how_each_payout_was_worked_out(open_page, live_server, enrolled):
    from playwright.sync_api import expect

    from huzhu.members.models import Member
    from huzhu.settlement.services import settlements_import
    from tests.settlement.test_import import file, row

    settlements_import(
        file(row("S1", enrolled, "2026-03-01", "12000.00", discharged="2026-03-11"),
             row("S2", enrolled, "2026-02-01", "800.00")),
        file="bureau.csv",
    )  # fmt: skip
    page = open_page(PHONE, user=member_login(member=Member.objects.get()))
    page.goto(live_server.url + "/m/payouts/")
    stay = page.locator("article.payout", has_text="2026-03-01 入院")
    expect(stay).to_contain_text("6080.00")
    workings = stay.locator("details.workings")
    expect(workings).to_contain_text("本保障期累计 12,800.00 元（此前 800.00 元）")
    expect(workings).to_contain_text("10,000.00 元 × 50% = 5,000.00 元")
    expect(workings).to_contain_text("1,800.00 元 × 60% = 1,080.00 元")
    expect(stay).to_contain_text("协和医院")
    expect(page.locator("article.payout", has_text="2026-02-01 入院")).to_contain_text(
        "不符合给付条件"
    )
    no_horizontal_scroll(page)


def test_the_sign_in_tabs_work_by_keyboard_and_only_one_panel_ever_shows(open_page, live_server):
    from playwright.sync_api import expect

    page = open_page(PHONE)
    page.huzhu_watcher.expected = ("ERR_FAILED",)  # the script held back below
    page.route("**/site.js", lambda route: route.abort())  # as before it arrives
    page.goto(live_server.url + "/m/login/")
    expect(page.locator("#panel-password")).to_be_hidden()
    expect(page.locator("#panel-sms")).to_be_visible()
    page.unroute("**/site.js")

    page.goto(live_server.url + "/m/login/")
    sms, password = (
        page.get_by_role("tab", name="短信验证码"),
        page.get_by_role("tab", name="账号密码"),
    )
    expect(sms).to_have_attribute("aria-selected", "true")
    expect(password).to_have_attribute("tabindex", "-1")  # one tab stop for the tab list
    sms.focus()
    page.keyboard.press("ArrowRight")
    expect(password).to_be_focused()
    expect(password).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-password")).to_be_visible()
    expect(page.locator("#panel-sms")).to_be_hidden()
    page.keyboard.press("ArrowLeft")
    expect(sms).to_be_focused()
    expect(page.locator("#panel-sms")).to_be_visible()
    page.keyboard.press("End")
    expect(password).to_be_focused()
    page.keyboard.press("Home")
    expect(sms).to_have_attribute("aria-selected", "true")


def _finder_stations(tree: Any) -> None:
    make_station(tree.u1, name="白塔寺邮政驿站", district="西城区", hours="24/7",
                 address="阜成门内大街 1 号", contact_phone="010-66000000")  # fmt: skip
    make_station(tree.u2, name="新街口环卫驿站", district="西城区", hours="off",
                 address="新街口北大街 3 号")  # fmt: skip
    make_station(tree.u3, name="怀柔滑雪场驿站", district="怀柔区", hours="24/7", address="雁栖镇")


def test_a_worker_who_refuses_the_position_finds_a_station_by_district(
    open_page, live_server, tree
):
    """适老化: the phone's position is refused; the page says so, puts the worker on the district
    choice, and the district's stations are listed with their hours."""
    from playwright.sync_api import expect

    _finder_stations(tree)
    page = open_page(PHONE, permissions=[])
    page.context.clear_permissions()  # the position is refused, as a worker tapping 不允许
    page.goto(live_server.url + "/m/stations/")
    page.get_by_role("button", name="查找我附近的驿站").click()
    status = page.locator("[data-locate-status]")
    expect(status).to_contain_text("您没有允许使用位置信息")
    expect(status).to_contain_text("请在下面选择所在的区")
    district = page.get_by_label("所在的区")
    expect(district).to_be_focused()
    district.select_option("西城区")
    page.get_by_label("只看正在开放的").nth(1).uncheck()
    page.get_by_role("button", name="按区或地址查找").click()
    page.wait_for_url(re.compile(r"/m/stations/search/\?.*district="))
    cards = page.locator("#stations article.station")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("白塔寺邮政驿站")
    expect(cards.nth(0)).to_contain_text("开放时间：全天开放")
    expect(cards.nth(0)).to_contain_text("正在开放")
    expect(cards.nth(1)).to_contain_text("新街口环卫驿站")
    expect(cards.nth(1)).to_contain_text("开放时间：暂停开放")
    expect(page.locator("#stations")).not_to_contain_text("怀柔滑雪场驿站")
    expect(page.get_by_label("所在的区")).to_have_value("西城区")
    no_horizontal_scroll(page)


def test_a_phone_that_cannot_locate_points_to_the_district_or_place(open_page, live_server, tree):
    from playwright.sync_api import expect

    _finder_stations(tree)
    page = open_page(PHONE)
    page.add_init_script("delete Navigator.prototype.geolocation")
    page.goto(live_server.url + "/m/stations/")
    page.get_by_role("button", name="查找我附近的驿站").click()
    expect(page.locator("[data-locate-status]")).to_contain_text("此浏览器无法获取位置")
    expect(page.get_by_label("所在的区")).to_be_focused()
    page.get_by_label("所在的区").select_option("")
    page.get_by_label("地址或地名").fill("阜成门")
    page.get_by_label("地址或地名").press("Enter")
    expect(page.locator("#stations article.station")).to_have_count(1)
    expect(page.locator("#stations")).to_contain_text("白塔寺邮政驿站")


# Every element a finger can use, and for a checkbox its label (the label is the target).
TARGETS_TOO_SMALL = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
  .map(e => (e.type === 'checkbox' || e.type === 'radio') && e.closest('label') ? e.closest('label') : e)
  .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
  .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()])
  .filter(([, r]) => r.width < 44 || r.height < 44)
  .map(([html, r]) => `${html} ${Math.round(r.width)}×${Math.round(r.height)}`)"""

TEXT_UNDER_18PX = """() => [...document.querySelectorAll('main *, header *')]
  .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
  .filter(e => e.getClientRects().length && parseFloat(getComputedStyle(e).fontSize) < 18)
  .map(e => `${e.outerHTML.slice(0, 60)} ${getComputedStyle(e).fontSize}`)"""


def test_every_target_on_the_station_finder_is_44px_and_its_text_18px(open_page, live_server, tree):
    _finder_stations(tree)
    page = open_page(PHONE)
    page.huzhu_watcher.expected = ("status of 400",)  # the unknown district, on purpose
    for path in (
        "/m/stations/",
        "/m/stations/search/?district=西城区",
        "/m/stations/search/?district=x",
    ):
        page.goto(live_server.url + path)
        assert page.evaluate(TARGETS_TOO_SMALL) == [], path
        assert page.evaluate(TEXT_UNDER_18PX) == [], path
        no_horizontal_scroll(page)
    assert page.locator("#stations a", has_text="在地图中打开").count() == 0  # the bad choice
    page.goto(live_server.url + "/m/stations/search/?district=西城区")
    assert page.locator("#stations a", has_text="在地图中打开").count() == 2
    assert page.locator("#stations a", has_text="致电").count() == 1
