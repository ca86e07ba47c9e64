"""Names of people and organisations: the one validator of every name that enters huzhu, from
the API, the console, the admin or a file (INTERFACES.md "Files": members).

A name is read with its surrounding whitespace stripped; it is then at most 100 characters, holds
no control or format characters (Unicode categories Cc and Cf: a right-to-left override or a
zero-width space hides what a name says) nor line or paragraph separators (Zl, Zp), and does not
start with `=`, `+`, `-` or `@`, in any form that NFKC reads as one of them (`＝`, `﹢`): a
spreadsheet would take it for a formula (`=HYPERLINK(…)` in a union's name reached the city's
roster export as a live formula).

Pure rules, no ORM. Used one at a time (`name_clean`) and over a column (`name_series`) by the
bulk imports, which give the same answers (tests prove it).
"""

from __future__ import annotations

import unicodedata

import polars as pl
from django.utils.translation import gettext as _

from huzhu.core.errors import DomainError, InvalidValue

MAX_LENGTH = 100
FORMULA_STARTS = "=+-@"
FULL_WIDTH_FORMULA_STARTS = "＝＋－＠"
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Names made only of printable ASCII, CJK ideographs and the middle dots of transliterated names
# (·, ・): none of these is a control, format or separator character, NFKC leaves each as it is,
# and Python and Polars strip the same whitespace around them. Over a column, such names are
# checked by Polars; any other name goes through `name_invalid` itself.
_PLAIN = r"^[\x20-\x7E\u3400-\u4DBF\u4E00-\u9FFF\u00B7\u30FB]*$"


def name_invalid(raw: str) -> InvalidValue | None:
    """None when `raw` (stripped) is an acceptable name, else why not."""
    value = raw.strip()
    if not value:
        return InvalidValue(_("必填"), _("请填写名称"))
    if len(value) > MAX_LENGTH:
        return InvalidValue(
            _("超过 %(n)d 个字") % {"n": MAX_LENGTH},
            _("名称不能超过 %(n)d 个字") % {"n": MAX_LENGTH},
        )
    for ch in value:
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            return InvalidValue(
                _("含有控制字符或格式字符（U+%(code)s）") % {"code": f"{ord(ch):04X}"},
                _("名称含有控制字符或格式字符（U+%(code)s）") % {"code": f"{ord(ch):04X}"},
            )
    first, read = value[0], unicodedata.normalize("NFKC", value)[0]
    if first in FORMULA_STARTS or first in FULL_WIDTH_FORMULA_STARTS or read in FORMULA_STARTS:
        return InvalidValue(
            _formula_reason(first),
            _("名称不能以 %(char)s 开头（电子表格会当作公式）") % {"char": first},
        )
    return None


def name_clean(raw: str) -> str:
    """The name as stored (stripped); InvalidValue when it is not acceptable."""
    if (invalid := name_invalid(raw)) is not None:
        raise invalid
    return raw.strip()


def name_series(names: pl.Series) -> tuple[pl.Series, pl.Series]:
    """`name_clean` over a column: the names as stored, and null or the reason each one is
    refused. A null (an empty cell) stays null, unreported: whether a name is required is the
    file format's rule."""
    frame = pl.DataFrame({"v": names}, schema={"v": pl.String})
    v = pl.col("v")
    plain = v.str.contains(_PLAIN)
    stripped = v.str.strip_chars(" ")  # the only whitespace a plain name can hold
    checked = frame.select(
        stripped.alias("cleaned"),
        pl.when(v.is_null() | ~plain)
        .then(None)
        .when(stripped == "")
        .then(pl.lit(_("必填")))
        .when(stripped.str.len_chars() > MAX_LENGTH)
        .then(pl.lit(_("超过 %(n)d 个字") % {"n": MAX_LENGTH}))
        .when(stripped.str.slice(0, 1).is_in(list(FORMULA_STARTS)))
        .then(pl.format(_formula_reason("{}"), stripped.str.slice(0, 1)))
        .otherwise(None)
        .alias("problem"),
        (v.is_not_null() & ~plain).alias("other"),
    )
    cleaned = checked["cleaned"].alias(names.name)
    problems = checked["problem"].alias(f"{names.name}_problem")
    other = checked["other"]
    if other.any():
        index = other.arg_true()
        values = names.filter(other).to_list()
        reasons = {value: _reason(value) for value in set(values)}
        cleaned = cleaned.scatter(index, [value.strip() for value in values])
        problems = problems.scatter(index, [reasons[value] for value in values])
    return cleaned, problems


def _formula_reason(char: str) -> str:
    return _("不能以 %(char)s 开头（电子表格会当作公式）") % {"char": char}


def _reason(value: str) -> str | None:
    invalid = name_invalid(value)
    return None if invalid is None else invalid.reason


def parse_name(raw: str, field: str = "name") -> str:
    """The name as stored; DomainError (400) naming `field` when it is refused: `required`
    for an empty one, else `invalid_name`, with the reason in the reader's language."""
    try:
        return name_clean(raw)
    except InvalidValue as exc:
        code = "required" if not raw.strip() else "invalid_name"
        raise DomainError(code, exc.message, field=field) from None
