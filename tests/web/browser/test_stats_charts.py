"""The statistics charts a leader reads, at desktop (1280×800) and phone (360×740) size: axis
titles with their units, a second axis where money and person-times share a chart, whole-number
ticks for counts, all twelve months of the year, values and shares on the pie, a sentence where
there is nothing to draw, and no label over another or cut off. PNGs go to
test-artifacts/screenshots/ for people to look at."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest

from huzhu.accounts.models import Role
from huzhu.benefits.models import Booking, BookingStatus
from huzhu.care.services import (
    BeneficiaryIn,
    care_allocation_create,
    care_campaign_create,
    care_visit_record,
)
from huzhu.settlement.services import settlements_import
from huzhu.stations.services import station_visit_tally
from tests.benefits.conftest import make_activity
from tests.reports.conftest import enrolled_in
from tests.settlement.test_import import file, row
from tests.stations.factories import make_station
from tests.web.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, no_horizontal_scroll

pytestmark = pytest.mark.django_db(transaction=True)

CHARTS = [
    "payouts-month",
    "payouts-benefit",
    "payouts-district",
    "payouts-year",
    "members",
    "contributions",
    "bookings",
    "stations",
    "care",
]
EMPTY = "所选范围内暂无数据"


def a_year_of_figures(tree: Any, make_member: Any) -> None:
    """Two members in each of U1, U2 (西城) and U3 (怀柔), enrolled in ZY 2025 and 2026 and JT
    2026; stays paid in six months of 2026 (none in the others), station visits, bookings and a
    care campaign."""
    units = (tree.u1, tree.u1, tree.u2, tree.u2, tree.u3, tree.u3)
    numbers = enrolled_in(make_member, units)
    stays = [  # month paid, members (by index), self-paid in scope
        (2, (0,), "3000.00"),
        (3, (1, 2, 4), "12000.00"),
        (5, (3,), "2500.00"),
        (7, (5, 0), "30000.00"),
        (9, (2,), "1800.00"),
        (11, (1, 3, 4, 5), "8000.00"),
    ]
    for month, who, amount in stays:
        admitted = f"2026-{month:02d}-02"
        rows = [row(f"S{month}-{i}", numbers[i], admitted, amount) for i in who]
        with mock.patch(
            "django.utils.timezone.now", return_value=datetime(2026, month, 10, 2, tzinfo=UTC)
        ):
            settlements_import(file(*rows), file=f"{month}.csv")
    ski = make_activity(tree.city, title="怀柔滑雪场免费滑雪票")
    park = make_activity(tree.city, title="北海公园冰场门票")
    members = list(tree.u1.members.all()) + list(tree.u3.members.all())
    for activity, member, status in (
        (ski, members[0], BookingStatus.BOOKED),
        (ski, members[1], BookingStatus.REDEEMED),
        (ski, members[2], BookingStatus.CANCELLED),
        (park, members[3], BookingStatus.REDEEMED),
    ):
        Booking.objects.create(
            activity=activity,
            member=member,
            status=status,
            booked_at=datetime(2026, 2, 1, tzinfo=UTC),
        )
    station = make_station(tree.u1, name="西城邮政暖心驿站")
    for month, days in ((1, (35, 12)), (2, (41, 20, 9)), (3, (18,)), (6, (7, 3)), (12, (52,))):
        for day, people in enumerate(days, 5):
            station_visit_tally(
                station=station, actor=None, on=date(2026, month, day), people=people
            )
    campaign = care_campaign_create(
        actor=None,
        code="C1",
        title="寒冬送暖",
        org=tree.city,
        budget=Decimal("50000.00"),
        starts_on=date(2026, 1, 1),
    )
    care_allocation_create(
        campaign=campaign, org=tree.u1, amount=Decimal("12000.00"), on=date(2026, 1, 2), actor=None
    )
    care_visit_record(
        campaign=campaign,
        org=tree.u1,
        visited_on=date(2026, 1, 3),
        place="邮政支行",
        beneficiaries=[
            BeneficiaryIn(kind="frontline", name="投递员", headcount=30, cash=Decimal("6000.00"))
        ],
        actor=None,
    )


def charts_drawn(page: Any) -> None:
    """Every chart has been drawn, or says why not, or (without ECharts) stands hidden."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.chart-block')].every(
              b => b.querySelector('[data-chart] svg') || !b.querySelector('.chart-note').hidden
                   || b.querySelector('[data-chart]').hidden)"""
    )
    page.wait_for_load_state("networkidle")


def texts(page: Any, chart: str) -> list[str]:
    return page.eval_on_selector_all(
        f'[data-chart="{chart}"] svg text', "els => els.map(e => e.textContent)"
    )


def axis(page: Any, chart: str, which: str) -> list[dict[str, Any]]:
    """A chart's axes of one kind (xAxis, yAxis): title, type and the tick labels shown."""
    return page.evaluate(
        """([chart, which]) => {
          const el = document.querySelector(`[data-chart="${chart}"]`);
          const model = window.echarts.getInstanceByDom(el).getModel();
          return model.findComponents({mainType: which}).map(c => ({
            name: c.get('name'),
            type: c.get('type'),
            ticks: c.axis.getViewLabels().map(l => l.formattedLabel),
          }));
        }""",
        [chart, which],
    )


def nothing_overlaps_or_is_cut(page: Any) -> None:
    """No two words of a chart cross, and none reaches past its chart's edges."""
    problems = page.evaluate(
        """() => {
          const out = [];
          for (const el of document.querySelectorAll('[data-chart]')) {
            const svg = el.querySelector('svg');
            if (!svg) continue;
            const frame = svg.getBoundingClientRect();
            const boxes = [...svg.querySelectorAll('text')]
              .filter(t => t.textContent.trim())
              .map(t => [t.textContent, t.getBoundingClientRect()]);
            for (const [word, b] of boxes) {
              if (b.left < frame.left - 1 || b.right > frame.right + 1 ||
                  b.top < frame.top - 1 || b.bottom > frame.bottom + 1)
                out.push(`${el.dataset.chart}: "${word}" is cut off`);
            }
            for (let i = 0; i < boxes.length; i++) {
              for (let j = i + 1; j < boxes.length; j++) {
                const [w1, a] = boxes[i], [w2, b] = boxes[j];
                const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
                const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
                if (x > 2 && y > 2) out.push(`${el.dataset.chart}: "${w1}" over "${w2}"`);
              }
            }
          }
          return out;
        }"""
    )
    assert problems == [], problems


def shoot(page: Any, name: str, viewport: dict[str, int]) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{viewport['width']}.png"), full_page=True)


def test_the_charts_read_without_hovering(open_page, live_server, tree, make_member, make_staff):
    a_year_of_figures(tree, make_member)
    city = make_staff(Role.CITY_ADMIN, tree.city)
    page = open_page(DESKTOP, user=city)
    page.goto(live_server.url + "/console/stats/?year=2026")
    charts_drawn(page)
    shoot(page, "console-stats-charts", DESKTOP)

    # The years offered are those with figures (the ZY 2025 enrolments), most recent first.
    assert page.locator("#year option").all_inner_texts() == ["2026", "2025"]

    # Money and person-times by month: a panel and axis each, titled with its unit, the twelve
    # months under each; whole people.
    months = [f"{m}月" for m in range(1, 13)]
    assert [a["ticks"] for a in axis(page, "payouts-month", "xAxis")] == [months, months]
    money, persons = axis(page, "payouts-month", "yAxis")
    assert (money["name"], persons["name"]) == ("金额（元）", "人次")
    assert persons["ticks"] and all(re.fullmatch(r"\d+", t) for t in persons["ticks"]), persons
    words = texts(page, "payouts-month")
    assert {"金额（元）", "人次", *months, *persons["ticks"]} <= set(words)
    # Each paid month's values on its bars: March paid three stays 3 × (5600 + 50), six
    # person-times (a stay is paid by ZY and JT).
    assert {"1.7万", "6"} <= set(words), words
    # Hovering (or tapping) a month gives the exact figures with their units.
    page.evaluate(
        """() => window.echarts.getInstanceByDom(document.querySelector('[data-chart="payouts-month"]'))
              .dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 2})"""
    )
    tip = page.locator('[data-chart="payouts-month"] > div:not(:first-child)')
    tip.filter(has_text="16,950.00 元").wait_for()
    assert "6 人次" in tip.inner_text()
    # Person-times at the stations: whole numbers on their own axis beside registrations.
    visits, people = axis(page, "stations", "yAxis")
    assert (visits["name"], people["name"]) == ("次数（次）", "人次")
    assert all(re.fullmatch(r"\d+", t) for t in visits["ticks"] + people["ticks"])
    assert {"52", "70", "3"} <= set(texts(page, "stations"))

    # The pie names each benefit with its money and share.
    pie = " ".join(texts(page, "payouts-benefit"))
    assert "住院医疗 7.16万 元（99.2%）" in pie and "住院津贴 600 元（0.8%）" in pie, pie

    # Named rows: money bottom, people top, each titled; members and care likewise.
    districts = axis(page, "payouts-district", "xAxis")
    assert [a["name"] for a in districts] == ["金额（元）", "人次"]
    assert {"西城区总工会", "怀柔区总工会"} <= set(texts(page, "payouts-district"))
    assert [a["name"] for a in axis(page, "members", "xAxis")] == ["人数（人）"]
    assert {"5万", "1.2万", "6,000（预算的 12%）"} <= set(texts(page, "care"))
    nothing_overlaps_or_is_cut(page)

    phone = open_page(PHONE, user=city)
    phone.goto(live_server.url + "/console/stats/?year=2026")
    charts_drawn(phone)
    no_horizontal_scroll(phone)
    shoot(phone, "console-stats-charts", PHONE)
    (months,) = axis(phone, "payouts-month", "yAxis")  # lying down: months down the side
    assert months["type"] == "category" and len(months["ticks"]) == 12
    assert [a["name"] for a in axis(phone, "payouts-month", "xAxis")] == ["金额（元）", "人次"]
    nothing_overlaps_or_is_cut(phone)


def data_table(page: Any, chart: str) -> dict[str, Any]:
    """The table under a chart: its caption, its headers with their scope, and its rows."""
    return page.evaluate(
        """(chart) => {
          const block = document.querySelector(`[data-chart="${chart}"]`).closest('.chart-block');
          const details = block.querySelector('details');
          const table = details.querySelector('table');
          const cells = tr => [...tr.cells].map(c => c.textContent);
          return {
            title: block.querySelector('h2').textContent,
            label: block.querySelector('[data-chart]').getAttribute('aria-label'),
            role: block.querySelector('[data-chart]').getAttribute('role'),
            summary: details.querySelector('summary').textContent,
            caption: table.caption.textContent,
            heads: [...table.tHead.rows[0].cells].map(c => [c.textContent, c.getAttribute('scope')]),
            rows: [...table.tBodies[0].rows].map(cells),
            rowHeads: [...table.tBodies[0].rows].map(tr => tr.cells[0].tagName + ' ' + tr.cells[0].getAttribute('scope')),
          };
        }""",
        chart,
    )


def figures_of(report: dict[str, Any], spec: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The rows a chart shows (every period of a chart by period, a pie's slices above zero),
    each as its name and measure name → value as a reader should see it: money to the cent,
    counts whole, each with its unit."""
    names = {c["key"]: c["label"] for c in report["columns"]}
    rows = report["rows"]
    if spec["layout"] == "period":
        by_key = {r[spec["category"]]: r for r in rows}
        rows = [by_key.get(period, {}) for period in report["periods"]]
    if spec["layout"] == "pie":
        rows = [r for r in rows if Decimal(r[spec["measures"][0]["key"]]) > 0]
    out = []
    for r in rows:
        cells = {}
        for m in spec["measures"]:
            value = Decimal(r.get(m["key"]) or 0)
            text = f"{value:,.2f}" if m["kind"] == "money" else f"{int(value):,}"
            cells[names[m["key"]]] = f"{text} {m['unit']}"
        out.append((str(r.get(spec["category"], "")), cells))
    return out


def test_each_chart_has_a_table_of_the_figures_it_draws(
    open_page, live_server, tree, make_member, make_staff
):
    a_year_of_figures(tree, make_member)
    city = make_staff(Role.CITY_ADMIN, tree.city)
    page = open_page(DESKTOP, user=city)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/stats/" in r.url else None)
    page.goto(live_server.url + "/console/stats/?year=2026")
    charts_drawn(page)
    assert len(asked) == len(CHARTS), asked  # the table is filled from the chart's own response

    for chart in CHARTS:
        el = page.locator(f'[data-chart="{chart}"]')
        spec = json.loads(el.get_attribute("data-spec"))
        source = el.get_attribute("data-source")
        report = page.request.get(f"{live_server.url}/api/v1/stats/{source}").json()
        shown = data_table(page, chart)
        # The picture is an image named by its title, and says where its figures are.
        assert shown["role"] == "img", chart
        assert shown["label"] == f"{shown['title']}图表。图中的全部数字见下方的“查看数据表”。"
        assert shown["summary"] == "查看数据表" and shown["caption"] == shown["title"], chart
        assert all(scope == "col" for _, scope in shown["heads"]), shown["heads"]
        heads = [h for h, _ in shown["heads"]]
        expected = figures_of(report, spec)
        assert len(shown["rows"]) == len(expected), chart
        assert set(shown["rowHeads"]) == {"TH row"}, chart
        for cells, (name, want) in zip(shown["rows"], expected, strict=True):
            got = dict(zip(heads[1:], cells[1:], strict=True))
            assert {k: got[k] for k in want} == want, chart
            if spec["layout"] != "period":  # periods are named in words: checked below
                assert cells[0] == name, chart

    month = data_table(page, "payouts-month")
    assert [h for h, _ in month["heads"]] == ["月份", "给付金额（元）", "给付人次"]
    assert month["rows"][2] == ["3月", "16,950.00 元", "6 人次"]
    assert month["rows"][0] == ["1月", "0.00 元", "0 人次"]  # every month, as the chart
    benefit = data_table(page, "payouts-benefit")
    assert [h for h, _ in benefit["heads"]][-1] == "占比"
    assert {r[0]: r[-1] for r in benefit["rows"]} == {"住院医疗": "99.2%", "住院津贴": "0.8%"}
    care = data_table(page, "care")
    assert [h for h, _ in care["heads"]][-1] == "预算执行率"
    assert care["rows"][0][-1] == "12%"

    # Open, the tables are read on a phone without scrolling the page sideways.
    phone = open_page(PHONE, user=city)
    phone.goto(live_server.url + "/console/stats/?year=2026")
    charts_drawn(phone)
    for summary in phone.locator(".chart-data summary").all():
        summary.click()
    assert phone.locator(".chart-data table").first.is_visible()
    no_horizontal_scroll(phone)
    widths = phone.eval_on_selector_all(
        ".chart-data caption", "els => els.map(e => e.getBoundingClientRect().width)"
    )
    assert min(widths) > PHONE["width"] / 2, widths  # a caption across the card, not a column
    shoot(phone, "console-stats-tables", PHONE)

    # In English, every word of the tables and the description is English.
    english = open_page(DESKTOP, user=city)
    english.context.add_cookies(
        [{"name": "django_language", "value": "en", "url": live_server.url}]
    )
    english.goto(live_server.url + "/console/stats/?year=2026")
    charts_drawn(english)
    month = data_table(english, "payouts-month")
    assert month["summary"] == "Show the data table"
    assert (
        month["label"]
        == f"{month['title']} chart. All its figures are under “Show the data table” below."
    )
    assert [h for h, _ in month["heads"]] == ["Month", "Paid out (yuan)", "Person-times paid"]
    assert month["rows"][2] == ["Mar", "16,950.00 yuan", "6 person-times"]
    assert [h for h, _ in data_table(english, "payouts-benefit")["heads"]][-1] == "Share"


def test_without_echarts_the_tables_stand_in(open_page, live_server, tree, make_member, make_staff):
    a_year_of_figures(tree, make_member)
    page = open_page(DESKTOP, user=make_staff(Role.CITY_ADMIN, tree.city))
    page.huzhu_watcher.expected = ("Failed to load resource",)
    page.route("**/echarts.min.js", lambda route: route.abort())
    page.goto(live_server.url + "/console/stats/?year=2026")
    charts_drawn(page)
    block = page.locator(".chart-block").filter(has=page.locator('[data-chart="payouts-month"]'))
    assert block.locator("[data-chart]").is_hidden()
    assert block.locator("table").is_visible()  # opened: it is all there is
    assert block.locator("tbody tr").nth(2).inner_text().split("\t") == [
        "3月",
        "16,950.00 元",
        "6 人次",
    ]


def test_a_year_without_figures_says_so(open_page, live_server, tree, make_staff):
    city = make_staff(Role.CITY_ADMIN, tree.city)
    for viewport in (DESKTOP, PHONE):
        page = open_page(viewport, user=city)
        page.goto(live_server.url + "/console/stats/")
        charts_drawn(page)
        for chart in CHARTS:
            # A sentence in the page, not words in a picture: the box is hidden, nothing drawn.
            block = page.locator(".chart-block").filter(has=page.locator(f'[data-chart="{chart}"]'))
            note = block.locator(".chart-note")
            assert note.is_visible() and note.inner_text().strip() == EMPTY, chart
            assert block.locator("[data-chart]").is_hidden(), chart
            assert block.locator("svg, canvas").count() == 0, chart
            assert block.locator("details").is_hidden(), chart  # no table of nothing
        assert page.locator("#year option").count() == 1  # only this year
        shoot(page, "console-stats-empty", viewport)


def test_a_chart_that_fails_to_load_says_so(open_page, live_server, tree, make_staff):
    page = open_page(DESKTOP, user=make_staff(Role.CITY_ADMIN, tree.city))
    page.huzhu_watcher.expected = ("Failed to load resource",)
    page.route("**/api/v1/stats/members?*", lambda route: route.fulfill(status=500, body="{}"))
    page.goto(live_server.url + "/console/stats/")
    charts_drawn(page)
    block = page.locator(".chart-block").filter(has=page.locator('[data-chart="members"]'))
    note = block.locator(".chart-note")
    assert note.is_visible() and note.inner_text() == "数据未能载入，请稍后刷新页面。"
    assert block.locator("[data-chart]").is_hidden() and block.locator("details").is_hidden()
