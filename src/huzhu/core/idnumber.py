"""Resident ID numbers (居民身份证号码, GB 11643-1999): the one validator of every ID number that
enters huzhu, from the API, the console, the admin or a file (INTERFACES.md "Files": members).

A number is read after Unicode NFKC normalisation, so that full-width digits (`１`) and `ｘ` read as
ASCII, with spaces removed and the check character in capitals: that is its one stored spelling,
and what is hashed to find it. It must then be 17 ASCII digits and a digit or `X`, start with a
province code in use, hold a real birth date and end with the MOD 11-2 check character. Digits of
other scripts (Arabic-Indic `١`, Devanagari `१`) are refused: Python's `isdigit()`, `int()` and
the regex `\\d` accept them, so none of them decides what a digit is here.

Pure rules, no ORM. Used one at a time (`id_number_clean`) and vectorised (Polars) by the bulk
imports (`normalize_series`, `problems_expr`), which give the same answers (tests prove it).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import polars as pl
from django.utils.translation import gettext as _

from huzhu.core.errors import DomainError, InvalidValue

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)
# The province-level codes in use (GB/T 2260): the first two digits of every number.
PROVINCES = frozenset(
    f"{code:02d}"
    for first, last in (
        (11, 15),
        (21, 23),
        (31, 37),
        (41, 46),
        (50, 54),
        (61, 65),
        (71, 71),
        (81, 83),
    )
    for code in range(first, last + 1)
)
LENGTH = 18
# Longer than this is not worth normalising (NFKC can multiply a text's length by 18).
_MAX_RAW = 64
_SHAPE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_SPACES = re.compile(r"[ \t\n\r\f\v]")
_ASCII = r"^[\x00-\x7F]*$"


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 (ASCII) digits."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalize(raw: str) -> str:
    """The one spelling of `raw`: NFKC (full-width digits and `ｘ` become ASCII), no spaces, the
    check character in capitals. Whatever else it holds stays, to be refused."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", raw)).upper()


def id_number_invalid(raw: str, *, today: date | None = None) -> InvalidValue | None:
    """None when `raw` spells a valid ID number, else why not (`reason` and `message`)."""
    if len(raw) > _MAX_RAW:
        return InvalidValue(
            _("应为 %(length)d 位，现为 %(n)d 位") % {"length": LENGTH, "n": len(raw)},
            _("身份证号应为 18 位，现为 %(n)d 位") % {"n": len(raw)},
        )
    value = normalize(raw)
    if not value:
        return InvalidValue(_("必填"), _("请填写身份证号"))
    if len(value) != LENGTH:
        return InvalidValue(
            _("应为 %(length)d 位，现为 %(n)d 位") % {"length": LENGTH, "n": len(value)},
            _("身份证号应为 18 位，现为 %(n)d 位") % {"n": len(value)},
        )
    if not _SHAPE.fullmatch(value):
        return InvalidValue(
            _("应为 17 位半角数字加 1 位数字或 X"),
            _("身份证号应为 17 位数字加 1 位数字或 X（不能用其他文字的数字）"),
        )
    if value[:2] not in PROVINCES:
        return InvalidValue(
            _("前两位 %(code)s 不是在用的省级行政区代码") % {"code": value[:2]},
            _("身份证号前两位 %(code)s 不是在用的省级行政区代码") % {"code": value[:2]},
        )
    try:
        born = birth_date(value)
    except ValueError:
        return InvalidValue(
            _("出生日期 %(date)s 不存在") % {"date": value[6:14]},
            _("身份证号中的出生日期 %(date)s 不存在") % {"date": value[6:14]},
        )
    if not (EARLIEST_BIRTH <= born <= (today or date.today())):
        return InvalidValue(
            _("出生日期 %(date)s 超出范围") % {"date": value[6:14]},
            _("身份证号中的出生日期 %(date)s 超出范围") % {"date": value[6:14]},
        )
    expected = check_char(value[:17])
    if value[17] != expected:
        return InvalidValue(
            _("校验位是 %(got)s，应为 %(expected)s") % {"got": value[17], "expected": expected},
            _("身份证号校验位是 %(got)s，应为 %(expected)s")
            % {"got": value[17], "expected": expected},
        )
    return None


def id_number_clean(raw: str, *, today: date | None = None) -> str:
    """The number in its one stored spelling; InvalidValue when `raw` is not a valid number."""
    if (invalid := id_number_invalid(raw, today=today)) is not None:
        raise invalid
    return normalize(raw)


def id_number_problem(raw: str, *, today: date | None = None) -> str | None:
    """None when `raw` spells a valid ID number, else why not (for a row-level error report)."""
    invalid = id_number_invalid(raw, today=today)
    return None if invalid is None else invalid.reason


def is_valid(raw: str) -> bool:
    return id_number_invalid(raw) is None


def birth_date(value: str) -> date:
    return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def normalize_series(numbers: pl.Series) -> pl.Series:
    """`normalize` over a column: plain ASCII values in Polars, the rest (a few, in a real
    file) through `normalize` itself; an empty result is null (a missing number). A value
    longer than the validator reads stays as it is, to be refused for its length."""
    frame = pl.DataFrame({"v": numbers}, schema={"v": pl.String})
    v = pl.col("v")
    too_long = v.str.len_chars() > _MAX_RAW
    plain = v.str.replace_all(_SPACES.pattern, "").str.to_uppercase()
    out = frame.select(pl.when(too_long).then(v).otherwise(plain)).to_series()
    other = frame.select(~v.str.contains(_ASCII) & ~too_long).to_series().fill_null(False)
    if other.any():
        out = out.scatter(other.arg_true(), [normalize(x) for x in numbers.filter(other)])
    return out.replace("", None).alias(numbers.name)


def problems_expr(col: str, *, today: date) -> pl.Expr:
    """A Polars expression giving, for a column of normalised ID numbers (`normalize_series`),
    null or the problem, in the active language. Agrees with `id_number_problem` (tests prove
    it); the message is shorter for the bulk path. [0-9], never \\d: in Polars' regex \\d is
    every script's digits."""
    c = pl.col(col)
    digits17 = c.str.slice(0, 17)
    weighted = pl.sum_horizontal(
        [digits17.str.slice(i, 1).cast(pl.Int32, strict=False) * w for i, w in enumerate(WEIGHTS)]
    )
    expected = pl.lit(list(CHECK_CHARS)).list.get((weighted % 11).cast(pl.Int64), null_on_oob=True)
    born = c.str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    return (
        pl.when(c.is_null())
        .then(None)
        .when(c.str.len_chars() != LENGTH)
        .then(pl.lit(_("应为 %(length)d 位") % {"length": LENGTH}))
        .when(~c.str.contains(f"^{_SHAPE.pattern}$"))
        .then(pl.lit(_("应为 17 位半角数字加 1 位数字或 X")))
        .when(~c.str.slice(0, 2).is_in(sorted(PROVINCES)))
        .then(
            pl.format(
                _("前两位 %(code)s 不是在用的省级行政区代码") % {"code": "{}"}, c.str.slice(0, 2)
            )
        )
        .when(born.is_null())
        .then(pl.lit(_("出生日期不存在")))
        .when((born < pl.lit(EARLIEST_BIRTH)) | (born > pl.lit(today)))
        .then(pl.lit(_("出生日期超出范围")))
        .when(c.str.slice(17, 1) != expected)
        .then(pl.lit(_("校验位不对")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def parse_id_number(raw: str, field: str = "id_number") -> str:
    """`raw` in its one stored spelling; DomainError `invalid_id_number` (400) naming `field`,
    with the reason in the reader's language, as core.bounds does for amounts and dates."""
    try:
        return id_number_clean(raw)
    except InvalidValue as exc:
        raise DomainError("invalid_id_number", exc.message, field=field) from None
