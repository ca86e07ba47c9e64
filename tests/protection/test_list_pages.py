"""The claims queue and a payment run's transfers page by position (`cursor`): every claim or
transfer once, in the list's order even when claims were filed in the same instant (ties of
`created_at` are broken by id), in the API and in the console; scoped to the caller's subtree."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from huzhu.accounts.models import Role
from huzhu.protection.models import Claim, PaymentItem
from huzhu.protection.payments import payment_run_create
from tests.conftest import refused_naming


@pytest.fixture
def queue(tree, insured, make_member, make_staff, enrol, file_claim):
    """Seven open claims in 西城, four of them filed in the same instant, one in 怀柔."""
    neighbour = make_member(tree.u1, name="王五")
    enrol(neighbour)
    claims = [file_claim(insured if i % 2 else neighbour) for i in range(7)]
    same = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    Claim.objects.filter(pk__in=[c.pk for c in claims[2:6]]).update(created_at=same)
    Claim.objects.filter(pk=claims[0].pk).update(created_at=datetime(2026, 6, 1, tzinfo=UTC))
    elsewhere = make_member(tree.u3, name="赵六")
    enrol(elsewhere)
    file_claim(elsewhere, actor=make_staff(Role.UNIT_ADMIN, tree.u3))
    return Claim.objects.filter(member__unit__path__startswith=tree.xicheng.path)


def _walk(api, path: str) -> list[int]:
    answer = api.get(path).json()
    seen = [c["id"] for c in answer["items"]]
    while answer["next_cursor"]:
        assert len(seen) <= Claim.objects.count()
        answer = api.get(f"{path}&cursor={answer['next_cursor']}").json()
        seen += [c["id"] for c in answer["items"]]
    return seen


def test_the_queue_pages_oldest_first_with_ties_by_id(queue, reviewer, api_as):
    api = api_as(reviewer)
    expected = list(queue.order_by("created_at", "id").values_list("pk", flat=True))
    assert _walk(api, "/claims?limit=2") == expected
    assert _walk(api, "/claims?limit=3&state=submitted") == expected
    first = api.get("/claims?limit=2").json()
    assert first["count"] == len(expected) and first["total_is_estimate"] is False
    assert refused_naming(api.get("/claims?limit=2&cursor=x"), "cursor")
    assert refused_naming(api.get("/claims?limit=501"), "limit")


def test_the_console_queue_pages_by_cursor(queue, reviewer, tree, make_staff, monkeypatch):
    monkeypatch.setattr("huzhu.web.paging.PER_PAGE", 3)
    client = Client()
    client.force_login(reviewer)
    html = client.get("/console/claims/").content.decode()
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        seen += re.findall(r'<td><a href="/console/claims/(\d+)/">#', html)
        found = re.search(r'href="\?([^"]+)" rel="next"', html)
        if not found:
            break
        html = client.get("/console/claims/?" + found.group(1).replace("&amp;", "&")).content
        html = html.decode()
    assert [int(c) for c in seen] == list(
        queue.order_by("created_at", "id").values_list("pk", flat=True)
    )
    assert pages == 3  # seven claims, three a page
    huairou = Client()
    huairou.force_login(make_staff(Role.REVIEWER, tree.huairou))
    html = huairou.get("/console/claims/").content.decode()
    assert "赵六" in html and "李四" not in html and "王五" not in html


def test_a_payment_runs_transfers_page_by_reference(
    tree, insured, make_member, enrol, new_card, approved_claim, city_admin, api_as
):
    members = [insured]
    for i in range(4):
        other = make_member(tree.u1, name=f"收款人{i}")
        enrol(other)
        new_card(other)
        members.append(other)
    for m in members:
        approved_claim(m, "100.00")
    run = payment_run_create(actor=city_admin).run
    api = api_as(city_admin)
    expected = list(PaymentItem.objects.filter(run=run).order_by("reference"))
    path = f"/payment-runs/{run.reference}?limit=2"
    answer = api.get(path).json()
    seen = [i["reference"] for i in answer["items"]]
    while answer["next_cursor"]:
        answer = api.get(f"{path}&cursor={answer['next_cursor']}").json()
        seen += [i["reference"] for i in answer["items"]]
    assert seen == [i.reference for i in expected] and answer["count"] == 5
    client = Client()
    client.force_login(city_admin)
    html = client.get(f"/console/payments/{run.reference}/").content.decode()
    assert all(i.reference in html for i in expected) and "共 5 条" in html
