"""Every main page at phone (360×740) and desktop (1280×800) size: no JavaScript or console
error, every field labelled, no sideways scrolling on the phone; a PNG of each is written to
test-artifacts/screenshots/ for people to look at."""

from __future__ import annotations

from typing import Any

import pytest

from huzhu.accounts.models import Role
from huzhu.benefits.bookings import booking_create
from huzhu.members.logins import member_login
from huzhu.members.services import card_issue, member_reveal_id_number
from huzhu.web.services import settlement_job_create, settlement_job_run
from tests.benefits.conftest import make_activity
from tests.settlement.test_import import file, row
from tests.stations.factories import make_station
from tests.web.browser.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    every_field_labelled,
    no_horizontal_scroll,
)
from tests.web.conftest import make_care_campaign, make_plan_with_claims

pytestmark = pytest.mark.django_db(transaction=True)


def _shoot(page: Any, name: str, viewport: dict[str, int]) -> None:
    page.wait_for_load_state("networkidle")
    every_field_labelled(page)
    if viewport is PHONE:
        no_horizontal_scroll(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{viewport['width']}.png"), full_page=True)


def test_screenshots_of_the_main_pages(
    open_page, live_server, tree, member, member_user, make_member, make_staff, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    make_plan_with_claims(member)
    ski = make_activity(tree.city, quota=200, title="怀柔滑雪场免费滑雪票", group="冬季冰雪")
    make_activity(tree.xicheng, quota=50, title="北海公园冰场门票", group="冬季冰雪")
    booking = booking_create(activity=ski, member=member, actor=member_user)
    for i in range(3):
        other = make_member(tree.u2, name=f"会员{i}")
        card_issue(member=other, card_no=f"HZ2000000{i}")
        booking_create(activity=ski, member=other, actor=member_login(member=other))
    make_station(tree.u1, name="西城邮政暖心驿站", lat=39.9100, lng=116.3700)
    bank = make_station(
        tree.u1, name="白塔寺银行驿站", lat=39.9230, lng=116.3600, hours="Mo-Fr 08:30-17:30"
    )
    city = make_staff(Role.CITY_ADMIN, tree.city)
    district = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    gate = make_staff(Role.GATE, tree.xicheng)
    member_reveal_id_number(member=member, actor=district, reason="核对理赔材料")
    job = settlement_job_create(
        data=file(row("S1", "110101190001011234", "2026-03-01", "100.00")),
        file_name="bureau-2026Q1.csv",
        actor=city,
    )
    settlement_job_run(job.pk)
    campaign = make_care_campaign(tree)

    member_pages = [
        ("m-home", "/m/"),
        ("m-plans", "/m/plans/"),
        ("m-payouts", "/m/payouts/"),
        ("m-benefits", "/m/benefits/"),
        ("m-voucher", f"/m/bookings/{booking.pk}/voucher/"),
    ]
    console_pages = [
        ("console-home", "/console/", district),
        ("console-orgs", "/console/orgs/", city),
        ("console-members", "/console/members/", district),
        ("console-member", f"/console/members/{member.pk}/", district),
        ("console-import", "/console/import/members/", district),
        ("console-activity", f"/console/activities/{ski.pk}/", city),
        ("console-activities", "/console/activities/", city),
        ("console-activity-new", "/console/activities/new/", district),
        ("console-claims", "/console/claims/", city),
        ("console-payments", "/console/payments/", city),
        ("console-gate", "/console/gate/", gate),
        ("console-settlements", "/console/settlements/", city),
        ("console-settlement-job", f"/console/settlements/{job.pk}/", city),
        ("console-audit", "/console/audit/", city),
        ("console-plans", "/console/plans/", city),
        ("console-care", "/console/care/", district),
        ("console-care-campaign", f"/console/care/{campaign.code}/", district),
        ("console-stats", "/console/stats/", city),
        ("console-stations", "/console/stations/", district),
        ("console-station", f"/console/stations/{bank.code}/", district),
        ("console-station-new", "/console/stations/new/", district),
    ]
    for viewport in (PHONE, DESKTOP):
        page = open_page(viewport)
        page.goto(live_server.url + "/m/login/")
        _shoot(page, "m-login", viewport)
        page.goto(live_server.url + "/login/")
        _shoot(page, "login", viewport)

        page = open_page(viewport, user=member_user)
        for name, path in member_pages:
            page.goto(live_server.url + path)
            _shoot(page, name, viewport)

        page = open_page(
            viewport,
            geolocation={"latitude": 39.9105, "longitude": 116.3702},
            permissions=["geolocation"],
        )
        page.goto(live_server.url + "/m/stations/")
        page.locator("#near").get_by_label("只看正在开放的").uncheck()
        page.get_by_role("button", name="查找我附近的驿站").click()
        page.wait_for_selector("#stations article")
        assert "西城邮政暖心驿站" in page.locator("#stations").inner_text()
        _shoot(page, "m-stations", viewport)

        pages: dict[int, Any] = {}
        for name, path, user in console_pages:
            page = pages.get(user.pk) or pages.setdefault(user.pk, open_page(viewport, user=user))
            page.goto(live_server.url + path)
            _shoot(page, name, viewport)

    # The English switch works on a member page.
    page = open_page(PHONE, user=member_user)
    page.goto(live_server.url + "/m/")
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Member service card" in page.locator(".membercard").inner_text()
    _shoot(page, "m-home-en", PHONE)
