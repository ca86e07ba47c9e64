"""Resident ID numbers (GB 11643): MOD 11-2 check character and a real birth date."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from huzhu.core import idnumber


def independent_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 as the standard states it: weights 2^(i-1) mod 11, read right to left."""
    total = 0
    for i, ch in enumerate(reversed(first17), start=2):
        total += int(ch) * pow(2, i - 1, 11)
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def test_known_valid_number():
    # The published example from GB 11643-1999.
    assert idnumber.id_number_problem("11010519491231002X") is None


def test_lower_case_x_is_accepted():
    assert idnumber.id_number_problem("11010519491231002x") is None


def test_wrong_check_character_says_what_was_expected():
    assert idnumber.id_number_problem("110105194912310021") == "校验位是 1，应为 X"


def test_impossible_birth_date_is_refused():
    number = "11010519490231002"
    assert "不存在" in (idnumber.id_number_problem(number + "0") or "")


def test_future_birth_date_is_refused():
    first17 = "110105" + "20991231" + "002"
    number = first17 + idnumber.check_char(first17)
    assert "超出范围" in (idnumber.id_number_problem(number) or "")


def test_length_and_characters():
    assert "应为 18 位" in (idnumber.id_number_problem("1234") or "")
    assert "半角数字" in (idnumber.id_number_problem("11010519491231A02X") or "")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_agrees_with_independent_formulation(first17):
    assert idnumber.check_char(first17) == independent_check_char(first17)


birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31))


@given(
    area=st.sampled_from(["110101", "110102", "110105", "110116"]),
    born=birth_dates,
    seq=st.integers(0, 999),
)
def test_numbers_built_with_the_check_char_are_valid(area, born, seq):
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    assert idnumber.is_valid(first17 + independent_check_char(first17))


@given(
    st.lists(st.text(alphabet="0123456789X", min_size=16, max_size=19), max_size=30),
    st.lists(
        st.builds(lambda b, s: f"110102{b:%Y%m%d}{s:03d}", birth_dates, st.integers(0, 999)),
        max_size=10,
    ),
)
def test_vectorised_check_agrees_with_the_single_one(noise, valid17):
    values = noise + [v + independent_check_char(v) for v in valid17]
    values += [v + "0" for v in valid17]
    today = date(2026, 11, 29)
    df = pl.DataFrame({"id": values}, schema={"id": pl.String})
    bulk = df.select(idnumber.problems_expr("id", today=today).alias("p"))["p"].to_list()
    for value, problem in zip(values, bulk, strict=True):
        assert (problem is None) == (idnumber.id_number_problem(value, today=today) is None), value
