"""Finding a station without a position: by district or typed place, open ones first, services
and the open-now choice as for the nearest; and what the finder says to a choice it cannot read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import translation

from huzhu.stations import rules, selectors
from huzhu.stations.models import StationStatus
from tests.stations.factories import make_station

# Monday 2026-01-05, 10:00 in Beijing: weekday hours are open, weekend hours are not.
MONDAY_10 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
WEEKDAYS = "Mo-Fr 09:00-17:00"
WEEKENDS = "Sa,Su 09:00-17:00"


def names(result: selectors.Search) -> list[str]:
    return [f.station.name for f in result.found]


@pytest.fixture
def city(tree):
    """Three stations in 西城区, one in 怀柔区, one without a district, one suspended."""
    make_station(tree.u1, name="白塔寺邮政驿站", district="西城区", address="阜成门内大街 1 号")
    make_station(tree.u1, name="阜外银行驿站", district="西城区", hours=WEEKENDS,
                 address="阜成门外大街 8 号", services=("rest",))  # fmt: skip
    make_station(tree.u2, name="新街口环卫驿站", district="西城区", address="新街口北大街 3 号",
                 services=("rest", "hot_water", "toilet"))  # fmt: skip
    make_station(tree.u3, name="怀柔滑雪场驿站", district="怀柔区", address="雁栖镇 Ski Road 9")
    make_station(tree.u1, name="无区驿站", district="", address="西城区某街")
    make_station(tree.u1, name="暂停驿站", district="朝阳区", address="朝阳路",
                 status=StationStatus.SUSPENDED)  # fmt: skip
    return tree


def test_the_districts_are_those_of_active_stations_sorted(city):
    make_station(city.u3, name="空格驿站", district=" 怀柔区 ")  # an untrimmed file cell
    assert selectors.station_districts() == sorted(["怀柔区", "西城区"])


def test_a_district_lists_its_active_stations_only(city):
    result = selectors.stations_search(at=MONDAY_10, district="西城区")
    assert sorted(names(result)) == sorted(["白塔寺邮政驿站", "阜外银行驿站", "新街口环卫驿站"])
    assert result.total == 3


def test_open_stations_come_first_then_by_name(city):
    result = selectors.stations_search(at=MONDAY_10, district="西城区")
    assert names(result) == [*sorted(["白塔寺邮政驿站", "新街口环卫驿站"]), "阜外银行驿站"]
    assert [f.is_open for f in result.found] == [True, True, False]


def test_a_typed_place_matches_the_address_name_or_district_in_any_case(city):
    assert names(selectors.stations_search(at=MONDAY_10, place="阜成门外")) == ["阜外银行驿站"]
    assert names(selectors.stations_search(at=MONDAY_10, place="  环卫 ")) == ["新街口环卫驿站"]
    assert names(selectors.stations_search(at=MONDAY_10, place="ski road")) == ["怀柔滑雪场驿站"]
    assert names(selectors.stations_search(at=MONDAY_10, place="怀柔区")) == ["怀柔滑雪场驿站"]
    assert selectors.stations_search(at=MONDAY_10, place="朝阳").found == []  # suspended


def test_every_word_of_a_typed_place_must_match(city):
    both = selectors.stations_search(at=MONDAY_10, place="西城区\u3000阜成门")
    assert sorted(names(both)) == sorted(["白塔寺邮政驿站", "阜外银行驿站"])
    assert selectors.stations_search(at=MONDAY_10, place="阜成门 怀柔").found == []


def test_a_district_and_a_place_narrow_each_other(city):
    result = selectors.stations_search(at=MONDAY_10, district="怀柔区", place="阜成门")
    assert result.found == [] and result.total == 0


def test_open_only_drops_the_closed(city):
    result = selectors.stations_search(at=MONDAY_10, district="西城区", open_only=True)
    assert "阜外银行驿站" not in names(result) and result.total == 2


def test_every_service_asked_for_must_be_offered(city):
    mask = rules.services_mask(["hot_water", "toilet"])
    result = selectors.stations_search(at=MONDAY_10, district="西城区", service_mask=mask)
    assert names(result) == ["新街口环卫驿站"]


def test_at_most_the_limit_with_the_count_of_all(city):
    result = selectors.stations_search(at=MONDAY_10, district="西城区", limit=2)
    assert len(result.found) == 2 and result.total == 3


def test_unreadable_hours_count_as_closed(city):
    station = make_station(city.u1, name="坏时间驿站", district="西城区")
    type(station).objects.filter(pk=station.pk).update(hours="whenever")
    result = selectors.stations_search(at=MONDAY_10, district="西城区")
    assert [f.is_open for f in result.found] == [True, True, False, False]
    assert "坏时间驿站" in names(result)[2:]


DISTRICTS = ["怀柔区", "西城区"]


def problems(district: str = "", place: str = "", services: tuple[str, ...] = ()) -> dict:
    with translation.override("zh-hans"):  # whatever an earlier test left active
        return rules.place_choice_problems(
            district=district, place=place, services=services, districts=DISTRICTS
        )


def test_a_known_district_or_a_place_is_a_choice_the_finder_can_answer():
    assert problems(district="西城区") == {}
    assert problems(place="阜成门", services=("hot_water",)) == {}
    assert problems(place="x" * rules.MAX_PLACE_CHARS) == {}


def test_a_choice_it_cannot_answer_is_said_field_by_field():
    assert "东城区" in problems(district="东城区")["district"]
    assert "50" in problems(place="x" * (rules.MAX_PLACE_CHARS + 1))["place"]
    assert "无法识别" in problems(place="阜成门\x00")["place"]
    assert "sauna" in problems(district="西城区", services=("hot_water", "sauna"))["service"]
    assert problems() == {"place": "请选择所在的区，或输入地址、地名。"}


def test_a_place_is_split_on_any_space():
    assert rules.place_terms(" 西城区\u3000阜成门\t1号 ") == ("西城区", "阜成门", "1号")
