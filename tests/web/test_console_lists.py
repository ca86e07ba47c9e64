"""The console's long lists page by position: the audit log newest first, events of one instant
in the order of their ids, every event of the subtree once and none of another district's;
its date filters are days in Beijing time; the dashboard's figures come from the summaries."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from unittest import mock

from huzhu.accounts.models import Role
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.web.selectors import audit_events_visible

SAME = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _events(tree, staff) -> None:
    """Five events in 西城 (three in one instant), two in 怀柔."""
    xicheng, huairou = staff(), staff(Role.DISTRICT_ADMIN, tree.huairou)
    for i, (actor, org, at) in enumerate(
        [
            (xicheng, tree.u1, SAME),
            (huairou, tree.u3, SAME),
            (xicheng, tree.u2, datetime(2026, 2, 28, 16, 30, tzinfo=UTC)),  # 3-01 00:30 in Beijing
            (xicheng, tree.u1, SAME),
            (xicheng, tree.u1, datetime(2026, 2, 28, 15, 30, tzinfo=UTC)),  # 2-28 23:30 in Beijing
            (huairou, tree.u3, datetime(2026, 4, 1, tzinfo=UTC)),
            (xicheng, tree.u2, SAME),
        ]
    ):
        with mock.patch("django.utils.timezone.now", return_value=at):
            audit_record(
                actor=actor, action=Action.MEMBER_CREATE, org_path=org.path, reason=f"r{i}"
            )


def _walk(client, query: str) -> list[str]:
    html = client.get(f"/console/audit/?{query}").content.decode()
    reasons: list[str] = []
    while True:
        found = re.findall(r"<td>(r\d)</td>", html)
        assert len(found) <= 2  # pages of two
        reasons += found
        found = re.search(r'href="\?([^"]+)" rel="next"', html)
        if not found:
            return reasons
        html = client.get("/console/audit/?" + found.group(1).replace("&amp;", "&")).content
        html = html.decode()


def test_the_audit_log_pages_newest_first_and_keeps_its_filters(
    tree, staff, staff_client, monkeypatch
):
    monkeypatch.setattr("huzhu.web.paging.PER_PAGE", 2)
    _events(tree, staff)
    user = staff()
    client = staff_client(user)
    expected = [e.reason for e in audit_events_visible(user).filter(reason__startswith="r")]
    assert expected == ["r6", "r3", "r0", "r2", "r4"]  # one instant: the latest id first
    assert _walk(client, "action=member.create") == expected
    assert _walk(client, "action=member.create&since=2026-03-01&until=2026-03-01") == [
        "r6",
        "r3",
        "r0",
        "r2",
    ]
    assert _walk(client, "action=member.create&until=2026-02-28") == ["r4"]
    city = staff_client(staff(Role.CITY_ADMIN, tree.city))
    assert _walk(city, "action=member.create&since=2026-03-01") == [
        "r5",
        "r6",
        "r3",
        "r1",
        "r0",
        "r2",
    ]


def test_the_dashboard_counts_from_the_summaries(tree, staff, staff_client, make_member):
    from huzhu.protection.enrollments import enrollments_import
    from huzhu.protection.plans import plan_load_toml
    from huzhu.reports.models import PayoutYearSummary
    from tests.conftest import new_id_number
    from tests.settlement.test_import import JT, ZY

    for doc in (ZY, JT):
        plan_load_toml(doc, file="plan.toml")
    lines = ["id_number,plan_code,period_start,paid_on,amount"]
    for unit in (tree.u1, tree.u2, tree.u3):
        number = new_id_number()
        make_member(unit, id_number=number)
        lines += [f"{number},ZY,2026-01-01,2026-01-05,60.00", f"{number},JT,2026-01-01,,30.00"]
    enrollments_import(("\n".join(lines) + "\n").encode(), file="e.csv")
    for unit, fen in ((tree.u1, 123456), (tree.u3, 99)):
        PayoutYearSummary.objects.create(
            year=2026, unit=unit, benefit="inpatient", plan_code="ZY", amount_fen=fen
        )
    client = staff_client(staff())
    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 6, 1, tzinfo=UTC)):
        html = client.get("/console/").content.decode()
    figures = dict(
        (label, value)
        for value, label in re.findall(r"<strong>([^<]+)</strong><span>([^<]+)</span>", html)
    )
    assert figures["会员"] == "2"
    assert figures["2026 年参保人次"] == "4"  # two members of 西城, each in two plans
    assert figures["2026 年互助金给付（元）"] == "1234.56"
