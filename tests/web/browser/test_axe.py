"""Accessibility of every main page, checked the way an auditor checks it (适老化, GB/T 37668,
WCAG 2.1 A and AA): axe-core (from npm, `make assets` copies it beside this file; served from the
disk, never a CDN) runs on each page in Chinese and in English and fails on any violation; and
every interactive element of the member pages and the gate page is a target of at least
44×44 CSS px on a 360×740 phone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from huzhu.accounts.models import Role
from huzhu.benefits.bookings import booking_create
from huzhu.members.logins import member_login
from huzhu.members.services import card_issue
from tests.benefits.conftest import make_activity
from tests.stations.factories import make_station
from tests.web.browser.conftest import DESKTOP, PHONE
from tests.web.conftest import make_care_campaign, make_plan_with_claims

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
MIN_TARGET = 44  # CSS px, both sides (WCAG 2.5.5, and the 适老化 guideline's 44 pt)


def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as loaded, one line per node."""
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))})))",
        WCAG,
    )
    return [f"{v['id']} ({v['help']}): {node}" for v in result for node in v["nodes"]]


def small_targets(page: Any) -> list[str]:
    """Visible links, buttons, fields and summaries whose box is under 44×44 CSS px. A control
    inside a label counts the label's box (the label is what a finger hits)."""
    page.wait_for_load_state("networkidle")
    found = page.evaluate(
        """min => [...document.querySelectorAll(
              'a[href], button, input:not([type=hidden]), select, textarea, summary')]
          .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
          .filter(e => !e.closest('.skip'))
          .map(e => {
            const target = (e.matches('input') && e.closest('label')) || e;
            const box = target.getBoundingClientRect();
            return {what: e.outerHTML.slice(0, 90), w: Math.round(box.width),
                    h: Math.round(box.height)};
          })
          .filter(t => t.w < min || t.h < min)""",
        MIN_TARGET,
    )
    return [f"{t['w']}×{t['h']} {t['what']}" for t in found]


@pytest.fixture
def world(tree, member, member_user, make_member, make_staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    make_plan_with_claims(member)
    ski = make_activity(tree.city, quota=200, title="怀柔滑雪场免费滑雪票", group="冬季冰雪")
    make_activity(tree.xicheng, quota=50, title="北海公园冰场门票", group="冬季冰雪")
    booking = booking_create(activity=ski, member=member, actor=member_user)
    other = make_member(tree.u2, name="会员甲")
    card_issue(member=other, card_no="HZ20000001")
    booking_create(activity=ski, member=other, actor=member_login(member=other))
    station = make_station(
        tree.u1, name="西城邮政暖心驿站", lat=39.91, lng=116.37, district="西城区"
    )
    campaign = make_care_campaign(tree)
    return {
        "campaign": campaign,
        "member": member_user,
        "booking": booking,
        "ski": ski,
        "station": station,
        "city": make_staff(Role.CITY_ADMIN, tree.city),
        "district": make_staff(Role.DISTRICT_ADMIN, tree.xicheng),
        "gate": make_staff(Role.GATE, tree.xicheng),
        "member_pk": member.pk,
    }


def member_pages(w: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("/", None),
        ("/m/login/", None),
        ("/login/", None),
        ("/m/stations/", None),
        ("/m/stations/search/?district=西城区", None),
        ("/m/", w["member"]),
        ("/m/plans/", w["member"]),
        ("/m/payouts/", w["member"]),
        ("/m/benefits/", w["member"]),
        (f"/m/bookings/{w['booking'].pk}/voucher/", w["member"]),
    ]


def console_pages(w: dict[str, Any]) -> list[tuple[str, Any]]:
    city, district = w["city"], w["district"]
    return [
        ("/console/", district),
        ("/console/orgs/", city),
        ("/console/members/", district),
        (f"/console/members/{w['member_pk']}/", district),
        ("/console/import/members/", district),
        ("/console/plans/", city),
        ("/console/activities/", city),
        (f"/console/activities/{w['ski'].pk}/", city),
        ("/console/activities/new/", district),
        ("/console/claims/", city),
        ("/console/approvals/", city),
        ("/console/payments/", city),
        ("/console/settlements/", city),
        ("/console/audit/", city),
        ("/console/stats/", city),
        ("/console/labour-models/", district),
        ("/console/stations/", district),
        (f"/console/stations/{w['station'].code}/", district),
        ("/console/stations/new/", district),
        ("/console/care/", district),
        (f"/console/care/{w['campaign'].code}/", district),
        ("/console/gate/", w["gate"]),
    ]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_no_main_page_has_an_accessibility_violation(open_page, live_server, world, language):
    problems: dict[str, list[str]] = {}
    pages: dict[tuple[int, str], Any] = {}
    for viewport, listed in ((PHONE, member_pages(world)), (DESKTOP, console_pages(world))):
        for path, user in listed:
            key = (viewport["width"], str(getattr(user, "pk", "anon")))
            page = pages.get(key)
            if page is None:
                page = open_page(viewport, user=user, bypass_csp=True)
                page.context.add_cookies(
                    [{"name": "django_language", "value": language, "url": live_server.url}]
                )
                pages[key] = page
            page.goto(live_server.url + path)
            assert page.locator("html").get_attribute("lang") == language
            if found := axe_violations(page):
                problems[path] = found
    assert problems == {}, json.dumps(problems, ensure_ascii=False, indent=1)


def test_every_target_on_the_member_pages_and_the_gate_is_at_least_44_px(
    open_page, live_server, world
):
    problems: dict[str, list[str]] = {}
    pages: dict[str, Any] = {}
    listed = [*member_pages(world), ("/console/gate/", world["gate"])]
    for path, user in listed:
        key = str(getattr(user, "pk", "anon"))
        page = pages.get(key) or pages.setdefault(key, open_page(PHONE, user=user))
        page.goto(live_server.url + path)
        if found := small_targets(page):
            problems[path] = found
    assert problems == {}, json.dumps(problems, ensure_ascii=False, indent=1)
