"""core.bounds' pydantic types, as the API's schemas use them: a moment is ISO text whose date
lies from 1900 to 2099 (never a Unix timestamp, never another script's digits); a year is a
whole number from 1900 to 2099."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from huzhu.core.bounds import Moment, Year, moment_problem

moment = TypeAdapter(Moment)
year = TypeAdapter(Year)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1900-01-01T00:00:00", datetime(1900, 1, 1)),
        ("2099-12-31T23:59:59", datetime(2099, 12, 31, 23, 59, 59)),
        ("2026-01-13 12:00", datetime(2026, 1, 13, 12, 0)),
        ("2026-01-13T12:00:00Z", datetime(2026, 1, 13, 12, 0, tzinfo=UTC)),
        (
            "2026-01-13T12:00:00+08:00",
            datetime(2026, 1, 13, 12, 0, tzinfo=timezone(timedelta(hours=8))),
        ),
    ],
)
def test_a_moment_from_1900_to_2099_in_iso_text_is_read(text, expected):
    assert moment.validate_python(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00",
        "1899-12-31T23:59:59",
        "2100-01-01T00:00:00",
        "9999-12-31T23:59:59",
        1700000000,
        "1700000000",
        1.7e9,
        "٢٠٢٦-01-13T12:00:00",
        "２０２６-01-13T12:00:00",
        "2026-02-30T00:00:00",
        None,
        True,
    ],
)
def test_anything_else_is_not_a_moment(value):
    with pytest.raises(ValidationError):
        moment.validate_python(value)


def test_a_moment_is_judged_by_its_date_as_written():
    # 2099-12-31 23:59 at UTC-12 is 2100-01-01 in UTC: still within bounds, as written
    assert (
        moment_problem(datetime(2099, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))))
        is None
    )
    assert moment_problem(datetime(2100, 1, 1, tzinfo=UTC)) is not None


@pytest.mark.parametrize("value", [1900, 2099, "2026"])
def test_a_year_from_1900_to_2099_is_read(value):
    assert year.validate_python(value) == int(value)


@pytest.mark.parametrize("value", [1899, 2100, 99999999999, -1, "١٩٩٠", "1e3", 2026.0, True, None])
def test_anything_else_is_not_a_year(value):
    with pytest.raises(ValidationError):
        year.validate_python(value)
