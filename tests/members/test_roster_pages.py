"""The roster's pages by position (`cursor`, `next_cursor`, `prev_cursor`) through the API and
the console: every member of the caller's subtree once, in order, and nobody else's; a changed
cursor is refused naming it; `limit` and `offset` still work and their answers carry cursors;
the total is exact here (SQLite, or a short list) and says so."""

from __future__ import annotations

import re

import pytest

from huzhu.accounts.models import Role
from huzhu.core import keyset
from huzhu.members.models import Member
from tests.conftest import refused_naming


@pytest.fixture
def roster(tree, make_member):
    """Seven members in 西城 (U1, U2), four in 怀柔 (U3), interleaved, several of one name."""
    for i in range(11):
        make_member((tree.u1, tree.u3, tree.u2)[i % 3], name="同名" if i % 2 else f"会员{i}")
    return tree


def _walk(api, path: str) -> tuple[list[int], list[dict]]:
    answer = api.get(path).json()
    seen, answers = [m["id"] for m in answer["items"]], [answer]
    while answer["next_cursor"]:
        assert len(seen) <= Member.objects.count()
        answer = api.get(f"{path}&cursor={answer['next_cursor']}").json()
        seen += [m["id"] for m in answer["items"]]
        answers.append(answer)
    return seen, answers


def test_pages_by_cursor_give_every_member_of_the_subtree_once_in_order(roster, make_staff, api_as):
    for org, role in ((roster.city, Role.CITY_ADMIN), (roster.xicheng, Role.DISTRICT_ADMIN)):
        api = api_as(make_staff(role, org))
        mine = Member.objects.filter(unit__path__startswith=org.path).order_by("id")
        seen, answers = _walk(api, "/members?limit=3")
        assert seen == [m.pk for m in mine]
        assert all(a["count"] == mine.count() and a["total_is_estimate"] is False for a in answers)
        # And back from the last page.
        back, cursor = [m["id"] for m in answers[-1]["items"]], answers[-1]["prev_cursor"]
        while cursor:
            answer = api.get(f"/members?limit=3&cursor={cursor}").json()
            back = [m["id"] for m in answer["items"]] + back
            cursor = answer["prev_cursor"]
        assert back == seen
    outside = set(Member.objects.filter(unit=roster.u3).values_list("pk", flat=True))
    assert outside and not outside & set(seen)  # the district's pages never hold 怀柔's members


def test_offset_still_pages_and_its_answer_carries_the_cursor_onwards(roster, city_admin, api_as):
    api = api_as(city_admin)
    ids = list(Member.objects.order_by("id").values_list("pk", flat=True))
    answer = api.get("/members?limit=4&offset=2").json()
    assert [m["id"] for m in answer["items"]] == ids[2:6] and answer["count"] == len(ids)
    onwards = api.get(f"/members?limit=4&cursor={answer['next_cursor']}").json()
    assert [m["id"] for m in onwards["items"]] == ids[6:10]
    before = api.get(f"/members?limit=4&cursor={answer['prev_cursor']}").json()
    assert [m["id"] for m in before["items"]] == ids[:2]


def test_a_changed_cursor_is_refused_naming_it(roster, city_admin, api_as):
    api = api_as(city_admin)
    cursor = api.get("/members?limit=2").json()["next_cursor"]
    for bad in (cursor[:-2], cursor.replace(cursor[1], "A" if cursor[1] != "A" else "B", 1), "x"):
        assert refused_naming(api.get(f"/members?limit=2&cursor={bad}"), "cursor")
    assert refused_naming(api.get(f"/members?limit=2&offset=2&cursor={cursor}"), "offset")
    assert refused_naming(api.get(f"/members?cursor={'x' * 1001}"), "cursor")


def test_a_search_pages_within_what_it_finds(roster, city_admin, api_as):
    api = api_as(city_admin)
    seen, answers = _walk(api, "/members?limit=2&q=同名")
    found = Member.objects.filter(name="同名").order_by("id")
    assert seen == [m.pk for m in found] and answers[0]["count"] == found.count()


def test_the_console_roster_pages_by_cursor_keeping_its_filters(roster, make_staff, monkeypatch):
    from django.test import Client

    monkeypatch.setattr("huzhu.web.paging.PER_PAGE", 2)
    client = Client()
    client.force_login(make_staff(Role.DISTRICT_ADMIN, roster.xicheng))
    mine = Member.objects.filter(unit__path__startswith=roster.xicheng.path)
    names = []
    html = client.get("/console/members/", {"status": "active"}).content.decode()
    assert f"共 {mine.count()} 名会员" in html and "上一页" not in html
    while True:
        names += re.findall(r'<a href="/console/members/(\d+)/">', html)
        found = re.search(r'href="\?([^"]+)" rel="next"', html)
        if not found:
            break
        query = found.group(1).replace("&amp;", "&")
        assert "status=active" in query and "cursor=" in query
        html = client.get(f"/console/members/?{query}").content.decode()
        assert 'rel="prev"' in html
    assert [int(n) for n in names] == list(mine.order_by("id").values_list("pk", flat=True))
    assert len(names) > 2  # so more than one page of two
    refused = client.get("/console/members/", {"cursor": "changed"})
    assert refused.status_code == 200 and "cursor 无效" in refused.content.decode()


@pytest.mark.postgres
def test_on_postgresql_a_long_roster_is_about_so_many(roster, make_staff, api_as, monkeypatch):
    from django.test import Client

    monkeypatch.setattr(keyset, "EXACT_UP_TO", 0)  # the planner never expects under 1
    monkeypatch.setattr("huzhu.web.paging.PER_PAGE", 2)  # one page would know its total
    city = make_staff(Role.CITY_ADMIN, roster.city)
    answer = api_as(city).get("/members?limit=2").json()
    assert answer["total_is_estimate"] is True and answer["count"] >= 1
    client = Client()
    client.force_login(city)
    assert "约 " in client.get("/console/members/").content.decode()
    assert "约 " in client.get("/console/").content.decode()
