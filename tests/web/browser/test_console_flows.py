"""Console flows in a real browser: the gate page redeeming a voucher that its camera sees (a
fake camera playing a picture of the QR code), manual entry, and a roster import with errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import segno

from huzhu.accounts.models import Role
from huzhu.benefits.bookings import booking_create
from huzhu.benefits.models import Booking, BookingStatus
from huzhu.benefits.voucher_codes import voucher_code, voucher_short_code
from huzhu.members.logins import member_login
from huzhu.members.models import Member
from huzhu.web.models import JobStatus, SettlementJob
from tests.benefits.conftest import make_activity
from tests.conftest import new_id_number
from tests.settlement.test_import import file, row
from tests.web.browser.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Page,
    every_field_labelled,
    launch,
    no_horizontal_scroll,
    sign_in_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


def qr_video(code: str, path: Path, width: int = 640, height: int = 480) -> Path:
    """A still .y4m video (YUV 4:2:0) of the code's QR, for Chromium's fake camera."""
    matrix = [list(row) for row in segno.make(code, error="m").matrix]
    n = len(matrix) + 8  # with the quiet zone
    # About 70% of the frame's height: the scanner reads a square of 80% in the middle.
    scale = int(min(width, height) * 0.7) // len(matrix)
    left, top = (width - n * scale) // 2, (height - n * scale) // 2
    luma = bytearray([235]) * (width * height)
    for y, modules in enumerate(matrix):
        for x, dark in enumerate(modules):
            if dark:
                for dy in range(scale):
                    start = (top + (y + 4) * scale + dy) * width + left + (x + 4) * scale
                    luma[start : start + scale] = bytes([16]) * scale
    chroma = bytes([128]) * (width // 2 * height // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 10)
    return path


def _scanned(page: Any) -> None:
    """Wait for the scan's answer. Alone the scanner reads the fake camera in about 2 s; on a
    machine busy with two full suites at once it twice gave no answer within 25 s and 90 s, and
    once within 90 s at a load average of 12 on 2 cores (a benchmark and three suites). As a
    gate worker would, turn the camera off and on again, twice; fail saying what the page
    said."""
    for attempt in range(3):
        try:
            page.wait_for_selector("#result[data-result]", timeout=45_000)
            return
        except Exception:
            said = page.locator("[data-camera-status]").inner_text()
            if attempt == 2:
                pytest.fail(f"no scan answer; the camera status said {said!r}")
            stop = page.locator('[data-action="stop"]')
            if stop.is_visible():
                stop.click()
            page.locator('[data-action="start"]').click()


def test_gate_redeems_a_voucher_its_camera_sees_then_refuses_it_again(
    playwright_session, live_server, tree, member, make_staff, tmp_path
):
    activity = make_activity(tree.xicheng, title="冰雪节门票")
    booking = booking_create(activity=activity, member=member, actor=member_login(member=member))
    code = voucher_code(booking)
    gate_user = make_staff(Role.GATE, tree.xicheng)
    video = qr_video(code, tmp_path / "qr.y4m")
    browser = launch(
        playwright_session,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        context = browser.new_context(viewport=PHONE, locale="zh-CN", permissions=["camera"])
        context.set_default_timeout(15_000)
        sign_in_cookie(context, live_server.url, gate_user)
        page = context.new_page()
        watcher = Page(page)
        watcher.expected = ("status of 409",)  # the second scan's answer: already redeemed
        page.goto(live_server.url + "/console/gate/")
        every_field_labelled(page)
        page.get_by_role("button", name="打开摄像头扫码").click()
        result = page.locator("#result")
        _scanned(page)
        assert result.get_attribute("data-result") == "ok", result.inner_text()
        assert "核销成功" in result.inner_text() and member.name in result.inner_text()
        color = page.evaluate("getComputedStyle(document.querySelector('#result')).backgroundColor")
        assert color == "rgb(27, 94, 32)"  # green
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "console-gate-redeemed-360.png"), full_page=True)
        booking.refresh_from_db()
        assert booking.status == BookingStatus.REDEEMED
        assert booking.redeemed_gate == f"web-{gate_user.username}"
        page.get_by_role("button", name="关闭摄像头").click()

        # The same voucher's short code typed in by hand, in lower case with spaces: red, with
        # when and where it was used.
        short = voucher_short_code(booking).lower()
        page.get_by_label("手动输入凭证码").fill(f"{short[:4]} {short[4:8]} {short[8:]}")
        page.get_by_role("button", name="核销", exact=True).click()
        page.wait_for_selector('#result[data-result="bad"]')
        text = result.inner_text()
        assert "凭证已使用" in text and f"web-{gate_user.username}" in text
        page.screenshot(path=str(SCREENSHOTS / "console-gate-refused-360.png"), full_page=True)
        no_horizontal_scroll(page)
        watcher.check()
    finally:
        browser.close()
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.REDEEMED


def test_roster_import_with_errors_shows_the_report_then_keeps_the_good_rows(
    open_page, live_server, tree, make_staff
):
    admin = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    good = new_id_number()
    data = (
        "身份证号,姓名,单位编码,手机号\n"
        f"{good},好人,U1,13800001111\n"
        "110101199003071235,坏号,U1,13800002222\n"
        f"{new_id_number()},外区,U3,\n"
    ).encode()
    page = open_page(DESKTOP, user=admin)
    page.huzhu_watcher.expected = ("status of 400",)  # a refused file is answered 400
    page.goto(live_server.url + "/console/import/members/")
    every_field_labelled(page)
    upload: dict[str, Any] = {"name": "roster.csv", "mimeType": "text/csv", "buffer": data}
    page.get_by_label("名册文件（CSV 或 Excel .xlsx）").set_input_files(upload)
    page.get_by_role("button", name="导入").click()
    page.wait_for_selector("table.report")
    assert "发现 2 处错误，未导入任何数据" in page.locator("[role=alert]").inner_text()
    rows = page.locator("table.report tbody tr").all_inner_texts()
    assert rows[0].startswith("3\t身份证号") and rows[1].startswith("4\t单位编码"), rows
    assert "不在您的组织范围内" in rows[1]
    assert not Member.objects.exists()

    page.get_by_label("名册文件（CSV 或 Excel .xlsx）").set_input_files(upload)
    page.get_by_label("跳过错误行，导入正确的行").check()
    page.get_by_role("button", name="导入").click()
    page.wait_for_selector("[role=status]")
    assert "新增 1 人" in page.locator("[role=status]").inner_text()
    assert list(Member.objects.values_list("name", flat=True)) == ["好人"]


def test_settlement_upload_runs_in_the_background_and_the_page_follows_it(
    open_page, live_server, tree, enrolled, make_staff, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    city = make_staff(Role.CITY_ADMIN, tree.city)
    data = file(
        row("S1", enrolled, "2026-03-01", "12000.00"),
        row("S2", enrolled, "2026-02-01", "800.00"),
    )
    page = open_page(DESKTOP, user=city)
    page.goto(live_server.url + "/console/settlements/")
    every_field_labelled(page)
    page.get_by_label("结算文件").set_input_files(
        {"name": "bureau.csv", "mimeType": "text/csv", "buffer": data}
    )
    page.get_by_role("button", name="开始导入").click()
    page.wait_for_selector('[data-job-status="done"]', timeout=20_000)
    assert "已完成" in page.locator(".jobstate").inner_text()
    # 800 stays below the 1,000 deductible; then 12,800 for the year: 9,000 at 50% and
    # 2,800 at 60% → 6,080.
    assert "住院医疗（ZY）：6080.00" in page.locator("#job").inner_text()
    assert "未超过起付线：1 条" in page.locator("#job").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载报告（CSV）").click()
    report = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "rows,2" in report and "reasons.BELOW_DEDUCTIBLE,1" in report
    job = SettlementJob.objects.get()
    assert job.status == JobStatus.DONE and job.finished_at is not None


def test_an_activity_created_in_the_console_is_booked_by_a_member_at_its_opening(
    open_page, live_server, tree, make_staff, make_member
):
    """A district official fills the form (opening in a few seconds, Beijing time); a member
    who has the benefits page open sees the card appear on reload, waits, and books it."""
    import re
    from datetime import timedelta

    from django.utils import timezone
    from playwright.sync_api import expect

    from huzhu.benefits.models import Activity
    from huzhu.members.services import card_issue

    official = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    worker = make_member(tree.u1, name="赵预约")
    card_issue(member=worker, card_no="HZ77770001")
    console = open_page(DESKTOP, user=official)
    console.goto(live_server.url + "/console/activities/")
    console.get_by_role("link", name="新建活动").click()
    every_field_labelled(console)
    beijing = timezone.localtime() + timedelta(seconds=12)
    console.get_by_label("活动名称").fill("新春游园会")
    console.get_by_label("场所").fill("龙潭公园")
    console.get_by_label("可参加的组织").select_option(tree.xicheng.code)
    console.get_by_label("名额").fill("50")
    console.get_by_label("开始预约").fill(beijing.strftime("%Y-%m-%dT%H:%M:%S"))
    console.get_by_label("截止预约").fill((beijing + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    console.get_by_label("开始日期").fill(beijing.strftime("%Y-%m-%d"))
    console.get_by_label("结束日期").fill((beijing + timedelta(days=30)).strftime("%Y-%m-%d"))
    console.get_by_role("button", name="创建活动").click()
    console.wait_for_url(re.compile(r"/console/activities/\d+/\?created=1$"))
    expect(console.get_by_role("status")).to_contain_text("活动已创建")
    activity = Activity.objects.get(title="新春游园会")

    phone = open_page(PHONE, user=member_login(member=worker))
    phone.goto(live_server.url + "/m/benefits/")
    button = phone.locator(f'form[data-activity="{activity.pk}"] [data-book]')
    expect(button).to_have_text("未到预约时间")
    expect(button).to_be_enabled(timeout=25_000)
    button.click()
    phone.wait_for_url(re.compile(r"/m/bookings/\d+/voucher/$"))
    assert Booking.objects.get(member=worker, activity=activity).status == BookingStatus.BOOKED


def test_an_operator_at_the_station_sets_its_position_from_the_phone_and_its_sunday_off(
    open_page, live_server, tree, make_staff
):
    """At the station, the operator's phone gives its GPS position (WGS-84) to the form; the
    hours are changed day by day; the list shows them in words."""
    import re

    from playwright.sync_api import expect

    from huzhu.stations.models import Station
    from huzhu.stations.services import station_operator_add
    from tests.stations.factories import make_station

    station = make_station(tree.u1, name="西单银行驿站", lat=39.95, lng=116.30, hours="24/7")
    operator = make_staff(Role.STATION_OPERATOR, tree.xicheng)
    station_operator_add(station=station, user=operator, actor=None)
    page = open_page(
        PHONE,
        user=operator,
        geolocation={"latitude": 39.9105, "longitude": 116.3702},
        permissions=["geolocation"],
    )
    page.goto(live_server.url + f"/console/stations/{station.code}/")
    every_field_labelled(page)
    no_horizontal_scroll(page)
    page.get_by_role("button", name="使用本机定位").click()
    expect(page.get_by_label("坐标（经度,纬度）")).to_have_value("116.370200,39.910500")
    expect(page.get_by_label("GPS 坐标（WGS-84）")).to_be_checked()
    page.get_by_label("周日", exact=True).select_option("off")
    page.get_by_label("周一", exact=True).select_option("open")
    page.get_by_label("周一 时段1 开始").fill("07:00")
    page.get_by_label("周一 时段1 结束").fill("22:00")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"\?saved=1$"))
    expect(page.get_by_role("status").first).to_contain_text("已保存")
    station = Station.objects.get(pk=station.pk)
    assert (round(station.lat, 6), round(station.lng, 6)) == (39.9105, 116.3702)
    assert station.hours == "Mo 07:00-22:00; Tu-Sa 00:00-24:00"
    page.goto(live_server.url + "/console/stations/")
    expect(page.locator("table.stack")).to_contain_text("周一 07:00–22:00；周二至周六 全天")
    no_horizontal_scroll(page)
