"""The column checks of every upload keep INTERFACES' bounds: amounts and dates in ASCII digits,
amounts at most 99,999,999.99, dates from 1900-01-01 to 2099-12-31; and what the checks refuse
never reaches `as_fen` or `as_date` as a number or a date."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huzhu import cli
from huzhu.core import tabular as tb
from huzhu.members.models import Member
from tests.conftest import new_id_number


def _frame(values: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"v": values}, schema={"v": pl.String})


def _amounts(values: list[str | None]) -> list[tuple[str | None, int | None]]:
    out = _frame(values).select(tb.amount_problem("v").alias("p"), tb.as_fen("v").alias("f"))
    return list(out.iter_rows())


def _dates(values: list[str | None]) -> list[tuple[str | None, object]]:
    out = _frame(values).select(tb.date_problem("v").alias("p"), tb.as_date("v").alias("d"))
    return list(out.iter_rows())


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0.01", 1), ("0", 0), ("12.5", 1250), ("99999999.99", 9_999_999_999), ("00000001", 100)],
)
def test_an_amount_within_bounds_is_accepted_and_read_exactly_as_fen(text, fen):
    assert _amounts([text]) == [(None, fen)]


@pytest.mark.parametrize(
    "text",
    ["100000000", "100000000.00", "99999999999999999999", "9" * 19, "9" * 40 + ".99"],
)
def test_an_amount_above_99999999_99_is_refused_saying_the_limit(text):
    [(problem, fen)] = _amounts([text])
    assert problem is not None and problem.startswith("不能超过 99999999.99"), problem
    assert fen is None


@pytest.mark.parametrize(
    "text",
    ["1e3", "١٠٠", "９９", "٩.٥٠", "1.234", "+5", ".5", "5.", "NaN", "inf", "1,000", "１.00"],
)
def test_an_amount_in_another_script_or_notation_is_not_an_amount(text):
    [(problem, fen)] = _amounts([text])
    assert problem is not None and problem.startswith("不是金额"), problem
    assert fen is None


def test_a_negative_amount_is_refused_unless_the_column_allows_it():
    [(problem, _fen)] = _amounts(["-5.00"])
    assert problem == "不能为负数：-5.00"
    out = _frame(["-5.00", "-100000000"]).select(tb.amount_problem("v", allow_negative=True))
    assert out.to_series().to_list() == [None, "不能超过 99999999.99：-100000000"]
    assert _frame(["-5.00"]).select(tb.as_fen("v")).item() == -500


@pytest.mark.parametrize("text", ["1900-01-01", "2099-12-31", "2026-02-28", "2024-02-29"])
def test_a_date_from_1900_to_2099_is_accepted(text):
    [(problem, day)] = _dates([text])
    assert problem is None and day is not None and day.isoformat() == text


@pytest.mark.parametrize("text", ["1899-12-31", "2100-01-01", "0001-01-01", "9999-12-31"])
def test_a_date_outside_1900_to_2099_is_refused_saying_the_range(text):
    assert _dates([text]) == [(f"应在 1900-01-01 至 2099-12-31 之间：{text}", None)]


@pytest.mark.parametrize(
    "text", ["٢٠٢٦-01-01", "２０２６-01-01", "2026-０1-01", "2026-02-30", "2026-1-1", "20260101"]
)
def test_a_date_in_another_script_or_form_is_not_a_date(text):
    assert _dates([text]) == [(f"不是日期（YYYY-MM-DD）：{text}", None)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.-+e ١٩９", max_size=24))
def test_as_fen_holds_every_value_the_check_lets_through_and_nothing_else(text):
    cell = _frame([text.strip() or None])
    [(problem, fen)] = cell.select(
        tb.amount_problem("v", allow_negative=True), tb.as_fen("v")
    ).rows()
    if problem is None and text.strip():
        assert fen is not None and abs(fen) <= 9_999_999_999
    else:
        assert fen is None


def test_a_million_rows_are_checked_as_columns():
    values = ["1200.50", "١٠٠", "100000000", "2026-01-01"] * 250_000
    out = _frame(values).select(tb.amount_problem("v").is_not_null().sum()).item()
    assert out == 750_000


def _roster(tmp_path, rows: list[str]):
    path = tmp_path / "roster.csv"
    lines = ["id_number,name,unit_code,joined_on", *rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_roster_with_an_out_of_range_date_exits_2_naming_row_and_column(tree, tmp_path, capsys):
    path = _roster(
        tmp_path,
        [
            f"{new_id_number()},张三,U1,1900-01-01",
            f"{new_id_number()},李四,U1,0001-01-01",
            f"{new_id_number()},王五,U1,٢٠٢٦-01-01",
            f"{new_id_number()},赵六,U1,2099-12-31",
        ],
    )
    assert cli.main(["import", "members", str(path)]) == 2
    err = capsys.readouterr().err
    assert "第 3 行：joined_on 列：应在 1900-01-01 至 2099-12-31 之间" in err, err
    assert "第 4 行：joined_on 列：不是日期（YYYY-MM-DD）" in err, err
    assert "第 2 行" not in err and "第 5 行" not in err
    assert not Member.objects.exists()


def test_a_roster_with_dates_on_the_bounds_is_imported(tree, tmp_path):
    path = _roster(
        tmp_path,
        [f"{new_id_number()},张三,U1,1900-01-01", f"{new_id_number()},赵六,U1,2099-12-31"],
    )
    assert cli.main(["import", "members", str(path)]) == 0
    assert sorted(str(d) for d in Member.objects.values_list("joined_on", flat=True)) == [
        "1900-01-01",
        "2099-12-31",
    ]
