"""Adjudication rules for the mutual-aid medical protection plans.

Pure functions over typed values: given the terms of one plan version and the settlements of
one member whose admission falls in that version's period, decide what each settlement is
paid and why not when it is not. No ORM, no I/O; the settlement import and the ledger call in
here and book whatever differs from what was paid before.

The rules are those of INTERFACES.md, "Adjudication rules (exact)". Money is ``Decimal`` with
two places; intermediate sums are exact and rounded half-up to the fen once, where a rule says.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

__all__ = [
    "AccidentTerms",
    "Adjudication",
    "AllowanceTerms",
    "Band",
    "Benefit",
    "CriticalIllnessTerms",
    "InpatientTerms",
    "Reason",
    "RuleError",
    "SettlementFacts",
    "VersionTerms",
    "adjudicate_period",
    "in_waiting_period",
    "inpatient_unrounded",
    "round_fen",
    "rule_base",
]

FEN = Decimal("0.01")
ZERO = Decimal("0.00")

# Wide enough for any real amount times any sane ratio. Inexact is trapped so that a result is
# either exact or an error, never silently rounded before the one rounding the rules allow.
_EXACT = decimal.Context(
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


class Reason(StrEnum):
    """Why a settlement is paid nothing under a plan (the `reason` column of the payouts)."""

    NOT_MEMBER = "NOT_MEMBER"
    NOT_ENROLLED = "NOT_ENROLLED"
    WAITING_PERIOD = "WAITING_PERIOD"
    BELOW_DEDUCTIBLE = "BELOW_DEDUCTIBLE"
    CAP_REACHED = "CAP_REACHED"
    REVERSED = "REVERSED"
    NOT_COVERED = "NOT_COVERED"


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


def _money(name: str, value: object, *, positive: bool = False) -> Decimal:
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


def _date(name: str, value: object) -> date:
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
            _money("band upto", self.upto, positive=True)


@dataclass(frozen=True)
class InpatientTerms:
    deductible: Decimal
    cap: Decimal
    bands: tuple[Band, ...]

    def __post_init__(self) -> None:
        _money("inpatient deductible", self.deductible)
        _money("inpatient cap", self.cap)
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
        _money("allowance per_day", self.per_day, positive=True)
        _count("allowance excluded_days", self.excluded_days)
        _count("allowance max_days", self.max_days)


@dataclass(frozen=True)
class CriticalIllnessTerms:
    amount: Decimal
    icd10_prefixes: tuple[str, ...]

    def __post_init__(self) -> None:
        _money("critical_illness amount", self.amount, positive=True)
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
    cap: Decimal

    def __post_init__(self) -> None:
        _money("accident cap", self.cap)


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

    def __post_init__(self) -> None:
        if not isinstance(self.plan_code, str) or not self.plan_code.strip():
            raise RuleError("plan_code must be a non-empty string")
        try:
            object.__setattr__(self, "benefit", Benefit(self.benefit))
        except ValueError as exc:
            raise RuleError(f"unknown benefit {self.benefit!r}") from exc
        start = _date("period_start", self.period_start)
        end = _date("period_end", self.period_end)
        if end < start:
            raise RuleError(f"period_end {end} is before period_start {start}")
        _count("waiting_days", self.waiting_days)
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


# --- facts and results ------------------------------------------------------------------------


@dataclass(frozen=True)
class SettlementFacts:
    """What the rules read from one (non-reversed) row of the bureau's settlement file."""

    settlement_id: str
    admitted_on: date
    discharged_on: date
    settled_on: date
    in_scope_self_pay: Decimal
    out_of_scope_self_pay: Decimal
    diagnosis_code: str | None
    is_accident: bool

    def __post_init__(self) -> None:
        if not isinstance(self.settlement_id, str) or not self.settlement_id:
            raise RuleError("settlement_id must be a non-empty string")
        admitted = _date("admitted_on", self.admitted_on)
        discharged = _date("discharged_on", self.discharged_on)
        _date("settled_on", self.settled_on)
        if discharged < admitted:
            raise RuleError(
                f"settlement {self.settlement_id}: discharged_on {discharged} "
                f"is before admitted_on {admitted}"
            )
        _money("in_scope_self_pay", self.in_scope_self_pay)
        _money("out_of_scope_self_pay", self.out_of_scope_self_pay)
        if self.diagnosis_code is not None and not isinstance(self.diagnosis_code, str):
            raise RuleError("diagnosis_code must be a string or None")
        if not isinstance(self.is_accident, bool):
            raise RuleError("is_accident must be a bool")

    @property
    def order_key(self) -> tuple[date, str]:
        """The order in which a member's settlements consume deductible, caps and days."""
        return (self.settled_on, self.settlement_id)


@dataclass(frozen=True)
class Adjudication:
    """One settlement under one plan version; `reason` is None exactly when `payable` > 0."""

    settlement_id: str
    base_amount: Decimal
    payable: Decimal
    reason: Reason | None


# --- the rules --------------------------------------------------------------------------------


def in_waiting_period(terms: VersionTerms, *, new_to_plan: bool, s: SettlementFacts) -> bool:
    """A member new to the plan waits `waiting_days` days from the period's start; accidents don't.

    The last waiting day is period_start + waiting_days - 1; admission on
    period_start + waiting_days is covered.
    """
    if not new_to_plan or s.is_accident:
        return False
    return s.admitted_on < terms.period_start + timedelta(days=terms.waiting_days)


def _allowance_days(terms: AllowanceTerms, s: SettlementFacts) -> int:
    """Days of the stay that count, after the excluded days; 0 or less means none."""
    # A same-day discharge is still one day in hospital.
    return max(1, (s.discharged_on - s.admitted_on).days) - terms.excluded_days


def rule_base(terms: VersionTerms, s: SettlementFacts) -> Decimal:
    """The base the rule uses for one settlement on its own, whatever came before it.

    inpatient: in_scope_self_pay; allowance: the counted days (after exclusion, never below 0);
    critical_illness: the plan's amount; accident: the whole self-paid amount.
    """
    match terms.benefit:
        case Benefit.INPATIENT:
            return round_fen(s.in_scope_self_pay)
        case Benefit.ALLOWANCE:
            assert terms.allowance is not None  # checked by VersionTerms
            return round_fen(Decimal(max(0, _allowance_days(terms.allowance, s))))
        case Benefit.CRITICAL_ILLNESS:
            assert terms.critical_illness is not None
            return round_fen(terms.critical_illness.amount)
        case Benefit.ACCIDENT:
            return round_fen(s.in_scope_self_pay + s.out_of_scope_self_pay)


def _result(
    s: SettlementFacts, base: Decimal, payable: Decimal, reason: Reason | None
) -> Adjudication:
    return Adjudication(
        settlement_id=s.settlement_id,
        base_amount=round_fen(base),
        payable=round_fen(payable),
        reason=reason,
    )


def inpatient_unrounded(terms: InpatientTerms, low: Decimal, high: Decimal) -> Decimal:
    """The exact (unrounded) payout for the interval [low, high] of cumulative base.

    Bands are measured above the deductible: a band covers cumulative base from
    deductible + (previous upto, or 0) to deductible + its upto. Base beyond the last band's
    upto, if it has one, pays nothing.
    """
    total = Decimal(0)
    floor = terms.deductible
    for band in terms.bands:
        ceiling = None if band.upto is None else terms.deductible + band.upto
        start = max(low, floor)
        end = high if ceiling is None else min(high, ceiling)
        if end > start:
            total += (end - start) * band.ratio
        if ceiling is None:
            break
        floor = ceiling
    return total


class _Inpatient:
    def __init__(self, terms: InpatientTerms) -> None:
        self.terms = terms
        self.cumulative_base = Decimal(0)
        self.paid = Decimal(0)

    def __call__(self, s: SettlementFacts) -> Adjudication:
        base = s.in_scope_self_pay
        low = self.cumulative_base
        # Counted even when the cap leaves nothing to pay: B is base, not money paid.
        self.cumulative_base = low + base
        computed = round_fen(inpatient_unrounded(self.terms, low, self.cumulative_base))
        payable = min(computed, self.terms.cap - self.paid)
        self.paid += payable
        if computed == 0:
            return _result(s, base, ZERO, Reason.BELOW_DEDUCTIBLE)
        if payable == 0:
            return _result(s, base, ZERO, Reason.CAP_REACHED)
        return _result(s, base, payable, None)


class _Allowance:
    def __init__(self, terms: AllowanceTerms) -> None:
        self.terms = terms
        self.days_paid = 0

    def __call__(self, s: SettlementFacts) -> Adjudication:
        days = _allowance_days(self.terms, s)
        if days <= 0:
            return _result(s, ZERO, ZERO, Reason.BELOW_DEDUCTIBLE)
        paid_days = min(days, self.terms.max_days - self.days_paid)
        if paid_days <= 0:
            return _result(s, Decimal(days), ZERO, Reason.CAP_REACHED)
        self.days_paid += paid_days
        return _result(s, Decimal(days), self.terms.per_day * paid_days, None)


class _CriticalIllness:
    def __init__(self, terms: CriticalIllnessTerms) -> None:
        self.terms = terms
        self.paid = False

    def __call__(self, s: SettlementFacts) -> Adjudication:
        amount = self.terms.amount
        if not self.terms.covers(s.diagnosis_code):
            return _result(s, amount, ZERO, Reason.NOT_COVERED)
        if self.paid:
            return _result(s, amount, ZERO, Reason.CAP_REACHED)
        self.paid = True
        return _result(s, amount, amount, None)


class _Accident:
    def __init__(self, terms: AccidentTerms) -> None:
        self.terms = terms
        self.paid = Decimal(0)

    def __call__(self, s: SettlementFacts) -> Adjudication:
        base = s.in_scope_self_pay + s.out_of_scope_self_pay
        if not s.is_accident:
            return _result(s, base, ZERO, Reason.NOT_COVERED)
        remaining = self.terms.cap - self.paid
        if remaining <= 0:
            return _result(s, base, ZERO, Reason.CAP_REACHED)
        if base == 0:
            return _result(s, base, ZERO, Reason.NOT_COVERED)
        payable = min(base, remaining)
        self.paid += payable
        return _result(s, base, payable, None)


def _rule_for(terms: VersionTerms) -> Callable[[SettlementFacts], Adjudication]:
    match terms.benefit:
        case Benefit.INPATIENT:
            assert terms.inpatient is not None
            return _Inpatient(terms.inpatient)
        case Benefit.ALLOWANCE:
            assert terms.allowance is not None
            return _Allowance(terms.allowance)
        case Benefit.CRITICAL_ILLNESS:
            assert terms.critical_illness is not None
            return _CriticalIllness(terms.critical_illness)
        case Benefit.ACCIDENT:
            assert terms.accident is not None
            return _Accident(terms.accident)


def adjudicate_period(
    terms: VersionTerms, *, new_to_plan: bool, settlements: Iterable[SettlementFacts]
) -> list[Adjudication]:
    """Adjudicate all non-reversed settlements of one member under one enrolled plan version.

    Every settlement's admitted_on must lie in [period_start, period_end]. They are taken in
    order of (settled_on, settlement_id), whatever order they are given in, and one
    Adjudication per settlement is returned in that order. Settlements in the waiting period
    are paid nothing and use up nothing (deductible, cap, days, the one critical-illness payment).
    """
    ordered = sorted(settlements, key=lambda s: s.order_key)
    seen: set[str] = set()
    for s in ordered:
        if s.settlement_id in seen:
            raise RuleError(f"settlement {s.settlement_id} is given more than once")
        seen.add(s.settlement_id)
        if not terms.covers_admission(s.admitted_on):
            raise RuleError(
                f"settlement {s.settlement_id}: admitted_on {s.admitted_on} is outside "
                f"{terms.plan_code} {terms.period_start}..{terms.period_end}"
            )

    rule = _rule_for(terms)
    results: list[Adjudication] = []
    try:
        with decimal.localcontext(_EXACT):
            for s in ordered:
                if in_waiting_period(terms, new_to_plan=new_to_plan, s=s):
                    results.append(_result(s, rule_base(terms, s), ZERO, Reason.WAITING_PERIOD))
                else:
                    results.append(rule(s))
    except decimal.DecimalException as exc:
        raise RuleError(f"amounts too large or too precise to compute exactly: {exc!r}") from exc
    return results
