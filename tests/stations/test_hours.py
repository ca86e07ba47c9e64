"""Opening hours: weekly rules, overnight spans, dated exceptions, Beijing time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from huzhu.stations.hours import (
    BEIJING,
    DayRow,
    DayState,
    Span,
    distance_in_words,
    format_week,
    hours_in_words,
    parse_hours,
    parse_week,
    week_rows,
    weekly_text_of,
)


def bj(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=BEIJING)


# 2026-01-02 is a Friday, 2026-01-03 a Saturday, 2026-01-04 a Sunday, 2026-01-05 a Monday.


def test_start_is_open_and_end_is_closed():
    hours = parse_hours("Mo-Fr 08:30-17:30")
    assert not hours.is_open(bj(2026, 1, 5, 8, 29, 59))
    assert hours.is_open(bj(2026, 1, 5, 8, 30))
    assert hours.is_open(bj(2026, 1, 5, 17, 29, 59))
    assert not hours.is_open(bj(2026, 1, 5, 17, 30))
    assert not hours.is_open(bj(2026, 1, 3, 12, 0))  # Saturday: not named, closed


def test_overnight_span_runs_into_the_next_morning():
    hours = parse_hours("Fr 22:00-06:00")
    assert not hours.is_open(bj(2026, 1, 2, 21, 59))
    assert hours.is_open(bj(2026, 1, 2, 23, 0))
    assert hours.is_open(bj(2026, 1, 3, 0, 0))
    assert hours.is_open(bj(2026, 1, 3, 5, 59, 59))
    assert not hours.is_open(bj(2026, 1, 3, 6, 0))
    assert not hours.is_open(bj(2026, 1, 3, 22, 30))  # Saturday night is not Friday night


def test_sunday_night_wraps_into_monday():
    hours = parse_hours("Su 20:00-02:00")
    assert hours.is_open(bj(2026, 1, 5, 1, 0))
    assert not hours.is_open(bj(2026, 1, 5, 2, 0))


def test_closing_at_midnight_is_not_an_overnight_span():
    hours = parse_hours("Mo 18:00-00:00")
    assert hours.week[0] == (Span(18 * 60, 24 * 60),)
    assert hours.is_open(bj(2026, 1, 5, 23, 59, 59))
    assert not hours.is_open(bj(2026, 1, 6, 0, 0))


def test_24_7_is_always_open_including_midnight():
    hours = parse_hours("24/7")
    for moment in (bj(2026, 1, 1, 0, 0), bj(2026, 6, 30, 23, 59, 59), bj(2026, 2, 17, 12)):
        assert hours.is_open(moment)


def test_an_exception_closes_a_holiday():
    hours = parse_hours("24/7", "2026-01-01 off")
    assert not hours.is_open(bj(2026, 1, 1, 12))
    assert hours.is_open(bj(2025, 12, 31, 23, 59))
    assert hours.is_open(bj(2026, 1, 2, 0, 0))


def test_a_date_range_exception_changes_hours_for_the_whole_range():
    hours = parse_hours("Mo-Su 08:00-20:00", "2026-02-16..2026-02-22 10:00-14:00")
    for day in range(16, 23):
        assert not hours.is_open(bj(2026, 2, day, 9))
        assert hours.is_open(bj(2026, 2, day, 13))
        assert not hours.is_open(bj(2026, 2, day, 15))
    assert hours.is_open(bj(2026, 2, 23, 9))


def test_an_exception_opens_a_normally_closed_day():
    hours = parse_hours("Mo-Fr 09:00-17:00", "2026-01-04 09:00-17:00")  # a make-up working Sunday
    assert hours.is_open(bj(2026, 1, 4, 10))
    assert not hours.is_open(bj(2026, 1, 11, 10))


def test_a_closed_day_keeps_the_night_that_started_the_day_before():
    hours = parse_hours("Mo-Su 22:00-06:00", "2026-01-03 off")
    assert hours.is_open(bj(2026, 1, 3, 5, 0))  # Friday's night shift ends Saturday 06:00
    assert not hours.is_open(bj(2026, 1, 3, 23, 0))  # no Saturday night
    assert not hours.is_open(bj(2026, 1, 4, 1, 0))


def test_closing_the_day_before_cancels_its_night():
    hours = parse_hours("Mo-Su 22:00-06:00", "2026-01-02 off")
    assert not hours.is_open(bj(2026, 1, 3, 1, 0))


def test_a_later_exception_wins_over_an_earlier_one():
    hours = parse_hours("24/7", "2026-01-01..2026-01-03 off; 2026-01-02 08:00-12:00")
    assert not hours.is_open(bj(2026, 1, 1, 9))
    assert hours.is_open(bj(2026, 1, 2, 9))
    assert not hours.is_open(bj(2026, 1, 2, 13))


def test_hours_are_read_in_beijing_time():
    hours = parse_hours("Mo 08:00-09:00")
    # 00:30 UTC on Monday is 08:30 in Beijing.
    assert hours.is_open(datetime(2026, 1, 5, 0, 30, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 1, 5, 8, 30, tzinfo=UTC))
    with pytest.raises(ValueError):
        hours.is_open(datetime(2026, 1, 5, 8, 30))


def test_later_rules_replace_earlier_ones_and_chinese_day_names_work():
    hours = parse_hours("周一至周日 08:00-20:00；周六、周日 休息")
    assert format_week(hours.week) == "Mo-Fr 08:00-20:00"
    assert parse_hours("Mo,We 08:00-12:00, 14:00-18:00").week[2] == (
        Span(480, 720),
        Span(840, 1080),
    )
    assert parse_hours("Fr-Mo 10:00-11:00").week == parse_hours("Mo,Fr-Su 10:00-11:00").week


@pytest.mark.parametrize(
    ("weekly", "exceptions", "fragment"),
    [
        ("", "", "请填写开放时间"),
        ("Mo-Fr 8-18", "", "不是时间"),
        ("Xx 08:00-09:00", "", "不是星期几"),
        ("Mo 25:00-26:00", "", "不是一天中的时间"),
        ("Mo 24:00-06:00", "", "不是一天中的时间"),
        ("Mo 08:00-08:00", "", "开始和结束不能相同"),
        ("24/7", "2026-13-01 off", "不是日期"),
        ("24/7", "2026-02-10..2026-02-01 off", "结束早于开始"),
        ("24/7", "tomorrow off", "不是例外日期"),
    ],
)
def test_malformed_hours_are_refused_with_a_reason(weekly, exceptions, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_hours(weekly, exceptions)


spans = st.lists(
    st.tuples(st.integers(0, 1439), st.integers(1, 1440)).filter(lambda t: t[0] != t[1]),
    max_size=3,
).map(lambda items: tuple(sorted({Span(a, b) for a, b in items})))


@given(week=st.tuples(*[spans] * 7))
def test_canonical_text_parses_back_to_the_same_week(week):
    text = format_week(week)
    assert parse_week(text) == week
    assert format_week(parse_week(text)) == text


def test_exception_text_is_canonical():
    hours = parse_hours("24/7", "2026-01-01 休息；2026-02-16 ~ 2026-02-22 10:00-14:00")
    assert hours.exceptions_text == "2026-01-01 off; 2026-02-16..2026-02-22 10:00-14:00"
    assert hours.exceptions[1].first == date(2026, 2, 16)


@pytest.mark.parametrize(
    ("weekly", "exceptions", "chinese", "english"),
    [
        (
            "Mo-Th,Su 07:00-23:00; Fr,Sa 07:00-02:00",
            "",
            "周一至周四、周日 07:00–23:00；周五、周六 07:00–次日02:00",
            "Mon to Thu, Sun 07:00–23:00; Fri, Sat 07:00–02:00 next day",
        ),
        ("24/7", "", "全天开放", "Open 24 hours"),
        (
            "Mo-Fr 09:00-12:00,14:00-18:00",
            "2026-10-01..2026-10-07 off; 2026-12-31 09:00-12:00",
            "周一至周五 09:00–12:00、14:00–18:00；2026-10-01至2026-10-07 休息；"
            "2026-12-31 09:00–12:00",
            "Mon to Fri 09:00–12:00, 14:00–18:00; 2026-10-01 to 2026-10-07 closed; "
            "2026-12-31 09:00–12:00",
        ),
    ],
)
def test_opening_hours_read_as_people_say_them(weekly, exceptions, chinese, english):
    hours = parse_hours(weekly, exceptions)
    with translation.override("zh-hans"):
        assert hours_in_words(hours) == chinese
    with translation.override("en"):
        assert hours_in_words(hours) == english


def test_distances_are_in_kilometres_above_one():
    with translation.override("zh-hans"):
        assert [distance_in_words(m) for m in (0, 420.4, 999.4, 1000, 17378)] == [
            "0 米", "420 米", "999 米", "1.0 公里", "17.4 公里"
        ]  # fmt: skip
    with translation.override("en"):
        assert distance_in_words(17378) == "17.4 km"


# -- the console's day-by-day grid -----------------------------------------------------------


def test_the_grid_of_a_week_reads_back_as_its_text():
    rows = [DayRow(DayState.OPEN, (("08:00", "20:00"),))] * 4 + [
        DayRow(DayState.OPEN, (("07:00", "02:00"),)),
        DayRow(DayState.OPEN, (("09:00", "12:00"), ("14:00", "17:00"))),
        DayRow(DayState.OFF),
    ]
    text = weekly_text_of(rows)
    assert text == "Mo-Th 08:00-20:00; Fr 07:00-02:00; Sa 09:00-12:00,14:00-17:00"
    assert week_rows(text) == rows
    assert weekly_text_of([DayRow(DayState.ALL_DAY)] * 7) == "24/7"
    assert weekly_text_of([DayRow(DayState.OFF)] * 7) == "off"


def test_a_grid_row_that_is_incomplete_or_wrong_names_its_day():
    rows = [DayRow(DayState.ALL_DAY)] * 7
    with pytest.raises(ValueError, match="周三：请填写开放时段"):
        weekly_text_of([*rows[:2], DayRow(DayState.OPEN, (("", ""),)), *rows[3:]])
    with pytest.raises(ValueError, match="周日：不是一天中的时间：25:00"):
        weekly_text_of([*rows[:6], DayRow(DayState.OPEN, (("08:00", "25:00"),))])
    with pytest.raises(ValueError, match="周一：时间段的开始和结束不能相同"):
        weekly_text_of([DayRow(DayState.OPEN, (("08:00", "08:00"),)), *rows[1:]])
    with pytest.raises(ValueError, match="周二：请选择"):
        weekly_text_of([rows[0], DayRow("maybe"), *rows[2:]])


def test_a_day_with_three_spans_does_not_fit_the_grid():
    assert week_rows("Mo 06:00-08:00,11:00-13:00,17:00-20:00") is None


_minute = st.integers(0, 24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
_pair = st.tuples(_minute, _minute).filter(lambda p: p[0] != p[1])
_row = st.one_of(
    st.just(DayRow(DayState.OFF)),
    st.just(DayRow(DayState.ALL_DAY)),
    st.lists(_pair, min_size=1, max_size=2).map(lambda s: DayRow(DayState.OPEN, tuple(s))),
)


@given(rows=st.lists(_row, min_size=7, max_size=7))
def test_any_grid_is_the_same_week_after_a_round_trip_through_its_text(rows):
    text = weekly_text_of(rows)
    again = week_rows(text)
    assert again is not None
    assert parse_week(weekly_text_of(again)) == parse_week(text)
