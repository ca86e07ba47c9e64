"""Properties of the validators of ID numbers and names (issue 16, "Done means"): any Unicode
spelling of a valid number normalises to one stored member or is refused, and no name the
validator accepts starts with a formula character, however it is written; the one-at-a-time and
the bulk (Polars) forms of each validator give the same answers."""

from __future__ import annotations

import csv
import unicodedata
from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from huzhu.core import idnumber, names
from huzhu.core.errors import DomainError
from huzhu.core.tabular import TableError
from huzhu.members.models import Member
from huzhu.members.roster import members_import
from huzhu.members.roster_export import members_export
from huzhu.members.services import member_create_or_update, member_find
from tests.conftest import new_id_number

TODAY = date(2026, 6, 1)
DB = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def digit_forms(d: int) -> list[str]:
    """Ways to write the ASCII digit `d` that NFKC reads as it."""
    return [
        str(d),
        chr(0xFF10 + d),  # full width
        chr(0x1D7CE + d),  # mathematical bold
        chr(0x1D7D8 + d),  # mathematical double-struck
        chr(0x2080 + d),  # subscript
        "⁰¹²³⁴⁵⁶⁷⁸⁹"[d],  # superscript
    ]


X_FORMS = ["X", "x", "Ｘ", "ｘ"]
SPACES = ["", "", "", " ", "\u3000", "\t"]


def test_every_digit_form_reads_as_its_digit():
    for d in range(10):
        for form in digit_forms(d):
            assert unicodedata.normalize("NFKC", form) == str(d)


def _valid(area: str, born: date, seq: int) -> str:
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    return first17 + idnumber.check_char(first17)


valid_numbers = st.builds(
    _valid,
    area=st.sampled_from(["110101", "310104", "440305", "650102", "710000", "810000"]),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    seq=st.integers(0, 999),
)


@st.composite
def spellings(draw: Any, number: str | None = None) -> tuple[str, str]:
    """(a valid number, one of its Unicode spellings): each digit in any form NFKC reads as it,
    the X in either case and width, spaces of any width between characters."""
    canonical = number or draw(valid_numbers)
    out = []
    for ch in canonical:
        out.append(draw(st.sampled_from(SPACES)))
        forms = X_FORMS if ch == "X" else digit_forms(int(ch))
        out.append(draw(st.sampled_from(forms)))
    return canonical, "".join(out)


# Decimal digits of other scripts: NFKC leaves them as they are (Arabic-Indic ١, Devanagari १,
# Thai ๑, N'Ko ߁, …), so they must be refused.
foreign_digits = st.characters(categories=["Nd"]).filter(
    lambda c: unicodedata.normalize("NFKC", c) not in "0123456789"
)


@st.composite
def foreign_spellings(draw: Any) -> str:
    """A spelling of a valid number with at least one digit from another script."""
    _canonical, spelling = draw(spellings())
    chars = list(spelling)
    digits = [i for i, c in enumerate(chars) if unicodedata.normalize("NFKC", c).isdigit()]
    for i in draw(st.lists(st.sampled_from(digits), min_size=1, max_size=3)):
        chars[i] = draw(foreign_digits)
    return "".join(chars)


def bulk(values: list[str]) -> list[tuple[str | None, str | None]]:
    """(normalised number, problem) per value, as the importers compute them."""
    series = idnumber.normalize_series(pl.Series("id_number", values, dtype=pl.String))
    df = pl.DataFrame({"id_number": series})
    problems = df.select(idnumber.problems_expr("id_number", today=TODAY).alias("p"))["p"]
    return list(zip(series.to_list(), problems.to_list(), strict=True))


@given(spellings())
def test_any_spelling_of_a_valid_number_reads_as_that_number(pair):
    canonical, spelling = pair
    assert idnumber.id_number_clean(spelling, today=TODAY) == canonical
    assert bulk([spelling]) == [(canonical, None)]


@given(foreign_spellings())
def test_a_digit_of_another_script_is_refused_one_at_a_time_and_in_bulk(spelling):
    assert idnumber.id_number_invalid(spelling, today=TODAY) is not None
    [(_value, problem)] = bulk([spelling])
    assert problem is not None


@st.composite
def mutated(draw: Any) -> str:
    """A spelling of a valid number with a character replaced, inserted or deleted."""
    _canonical, spelling = draw(spellings())
    i = draw(st.integers(0, len(spelling)))
    other = draw(st.one_of(st.characters(), st.sampled_from(["0", "9", "X", "x", "０", "١"])))
    how = draw(st.sampled_from(["replace", "insert", "delete"]))
    if how == "insert":
        return spelling[:i] + other + spelling[i:]
    if how == "delete":
        return spelling[:i] + spelling[i + 1 :]
    return spelling[:i] + other + spelling[i + 1 :]


@given(st.lists(st.one_of(mutated(), st.text(max_size=30), foreign_spellings()), max_size=20))
def test_the_bulk_check_agrees_with_the_one_at_a_time_check(values):
    for value, (normalised, problem) in zip(values, bulk(values), strict=True):
        invalid = idnumber.id_number_invalid(value, today=TODAY)
        if normalised is None:  # nothing left: a missing number, the importers' `required`
            assert invalid is not None and invalid.reason == "必填", value
            continue
        assert (problem is None) == (invalid is None), (value, problem, invalid)
        if invalid is None:
            assert normalised == idnumber.normalize(value)


POOL = [_valid("110101", date(1980, 1, 1 + i), i) for i in range(3)]


@DB
@given(st.lists(st.one_of(spellings(POOL[0]), spellings(POOL[1]), spellings(POOL[2])), max_size=4))
def test_any_spellings_of_a_number_are_one_stored_member(tree, pairs):
    for canonical, spelling in pairs:
        member, _created = member_create_or_update(id_number=spelling, name="王五", unit=tree.u1)
        assert member_find(canonical) == member
    assert Member.objects.count() <= len(POOL)


@DB
@given(pairs=st.lists(spellings(POOL[0]), min_size=1, max_size=3))
def test_a_roster_in_any_spelling_keeps_one_member(tree, pairs):
    lines = ["id_number,name,unit_code", *(f"{s},王五,U1" for _, s in pairs[:1])]
    members_import(("\n".join(lines) + "\n").encode(), file="r.csv")
    assert Member.objects.count() == 1 and member_find(POOL[0]) is not None
    for _canonical, spelling in pairs[1:]:
        data = f"id_number,name,unit_code\n{spelling},王五,U1\n".encode()
        assert members_import(data, file="r.csv").created == 0
    assert Member.objects.count() == 1


@DB
@given(spelling=foreign_spellings())
def test_a_number_with_a_foreign_digit_is_never_stored(tree, spelling):
    with pytest.raises(DomainError):
        member_create_or_update(id_number=spelling, name="王五", unit=tree.u1)
    # A comma or a line break would change the CSV's shape, not the number.
    assume(not any(c in spelling for c in ',"\r\n'))
    with pytest.raises(TableError):
        members_import(f"id_number,name,unit_code\n{spelling},王五,U1\n".encode(), file="r.csv")
    assert not Member.objects.exists()


# -- names ----------------------------------------------------------------------------------------

# Every form NFKC reads as one of = + - @ (superscript and subscript minus read as U+2212, which
# starts no formula).
FORMULA_FORMS = "=+-@＝＋－＠﹦﹢﹣﹫⁼⁺₌₊"
FORMULA_READ = "=+-@"


def formula_start(name: str) -> bool:
    """Would a spreadsheet (or a reader of NFKC) see a formula at the start of `name`?"""
    cleaned = name.strip()
    read = unicodedata.normalize("NFKC", cleaned)
    return cleaned[:1] in tuple(FORMULA_READ + "＝＋－＠") or read[:1] in tuple(FORMULA_READ)


names_text = st.one_of(
    st.text(max_size=120),
    st.builds(
        lambda ws, lead, rest: ws + lead + rest,
        st.sampled_from(["", " ", "\u3000", "\t", "\n"]),
        st.sampled_from(list(FORMULA_FORMS)),
        st.text(max_size=20),
    ),
    st.text(alphabet="王李张三丰 ·=+-@abc", max_size=110),
)


@given(names_text)
def test_no_name_the_validator_accepts_starts_with_a_formula(name):
    invalid = names.name_invalid(name)
    if invalid is None:
        cleaned = names.name_clean(name)
        assert not formula_start(cleaned)
        assert 1 <= len(cleaned) <= names.MAX_LENGTH
        assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in cleaned)


@given(st.sampled_from(list(FORMULA_FORMS)), st.text(max_size=20))
def test_a_name_starting_with_any_form_of_a_formula_character_is_refused(lead, rest):
    assert names.name_invalid(lead + rest) is not None


@given(st.lists(names_text, max_size=20))
def test_the_bulk_name_check_agrees_with_the_one_at_a_time_check(values):
    cleaned, problems = names.name_series(pl.Series("name", values, dtype=pl.String))
    for value, stored, problem in zip(values, cleaned, problems, strict=True):
        invalid = names.name_invalid(value)
        assert problem == (invalid.reason if invalid is not None else None), value
        if invalid is None:
            assert stored == value.strip()


@DB
@given(st.lists(names_text, min_size=1, max_size=5))
def test_no_accepted_name_leaves_a_formula_in_the_roster_export(tree, tmp_path, values):
    for value in values:
        try:
            member_create_or_update(id_number=new_id_number(), name=value, unit=tree.u1)
        except DomainError as exc:
            assert exc.details["field"] == "name"
    out = tmp_path / "roster.csv"
    members_export(out)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == Member.objects.count()
    for row in rows:
        assert not formula_start(row["name"]), row["name"]
