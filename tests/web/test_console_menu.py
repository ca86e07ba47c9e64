"""The console's menu shows each login the pages its role opens, and only those."""

from __future__ import annotations

import re

import pytest

from huzhu.accounts.models import Role
from huzhu.web.menu import MENU


@pytest.mark.parametrize("role", [r for r in Role if r != Role.MEMBER])
def test_the_menu_lists_exactly_the_pages_a_role_may_open(role, tree, staff, staff_client):
    org = tree.city if role in (Role.CITY_ADMIN, Role.REVIEWER) else tree.xicheng
    if role == Role.UNIT_ADMIN:
        org = tree.u1
    client = staff_client(staff(role, org))
    html = client.get("/console/stats/").content.decode()
    start = html.index('class="console-nav"')
    nav = html[start : html.index("</nav>", start)]
    shown = set(re.findall(r'href="([^"]+)"', nav))
    opens = {e.url for e in MENU if client.get(e.url).status_code == 200}
    assert shown == opens, role
    assert "/console/" in shown


def test_a_city_admin_sees_every_page_and_a_gate_few(tree, staff, staff_client):
    city = staff_client(staff(Role.CITY_ADMIN, tree.city)).get("/console/").content.decode()
    gate = staff_client(staff(Role.GATE, tree.xicheng)).get("/console/").content.decode()
    assert all(e.url in city for e in MENU)
    assert "/console/gate/" in gate and "/console/payments/" not in gate
    assert "/console/members/" not in gate and "/console/audit/" not in gate
