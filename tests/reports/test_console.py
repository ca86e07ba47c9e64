"""The statistics page: served with local ECharts and a static script, both deferred and no
inline script; ECharts on no other page; chart colours that stand out against the page."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

from django.contrib.staticfiles import finders
from django.test import Client

from huzhu.accounts.models import Role

SRC = Path(__file__).resolve().parents[2] / "src" / "huzhu"
STATS_JS = SRC / "web" / "static" / "web" / "stats.js"


def test_stats_page_loads_local_echarts_and_no_inline_script(tree, make_staff):
    client = Client()
    client.force_login(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    response = client.get("/console/stats/?year=2026")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts]
    assert "/static/vendor/echarts/echarts.min.js" in sources
    assert sources.index("/static/vendor/echarts/echarts.min.js") < sources.index(
        "/static/web/stats.js"
    )
    assert all(s.startswith("/static/") for s in sources)
    # Deferred: the megabyte of ECharts never holds up the page; stats.js still runs after it.
    deferred = {re.search(r'src="([^"]+)"', a).group(1) for a, _ in scripts if " defer" in a}
    assert {"/static/vendor/echarts/echarts.min.js", "/static/web/stats.js"} <= deferred
    assert all(body.strip() == "" for _, body in scripts)
    assert 'data-source="payouts?group_by=month&amp;year=2026"' in html
    assert "/api/v1/stats/payouts.xlsx?group_by=district&amp;year=2026" in html
    for path in ("vendor/echarts/echarts.min.js", "vendor/echarts/LICENSE", "web/stats.js"):
        assert finders.find(path), path


def test_stats_page_is_for_staff(tree, make_member):
    from tests.benefits.conftest import login_for

    client = Client()
    client.force_login(login_for(make_member(tree.u1)))
    assert client.get("/console/stats/").status_code == 403


def test_each_chart_names_its_measures_on_axes_titled_with_their_units(tree, make_staff):
    client = Client()
    client.force_login(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    html = client.get("/console/stats/?year=2026").content.decode()
    specs = {
        cid: json.loads(unescape(spec))
        for cid, spec in re.findall(r'data-chart="([^"]+)"[^>]*data-spec="([^"]+)"', html)
    }
    assert len(specs) == 9
    month = specs["payouts-month"]
    assert (month["layout"], month["category"]) == ("period", "key")
    assert [(m["key"], m["title"], m["unit"], m["kind"]) for m in month["measures"]] == [
        ("amount", "金额（元）", "元", "money"),
        ("persons", "人次", "人次", "count"),
    ]
    assert [m["unit"] for m in specs["stations"]["measures"]] == ["次", "人次"]
    assert specs["payouts-benefit"]["layout"] == "pie"
    assert specs["care"]["shares"] == {"spent": "spent_share"}
    assert '<link rel="stylesheet" href="/static/web/stats.css">' in html
    assert "所选范围内暂无数据" in html  # the sentence a chart without figures shows
    assert finders.find("web/stats.css")


def test_roles_without_care_get_no_care_chart(tree, make_staff):
    client = Client()
    client.force_login(make_staff(Role.GATE, tree.xicheng))
    html = client.get("/console/stats/").content.decode()
    assert 'data-chart="payouts-month"' in html
    assert 'data-chart="care"' not in html


def test_echarts_is_loaded_only_by_the_statistics_page_and_deferred():
    loading = {
        str(path.relative_to(SRC)): re.findall(r"<script[^>]*echarts[^>]*>", path.read_text())
        for path in SRC.rglob("templates/**/*.html")
        if "echarts" in path.read_text()
    }
    assert list(loading) == ["web/templates/web/console/stats.html"]
    (tag,) = loading["web/templates/web/console/stats.html"]
    assert "echarts.min.js" in tag and re.search(r"\sdefer[\s>]", tag), tag


def contrast_against_white(colour: str) -> float:
    """WCAG 2.1's contrast ratio of an sRGB colour (#rrggbb) against #ffffff."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (1.0 + 0.05) / (luminance + 0.05)


def test_contrast_of_the_reference_colours():
    assert round(contrast_against_white("#000000"), 2) == 21.0
    assert round(contrast_against_white("#ffffff"), 2) == 1.0
    assert round(contrast_against_white("#767676"), 2) == 4.54  # the well-known 4.5:1 grey


def test_every_chart_colour_stands_out_3_to_1_against_the_page():
    """WCAG 2.1 1.4.11: bars, lines and slices at least 3:1 against white; each colour's
    comment in stats.js gives its ratio, and that ratio is the true one."""
    palette = re.search(r"var COLORS = \[(.*?)\];", STATS_JS.read_text(), flags=re.S)
    assert palette, "the palette is a `var COLORS = [...]` in stats.js"
    colours = re.findall(r'"(#[0-9a-fA-F]{6})",?\s*//[^\n]*?(\d+\.\d+):1', palette.group(1))
    assert len(colours) == len(re.findall(r"#[0-9a-fA-F]{6}", palette.group(1))) >= 5
    for colour, said in colours:
        ratio = contrast_against_white(colour)
        assert ratio >= 3.0, (colour, ratio)
        assert f"{ratio:.2f}" == said, (colour, ratio, said)
