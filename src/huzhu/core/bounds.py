"""The bounds every amount, quota and date must keep, wherever it comes from (INTERFACES.md
"Bounds"): the API, the pages, the importers and the command line all call in here.

- Money: a plain decimal string of ASCII digits with at most two decimals, from 0 to
  99,999,999.99 yuan. `1e3`, `١٠٠` (Arabic-Indic), `９９` (full width), `+5`, `.5`, `NaN` are
  not amounts: Python's `Decimal()`, `int()` and the regex `\\d` accept other scripts and
  notations, so none of them decides what an amount is.
- Quotas: whole numbers from 0 to 1,000,000.
- Dates: `YYYY-MM-DD` in ASCII digits, from 1900-01-01 to 2099-12-31; a date and time
  (`Moment`) is an ISO 8601 text whose date lies there too, never a Unix timestamp.

A value out of bounds is a `DomainError` (400) naming the field; pydantic types for the API
(`MoneyText`, `Day`, `Moment`, `Quota`, `Year`) give a 422 naming it. Nothing out of bounds
reaches a column it could overflow.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from django.utils.translation import gettext as _
from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from huzhu.core.errors import DomainError

MAX_MONEY = Decimal("99999999.99")
MAX_QUOTA = 1_000_000
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2099, 12, 31)
CENT = Decimal("0.01")

# ASCII digits only ([0-9], never \d): at most 8 before the point, 1 or 2 after it.
MONEY_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
_MONEY = re.compile(MONEY_PATTERN, re.ASCII)
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$", re.ASCII)
_WHOLE = re.compile(r"^[0-9]{1,7}$", re.ASCII)
# The start of an ISO 8601 date and time; the rest is pydantic's (or fromisoformat's) to read.
_MOMENT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.,+\-Z]*)?$", re.ASCII)


def money_problem(value: object, *, allow_zero: bool = False) -> str | None:
    """Why `value` is not an amount of yuan within bounds, or None when it is one."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return _("不是金额：%(value)s") % {"value": value}
        if abs(value) <= MAX_MONEY and value != value.quantize(CENT):
            return _("最多两位小数：%(value)s") % {"value": value}
        amount = value
    elif isinstance(value, str):
        text = value.strip(" \t")
        if not _MONEY.match(text):
            if text.startswith("-") and _MONEY.match(text[1:]):
                return _("不能为负数：%(value)s") % {"value": _short(value)}
            if re.fullmatch(r"[0-9]{9,}(\.[0-9]{1,2})?", text, re.ASCII):
                return _("不能超过 %(max)s 元：%(value)s") % {
                    "max": MAX_MONEY,
                    "value": _short(value),
                }
            return _("不是金额：请用半角数字写元数，最多两位小数（如 1200.50）：%(value)s") % {
                "value": _short(value)
            }
        amount = Decimal(text)
    else:
        # int, float, bool and anything else: an amount comes as text (or an exact Decimal).
        return _('不是金额：请写成字符串，如 "1200.50"：%(value)s') % {"value": _short(value)}
    if amount < 0:
        return _("不能为负数：%(value)s") % {"value": amount}
    if amount == 0 and not allow_zero:
        return _("必须大于 0：%(value)s") % {"value": amount}
    if amount > MAX_MONEY:
        return _("不能超过 %(max)s 元：%(value)s") % {"max": MAX_MONEY, "value": amount}
    return None


def parse_money(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
    """`value` as Decimal yuan with two places; DomainError `invalid_amount` naming `field`."""
    problem = money_problem(value, allow_zero=allow_zero)
    if problem is not None:
        raise DomainError("invalid_amount", field_problem(field, problem), field=field)
    assert isinstance(value, (str, Decimal))
    return Decimal(value.strip(" \t") if isinstance(value, str) else value).quantize(CENT)


def date_problem(value: object) -> str | None:
    """Why `value` is not a date within bounds (a `date`, or `YYYY-MM-DD` text), or None."""
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        m = _DATE.match(value.strip())
        if not m:
            return _("不是日期（YYYY-MM-DD）：%(value)s") % {"value": _short(value)}
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return _("没有这一天：%(value)s") % {"value": _short(value)}
    else:
        return _("不是日期（YYYY-MM-DD）：%(value)s") % {"value": _short(value)}
    if not MIN_DATE <= day <= MAX_DATE:
        return between(MIN_DATE, MAX_DATE, day)
    return None


def parse_date(value: object, field: str) -> date:
    """`value` as a date within bounds; DomainError `invalid_date` naming `field`."""
    problem = date_problem(value)
    if problem is not None:
        raise DomainError("invalid_date", field_problem(field, problem), field=field)
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def moment_problem(value: object) -> str | None:
    """Why `value` (a datetime) is not a moment within bounds: its date, as written, must lie
    from 1900-01-01 to 2099-12-31 (so that no time zone shift can leave what a year holds)."""
    if not isinstance(value, datetime):
        return _not_a_moment(value)
    if not MIN_DATE <= value.date() <= MAX_DATE:
        return between(MIN_DATE, MAX_DATE, value.date())
    return None


def check_moment(value: datetime, field: str) -> datetime:
    """`value` when within bounds; DomainError `invalid_date` naming `field`."""
    problem = moment_problem(value)
    if problem is not None:
        raise DomainError("invalid_date", field_problem(field, problem), field=field)
    return value


def year_problem(value: object) -> str | None:
    """Why `value` is not a year from 1900 to 2099, or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return _("不是年份：%(value)s") % {"value": _short(value)}
    if not MIN_DATE.year <= value <= MAX_DATE.year:
        return between(MIN_DATE.year, MAX_DATE.year, _short(value))
    return None


def quota_problem(value: object, *, minimum: int = 0) -> str | None:
    """Why `value` is not a quota (a whole number from `minimum` to 1,000,000), or None."""
    if isinstance(value, bool):
        return _("不是整数：%(value)s") % {"value": value}
    if isinstance(value, str):
        if not _WHOLE.match(value.strip()):
            return _("不是不超过 %(max)s 的整数：%(value)s") % {
                "max": f"{MAX_QUOTA:,}",
                "value": _short(value),
            }
        value = int(value.strip())
    if not isinstance(value, int):
        return _("不是整数：%(value)s") % {"value": _short(value)}
    if value < minimum:
        return _("不能小于 %(min)s：%(value)s") % {"min": minimum, "value": value}
    if value > MAX_QUOTA:
        return _("不能超过 %(max)s：%(value)s") % {"max": f"{MAX_QUOTA:,}", "value": value}
    return None


def parse_quota(value: object, field: str, *, minimum: int = 0) -> int:
    problem = quota_problem(value, minimum=minimum)
    if problem is not None:
        raise DomainError("invalid_quota", field_problem(field, problem), field=field)
    if isinstance(value, str):
        return int(value.strip())
    assert isinstance(value, int)  # quota_problem let nothing else through
    return value


def field_problem(field: str, problem: str) -> str:
    """A message naming the field (as the API spells it) and what is wrong with its value."""
    return _("%(field)s：%(problem)s") % {"field": field, "problem": problem}


def between(low: object, high: object, value: object) -> str:
    return _("应在 %(min)s 至 %(max)s 之间：%(value)s") % {"min": low, "max": high, "value": value}


def _not_a_moment(value: object) -> str:
    return _("不是日期时间（YYYY-MM-DDTHH:MM:SS）：%(value)s") % {"value": _short(value)}


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "…"


# -- pydantic types for the API's schemas: a 422 naming the field, never a 500 --------------------


def _money_in(value: Any) -> Decimal:
    problem = money_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return parse_money(value, "amount")


def _money_or_zero_in(value: Any) -> Decimal:
    problem = money_problem(value, allow_zero=True)
    if problem is not None:
        raise ValueError(problem)
    return parse_money(value, "amount", allow_zero=True)


def _day_in(value: Any) -> date:
    problem = date_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value if isinstance(value, date) else date.fromisoformat(value.strip())


def _moment_text(value: Any) -> Any:
    # Before pydantic parses it: text in ASCII starting with a date, or a datetime; never a
    # number (pydantic reads 1700000000 as a Unix timestamp) nor another digit script.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _MOMENT.match(value.strip()):
        raise ValueError(_not_a_moment(value))
    return value.strip()


def _moment_in(value: datetime) -> datetime:
    problem = moment_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _year_in(value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,4}", value.strip(), re.ASCII):
        value = int(value.strip())
    problem = year_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return int(value)


def _quota_in(value: Any) -> int:
    problem = quota_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return int(value.strip()) if isinstance(value, str) else int(value)


_MONEY_SCHEMA = {"type": "string", "pattern": MONEY_PATTERN, "examples": ["1200.50"]}

# An amount of yuan (> 0) given as a string: "1200.50"; read as Decimal, written back as text.
MoneyText = Annotated[
    Decimal,
    BeforeValidator(_money_in),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str),
    WithJsonSchema(_MONEY_SCHEMA),
]
# The same, where 0.00 is a valid amount (a self-paid part, a contribution waived).
MoneyOrZeroText = Annotated[
    Decimal,
    BeforeValidator(_money_or_zero_in),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str),
    WithJsonSchema(_MONEY_SCHEMA),
]
Day = Annotated[
    date,
    BeforeValidator(_day_in),
    WithJsonSchema({"type": "string", "format": "date"}),
]
# A date and time: ISO 8601 text ("2026-01-13T12:00:00", with or without an offset).
Moment = Annotated[
    datetime,
    BeforeValidator(_moment_text),
    AfterValidator(_moment_in),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
# A whole number from 0 to 1,000,000: an activity's quota, and counts of people or things.
Quota = Annotated[
    int,
    BeforeValidator(_quota_in),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_QUOTA}),
]
Year = Annotated[
    int,
    BeforeValidator(_year_in),
    WithJsonSchema({"type": "integer", "minimum": MIN_DATE.year, "maximum": MAX_DATE.year}),
]
