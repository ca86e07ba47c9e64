"""The statistics page: served with local ECharts and a static script, no inline script."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders
from django.test import Client

from huzhu.accounts.models import Role


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
