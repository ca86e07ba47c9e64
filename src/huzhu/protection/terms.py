"""The terms of a plan version (保障条款) as the rules read them: typed, checked values (bands,
caps, ratios, days), and the few constants and checks they share with the rules. Pure: no ORM,
no I/O; `protection.rules` applies them."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

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
        raise RuleError(f"cannot round {x!r} to the fen") from exc


# --- validation helpers -----------------------------------------------------------------------


def _decimal(name: str, value: object) -> Decimal:
    # bool and float are rejected on purpose: money and ratios are never binary floating point.
    if not isinstance(value, Decimal):
        raise RuleError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise RuleError(f"{name} must be a finite number, not {value}")
    return value


def checked_money(name: str, value: object, *, positive: bool = False) -> Decimal:
    amount = _decimal(name, value)
    if amount < 0 or (positive and amount == 0):
        raise RuleError(f"{name} must be {'positive' if positive else 'at least 0'}, not {amount}")
    if round_fen(amount) != amount:
        raise RuleError(f"{name} must have at most two decimals, not {amount}")
    return amount


def _ratio(name: str, value: object) -> Decimal:
    ratio = _decimal(name, value)
    if not 0 <= ratio <= 1:
        raise RuleError(f"{name} must lie between 0 and 1, not {ratio}")
    return ratio


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise RuleError(f"{name} must be at least 0, not {value}")
    return value


def checked_date(name: str, value: object) -> date:
    if not isinstance(value, date):
        raise RuleError(f"{name} must be a date, not {type(value).__name__}")
    return value


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
            raise RuleError("inpatient bands must not be empty")
        previous = Decimal(0)
        for i, band in enumerate(self.bands):
            if not isinstance(band, Band):
                raise RuleError(f"inpatient band {i + 1} must be a Band")
            if band.upto is None:
                if i != len(self.bands) - 1:
                    raise RuleError(f"only the last band may be open; band {i + 1} has no upto")
                continue
            if band.upto <= previous:
                raise RuleError(
                    f"band limits must ascend; band {i + 1} upto {band.upto} follows {previous}"
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
            raise RuleError("critical_illness icd10_prefixes must not be empty")
        for prefix in self.icd10_prefixes:
            # An empty prefix would cover every diagnosis, which no plan means.
            if not isinstance(prefix, str) or not prefix.strip():
                raise RuleError(f"critical_illness prefix must be a non-empty string: {prefix!r}")

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
                f"accident disability_ratios: one ratio per grade 1..10, not "
                f"{len(self.disability_ratios)}"
            )
        for grade, ratio in enumerate(self.disability_ratios, start=1):
            _ratio(f"accident disability ratio of grade {grade}", ratio)
        for grade in range(1, 10):
            if self.disability_ratios[grade] > self.disability_ratios[grade - 1]:
                raise RuleError(
                    f"accident disability_ratios: grade {grade + 1} may not pay more than "
                    f"grade {grade} (grade 1 is the worst)"
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
            raise RuleError("plan_code must be a non-empty string")
        try:
            object.__setattr__(self, "benefit", Benefit(self.benefit))
        except ValueError as exc:
            raise RuleError(f"unknown benefit {self.benefit!r}") from exc
        start = checked_date("period_start", self.period_start)
        end = checked_date("period_end", self.period_end)
        if end < start:
            raise RuleError(f"period_end {end} is before period_start {start}")
        _count("waiting_days", self.waiting_days)
        if self.review_above is not None:
            checked_money("review_above", self.review_above)
        try:
            start + timedelta(days=self.waiting_days)
        except OverflowError as exc:
            raise RuleError(f"waiting_days {self.waiting_days} is out of range") from exc
        section = _SECTIONS[self.benefit]
        if getattr(self, section) is None:
            raise RuleError(f"a {self.benefit} plan needs its [{section}] terms")
        expected = {
            "inpatient": InpatientTerms,
            "allowance": AllowanceTerms,
            "critical_illness": CriticalIllnessTerms,
            "accident": AccidentTerms,
        }
        for name, kind in expected.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise RuleError(f"[{name}] terms must be {kind.__name__}")

    def covers_admission(self, admitted_on: date) -> bool:
        return self.period_start <= admitted_on <= self.period_end
