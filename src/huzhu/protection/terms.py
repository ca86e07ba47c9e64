"""The terms of a plan version (保障条款) as the rules read them: typed, checked values (bands,
caps, ratios, days), and the few constants and checks they share with the rules. Pure: no ORM,
no I/O (their refusals are worded in the active language); `protection.rules` applies them."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.utils.translation import gettext as _

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# The usual ratios of the disability grades 1..10 (伤残等级), grade 1 the worst.
STANDARD_DISABILITY_RATIOS = tuple(
    Decimal(f"{r:.2f}") for r in (1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
)

# Wide enough for any real amount times any sane ratio. Inexact is trapped so that a result is
# either exact or an error, never silently rounded before the one rounding the rules allow.
EXACT = decimal.Context(
    prec=60,
    rounding=ROUND_HALF_UP,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)
# Rounding to the fen is allowed to be inexact; that is its purpose.
_ROUNDING = decimal.Context(
    prec=60,
    rounding=ROUND_HALF_UP,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class Benefit(StrEnum):
    INPATIENT = "inpatient"
    ALLOWANCE = "allowance"
    CRITICAL_ILLNESS = "critical_illness"
    ACCIDENT = "accident"


class RuleError(ValueError):
    """Terms or facts the rules cannot be applied to."""


def round_fen(x: Decimal) -> Decimal:
    """Round to the fen (0.01 yuan), half-up: 0.005 becomes 0.01."""
    try:
        return x.quantize(FEN, rounding=ROUND_HALF_UP, context=_ROUNDING)
    except decimal.DecimalException as exc:
        raise RuleError(_("无法把 %(value)s 四舍五入到分") % {"value": repr(x)}) from exc


# --- validation helpers -----------------------------------------------------------------------


def _decimal(name: str, value: object) -> Decimal:
    # bool and float are rejected on purpose: money and ratios are never binary floating point.
    if not isinstance(value, Decimal):
        raise RuleError(
            _("%(name)s 应为 Decimal（现为 %(type)s）")
            % {"name": name, "type": type(value).__name__}
        )
    if not value.is_finite():
        raise RuleError(
            _("%(name)s 应为有限的数（现为 %(value)s）") % {"name": name, "value": value}
        )
    return value


def checked_money(name: str, value: object, *, positive: bool = False) -> Decimal:
    amount = _decimal(name, value)
    if amount < 0 or (positive and amount == 0):
        message = _("%(name)s 应大于 0（现为 %(value)s）") if positive else _at_least_0()
        raise RuleError(message % {"name": name, "value": amount})
    if round_fen(amount) != amount:
        raise RuleError(
            _("%(name)s 最多两位小数（现为 %(value)s）") % {"name": name, "value": amount}
        )
    return amount


def _ratio(name: str, value: object) -> Decimal:
    ratio = _decimal(name, value)
    if not 0 <= ratio <= 1:
        raise RuleError(
            _("%(name)s 应在 0 到 1 之间（现为 %(value)s）") % {"name": name, "value": ratio}
        )
    return ratio


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(
            _("%(name)s 应为整数（现为 %(type)s）") % {"name": name, "type": type(value).__name__}
        )
    if value < 0:
        raise RuleError(_at_least_0() % {"name": name, "value": value})
    return value


def checked_date(name: str, value: object) -> date:
    if not isinstance(value, date):
        raise RuleError(
            _("%(name)s 应为日期（现为 %(type)s）") % {"name": name, "type": type(value).__name__}
        )
    return value


def _at_least_0() -> str:
    return _("%(name)s 不能小于 0（现为 %(value)s）")


# --- plan terms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Pays `ratio` of cumulative base above the deductible up to `upto` (None: no upper limit)."""

    ratio: Decimal
    upto: Decimal | None = None

    def __post_init__(self) -> None:
        _ratio("band ratio", self.ratio)
        if self.upto is not None:
            checked_money("band upto", self.upto, positive=True)


@dataclass(frozen=True)
class InpatientTerms:
    deductible: Decimal
    cap: Decimal
    bands: tuple[Band, ...]

    def __post_init__(self) -> None:
        checked_money("inpatient deductible", self.deductible)
        checked_money("inpatient cap", self.cap)
        # A TOML loader hands over a list; keep the value hashable and immutable.
        object.__setattr__(self, "bands", tuple(self.bands))
        if not self.bands:
            raise RuleError(_("inpatient bands 不能为空"))
        previous = Decimal(0)
        for i, band in enumerate(self.bands):
            if not isinstance(band, Band):
                raise RuleError(_("inpatient 第 %(n)s 档应为 Band") % {"n": i + 1})
            if band.upto is None:
                if i != len(self.bands) - 1:
                    raise RuleError(
                        _("只有最后一档可以不设上限；第 %(n)s 档没有 upto") % {"n": i + 1}
                    )
                continue
            if band.upto <= previous:
                raise RuleError(
                    _("各档上限应逐档递增；第 %(n)s 档的 upto %(upto)s 不大于前一档的 %(previous)s")
                    % {"n": i + 1, "upto": band.upto, "previous": previous}
                )
            previous = band.upto


@dataclass(frozen=True)
class AllowanceTerms:
    per_day: Decimal
    excluded_days: int
    max_days: int

    def __post_init__(self) -> None:
        # A zero allowance would pay nothing with no reason to give; not a plan.
        checked_money("allowance per_day", self.per_day, positive=True)
        _count("allowance excluded_days", self.excluded_days)
        _count("allowance max_days", self.max_days)


@dataclass(frozen=True)
class CriticalIllnessTerms:
    amount: Decimal
    icd10_prefixes: tuple[str, ...]

    def __post_init__(self) -> None:
        checked_money("critical_illness amount", self.amount, positive=True)
        object.__setattr__(self, "icd10_prefixes", tuple(self.icd10_prefixes))
        if not self.icd10_prefixes:
            raise RuleError(_("critical_illness icd10_prefixes 不能为空"))
        for prefix in self.icd10_prefixes:
            # An empty prefix would cover every diagnosis, which no plan means.
            if not isinstance(prefix, str) or not prefix.strip():
                raise RuleError(
                    _("critical_illness 的前缀应为非空字符串：%(prefix)s")
                    % {"prefix": repr(prefix)}
                )

    def covers(self, diagnosis_code: str | None) -> bool:
        """Whether a diagnosis is on the list; ICD-10 codes are compared case-insensitively."""
        if diagnosis_code is None:
            return False
        code = diagnosis_code.strip().upper()
        return bool(code) and any(code.startswith(p.strip().upper()) for p in self.icd10_prefixes)


@dataclass(frozen=True)
class AccidentTerms:
    """Accident medical costs up to `cap`, and (when `disability_sum` is set) a lump sum by
    disability grade (伤残等级 1–10, 1 the worst): `disability_sum` × the grade's ratio."""

    cap: Decimal
    disability_sum: Decimal | None = None
    disability_ratios: tuple[Decimal, ...] = STANDARD_DISABILITY_RATIOS

    def __post_init__(self) -> None:
        checked_money("accident cap", self.cap)
        if self.disability_sum is not None:
            checked_money("accident disability_sum", self.disability_sum)
        object.__setattr__(self, "disability_ratios", tuple(self.disability_ratios))
        if len(self.disability_ratios) != 10:
            raise RuleError(
                _("accident disability_ratios：应为 1 至 10 级各一个比例（现为 %(n)s 个）")
                % {"n": len(self.disability_ratios)}
            )
        for grade, ratio in enumerate(self.disability_ratios, start=1):
            _ratio(_("accident 第 %(grade)s 级伤残的比例") % {"grade": grade}, ratio)
        for grade in range(1, 10):
            if self.disability_ratios[grade] > self.disability_ratios[grade - 1]:
                raise RuleError(
                    _(
                        "accident disability_ratios：第 %(lower)s 级的比例不能高于第 %(grade)s 级"
                        "（1 级最重）"
                    )
                    % {"lower": grade + 1, "grade": grade}
                )


_SECTIONS: dict[Benefit, str] = {
    Benefit.INPATIENT: "inpatient",
    Benefit.ALLOWANCE: "allowance",
    Benefit.CRITICAL_ILLNESS: "critical_illness",
    Benefit.ACCIDENT: "accident",
}


@dataclass(frozen=True)
class VersionTerms:
    """The terms of one plan version that the rules need (a subset of the plan's TOML)."""

    plan_code: str
    benefit: Benefit
    period_start: date
    period_end: date
    waiting_days: int
    inpatient: InpatientTerms | None = None
    allowance: AllowanceTerms | None = None
    critical_illness: CriticalIllnessTerms | None = None
    accident: AccidentTerms | None = None
    # A bureau settlement paying more than this under the version waits for a reviewer.
    review_above: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.plan_code, str) or not self.plan_code.strip():
            raise RuleError(_("plan_code 应为非空字符串"))
        try:
            object.__setattr__(self, "benefit", Benefit(self.benefit))
        except ValueError as exc:
            raise RuleError(
                _("未知的保障类型 %(benefit)s") % {"benefit": repr(self.benefit)}
            ) from exc
        start = checked_date("period_start", self.period_start)
        end = checked_date("period_end", self.period_end)
        if end < start:
            raise RuleError(
                _("period_end %(end)s 早于 period_start %(start)s") % {"end": end, "start": start}
            )
        _count("waiting_days", self.waiting_days)
        if self.review_above is not None:
            checked_money("review_above", self.review_above)
        try:
            start + timedelta(days=self.waiting_days)
        except OverflowError as exc:
            raise RuleError(
                _("waiting_days %(days)s 超出范围") % {"days": self.waiting_days}
            ) from exc
        section = _SECTIONS[self.benefit]
        if getattr(self, section) is None:
            raise RuleError(
                _("%(benefit)s 类计划需要 [%(section)s] 条款")
                % {"benefit": self.benefit, "section": section}
            )
        expected = {
            "inpatient": InpatientTerms,
            "allowance": AllowanceTerms,
            "critical_illness": CriticalIllnessTerms,
            "accident": AccidentTerms,
        }
        for name, kind in expected.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise RuleError(
                    _("[%(name)s] 条款应为 %(kind)s") % {"name": name, "kind": kind.__name__}
                )

    def covers_admission(self, admitted_on: date) -> bool:
        return self.period_start <= admitted_on <= self.period_end
