"""Resident ID numbers (居民身份证号码, GB 11643-1999): 18 characters, MOD 11-2 check character.

Pure rules, no ORM. Used one at a time by forms and vectorised (Polars) by the bulk imports.
"""

from __future__ import annotations

from datetime import date

import polars as pl

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalize(raw: str) -> str:
    """Strip spaces and upper-case the check character (`x` is accepted as `X`)."""
    return raw.strip().upper()


def id_number_problem(raw: str, *, today: date | None = None) -> str | None:
    """None when `raw` is a valid ID number, else why not (for a row-level error report)."""
    value = normalize(raw)
    if len(value) != 18:
        return f"must be 18 characters, got {len(value)}"
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        return "must be 17 digits and a digit or X"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return f"birth date {value[6:14]} is not a real date"
    if not (EARLIEST_BIRTH <= born <= (today or date.today())):
        return f"birth date {value[6:14]} is out of range"
    expected = check_char(value[:17])
    if value[17] != expected:
        return f"check character is {value[17]}, expected {expected}"
    return None


def is_valid(raw: str) -> bool:
    return id_number_problem(raw) is None


def birth_date(value: str) -> date:
    return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def problems_expr(col: str, *, today: date) -> pl.Expr:
    """A Polars expression giving, for a column of normalised ID numbers, null or the problem.

    Agrees with `id_number_problem` (tests prove it); the message is shorter for the bulk path.
    """
    c = pl.col(col)
    digits17 = c.str.slice(0, 17)
    weighted = pl.sum_horizontal(
        [digits17.str.slice(i, 1).cast(pl.Int32, strict=False) * w for i, w in enumerate(WEIGHTS)]
    )
    expected = pl.lit(list(CHECK_CHARS)).list.get((weighted % 11).cast(pl.Int64), null_on_oob=True)
    born = c.str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    return (
        pl.when(c.str.len_chars() != 18)
        .then(pl.lit("must be 18 characters"))
        .when(~c.str.contains(r"^\d{17}[\dX]$"))
        .then(pl.lit("must be 17 digits and a digit or X"))
        .when(born.is_null())
        .then(pl.lit("birth date is not a real date"))
        .when((born < pl.lit(EARLIEST_BIRTH)) | (born > pl.lit(today)))
        .then(pl.lit("birth date is out of range"))
        .when(c.str.slice(17, 1) != expected)
        .then(pl.lit("check character is wrong"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
