"""The station finder without a position (/m/stations/search/): public, a plain GET form that
works without JavaScript, the same cards as the nearest list but without distances, and a clear
word for a choice it cannot read."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from huzhu.stations.selectors import SEARCH_LIMIT
from tests.stations.factories import make_station

pytestmark = pytest.mark.django_db


@pytest.fixture
def stations(tree):
    make_station(tree.u1, name="白塔寺邮政驿站", district="西城区", address="阜成门内大街 1 号",
                 hours="24/7", contact_phone="010-66000000")  # fmt: skip
    make_station(tree.u1, name="阜外银行驿站", district="西城区", address="阜成门外大街 8 号",
                 hours="off")  # fmt: skip
    make_station(tree.u3, name="怀柔滑雪场驿站", district="怀柔区", address="雁栖镇")
    return tree


def search(**query: object) -> tuple[int, str]:
    r = Client().get("/m/stations/search/", query)
    return r.status_code, r.content.decode()


def test_the_page_offers_a_district_or_a_place_without_a_login(stations):
    r = Client().get("/m/stations/")
    html = r.content.decode()
    assert r.status_code == 200
    form = re.search(r'<form id="choose".*?</form>', html, re.S)
    assert form and 'method="get"' in form.group(0)
    assert 'action="/m/stations/search/#stations"' in form.group(0)
    options = re.findall(r"<option(?: selected)?>([^<]+)</option>", form.group(0))
    assert options == ["怀柔区", "西城区"]
    assert "地址或地名" in form.group(0) and 'name="service"' in form.group(0)
    assert 'name="open_now" checked' in form.group(0)


def test_a_refused_position_points_to_the_district_or_place(stations):
    html = Client().get("/m/stations/").content.decode()
    assert 'data-locate-fallback="#choose"' in html
    denied = re.search(r'data-msg-denied="([^"]+)"', html)
    assert denied and "选择所在的区" in denied.group(1) and "请允许" not in denied.group(1)
    for key in ("failed", "unsupported"):
        assert "输入地址、地名" in re.search(rf'data-msg-{key}="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_a_district_lists_its_stations_open_first_with_hours_and_no_distance(stations):
    status, html = search(district="西城区", open_now="")
    assert status == 200
    assert "找到 2 个驿站" in html
    assert html.index("白塔寺邮政驿站") < html.index("阜外银行驿站")
    assert "怀柔滑雪场驿站" not in html
    assert "开放时间：暂停开放" in html[html.index("阜外银行驿站") :]
    card = html[html.index("白塔寺邮政驿站") : html.index("阜外银行驿站")]
    assert "正在开放" in card and "开放时间：全天开放" in card
    assert "阜成门内大街 1 号" in card and "服务：休息、热水" in card
    assert "https://uri.amap.com/marker?position=" in card and 'href="tel:010-66000000"' in card
    assert not re.search(r"[0-9.]+ (米|公里)", html)  # no point, no distance
    assert "<option selected>西城区</option>" in html  # the choice stays on the form


def test_open_now_and_services_narrow_the_list(stations):
    _, html = search(district="西城区", open_now="on")
    assert "白塔寺邮政驿站" in html and "阜外银行驿站" not in html
    _, html = search(place="驿站", service=["hot_water", "toilet"])
    assert "找到 0 个驿站" in html and "没有找到符合条件的驿站" in html


def test_a_typed_place_matches_the_address(stations):
    status, html = search(place=" 阜成门外 ")
    assert status == 200 and "阜外银行驿站" in html and "白塔寺邮政驿站" not in html
    assert 'value="阜成门外"' in html


def test_more_than_the_limit_says_so(tree):
    for i in range(SEARCH_LIMIT + 2):
        make_station(tree.u1, name=f"驿站{i:03d}", district="西城区")
    _, html = search(district="西城区")
    assert f"找到 {SEARCH_LIMIT + 2} 个驿站" in html
    assert f"这里只列出前 {SEARCH_LIMIT} 个" in html
    assert html.count('class="item station"') == SEARCH_LIMIT


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"district": "东城区"}, "district", "没有“东城区”这个区的驿站"),
        ({"place": "阜" * 51}, "place", "最多 50 个字"),
        ({"place": "阜成门\x07"}, "place", "无法识别"),
        ({"district": "西城区", "service": "sauna"}, "service", "没有“sauna”这项服务"),
        ({"district": "", "place": "  "}, "place", "请选择所在的区，或输入地址、地名"),
    ],
)
def test_a_choice_it_cannot_read_is_said_in_words(stations, query, field, words):
    status, html = search(**query)
    assert status == 400
    assert re.search(rf'<li id="problem-{field}">[^<]*{re.escape(words)}', html)
    assert 'role="alert"' in html and "item station" not in html
    assert f'aria-describedby="problem-{field}"' in html


def test_a_nul_is_refused_before_the_finder_reads_it(stations):
    assert search(place="阜成门\x00")[0] == 400  # the middleware's word, never a 500


def test_the_bare_address_is_the_page_itself(stations):
    status, html = search()
    assert status == 200 and "请修改" not in html and "找到" not in html


def test_english_on_request(stations):
    r = Client().get("/m/stations/search/", {"district": "西城区"}, HTTP_ACCEPT_LANGUAGE="en")
    html = r.content.decode()
    assert "Stations found: 2" in html and "Address or place" in html
