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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from huzhu.protection.terms import (
    EXACT,
    STANDARD_DISABILITY_RATIOS,
    ZERO,
    AccidentTerms,
    AllowanceTerms,
    Band,
    Benefit,
    CriticalIllnessTerms,
    InpatientTerms,
    RuleError,
    VersionTerms,
    checked_date,
    checked_money,
    round_fen,
)

__all__ = [
    "STANDARD_DISABILITY_RATIOS",
    "AccidentTerms",
    "Adjudication",
    "AllowanceTerms",
    "Band",
    "Benefit",
    "CriticalIllnessTerms",
    "DisabilityAssessment",
    "Enrolled",
    "InpatientTerms",
    "Reason",
    "RuleError",
    "SettlementFacts",
    "Stay",
    "StayRow",
    "VersionTerms",
    "adjudicate_member",
    "adjudicate_period",
    "coverage_start",
    "disability_assessment",
    "in_waiting_period",
    "inpatient_pieces",
    "inpatient_unrounded",
    "round_fen",
    "rule_base",
]


class Reason(StrEnum):
    """Why a settlement is paid nothing under a plan (the `reason` column of the payouts)."""

    NOT_MEMBER = "NOT_MEMBER"
    NOT_ENROLLED = "NOT_ENROLLED"
    WAITING_PERIOD = "WAITING_PERIOD"
    BELOW_DEDUCTIBLE = "BELOW_DEDUCTIBLE"
    CAP_REACHED = "CAP_REACHED"
    REVERSED = "REVERSED"
    NOT_COVERED = "NOT_COVERED"


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
        admitted = checked_date("admitted_on", self.admitted_on)
        discharged = checked_date("discharged_on", self.discharged_on)
        checked_date("settled_on", self.settled_on)
        if discharged < admitted:
            raise RuleError(
                f"settlement {self.settlement_id}: discharged_on {discharged} "
                f"is before admitted_on {admitted}"
            )
        checked_money("in_scope_self_pay", self.in_scope_self_pay)
        checked_money("out_of_scope_self_pay", self.out_of_scope_self_pay)
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
    """One settlement under one plan version; `reason` is None exactly when `payable` > 0.

    `assessed` is what the rules give the stay (核定金额); `payable` is the same, held to the
    stay's limit when it has one (a reviewer approved less, or staff corrected it)."""

    settlement_id: str
    base_amount: Decimal
    payable: Decimal
    reason: Reason | None
    assessed: Decimal = ZERO
    # What the period had used up before this stay, for showing the arithmetic: the base
    # counted (inpatient: in-scope self-pay; allowance: days paid) and the money paid.
    base_before: Decimal = ZERO
    paid_before: Decimal = ZERO


# --- the rules --------------------------------------------------------------------------------


def coverage_start(terms: VersionTerms, *, new_to_plan: bool, paid_on: date | None) -> date:
    """The first day a member's enrolment in this version covers (INTERFACES "Coverage start").

    A renewal (enrolled in the same plan's version ending the day before) is covered from
    `period_start`; anyone new to the plan from the later of `period_start` and `paid_on`."""
    if not new_to_plan or paid_on is None:
        return terms.period_start
    return max(terms.period_start, paid_on)


def in_waiting_period(
    terms: VersionTerms, *, new_to_plan: bool, s: SettlementFacts, paid_on: date | None = None
) -> bool:
    """A member new to the plan waits `waiting_days` days from coverage start; accidents don't.

    The last waiting day is coverage start + waiting_days - 1; admission on
    coverage start + waiting_days is covered.
    """
    if not new_to_plan or s.is_accident:
        return False
    start = coverage_start(terms, new_to_plan=new_to_plan, paid_on=paid_on)
    return s.admitted_on < start + timedelta(days=terms.waiting_days)


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
    s: SettlementFacts,
    base: Decimal,
    payable: Decimal,
    reason: Reason | None,
    assessed: Decimal | None = None,
    before: tuple[Decimal, Decimal] = (ZERO, ZERO),
) -> Adjudication:
    return Adjudication(
        settlement_id=s.settlement_id,
        base_amount=round_fen(base),
        payable=round_fen(payable),
        reason=reason,
        assessed=round_fen(payable if assessed is None else assessed),
        base_before=round_fen(before[0]),
        paid_before=round_fen(before[1]),
    )


def _held(amount: Decimal, limit: Decimal | None) -> Decimal:
    """`amount` held to a stay's limit (None: no limit)."""
    return amount if limit is None else min(amount, limit)


def inpatient_pieces(
    terms: InpatientTerms, low: Decimal, high: Decimal
) -> list[tuple[Decimal, Decimal]]:
    """The parts of the interval [low, high] of cumulative base that fall in each band, with
    the band's ratio: (amount in the band, ratio), bands that get nothing left out.

    Bands are measured above the deductible: a band covers cumulative base from
    deductible + (previous upto, or 0) to deductible + its upto. Base beyond the last band's
    upto, if it has one, pays nothing.
    """
    pieces = []
    floor = terms.deductible
    for band in terms.bands:
        ceiling = None if band.upto is None else terms.deductible + band.upto
        start = max(low, floor)
        end = high if ceiling is None else min(high, ceiling)
        if end > start:
            pieces.append((end - start, band.ratio))
        if ceiling is None:
            break
        floor = ceiling
    return pieces


def inpatient_unrounded(terms: InpatientTerms, low: Decimal, high: Decimal) -> Decimal:
    """The exact (unrounded) payout for the interval [low, high] of cumulative base."""
    return sum((amount * ratio for amount, ratio in inpatient_pieces(terms, low, high)), Decimal(0))


class _Inpatient:
    def __init__(self, terms: InpatientTerms) -> None:
        self.terms = terms
        self.cumulative_base = Decimal(0)
        self.paid = Decimal(0)

    def __call__(self, s: SettlementFacts, limit: Decimal | None) -> Adjudication:
        base = s.in_scope_self_pay
        low = self.cumulative_base
        before = (low, self.paid)
        # Counted even when the cap leaves nothing to pay: B is base, not money paid.
        self.cumulative_base = low + base
        computed = round_fen(inpatient_unrounded(self.terms, low, self.cumulative_base))
        assessed = min(computed, self.terms.cap - self.paid)
        payable = _held(assessed, limit)
        self.paid += payable
        if computed == 0:
            return _result(s, base, ZERO, Reason.BELOW_DEDUCTIBLE, before=before)
        if payable == 0:
            return _result(s, base, ZERO, Reason.CAP_REACHED, before=before)
        return _result(s, base, payable, None, assessed, before=before)


class _Allowance:
    def __init__(self, terms: AllowanceTerms) -> None:
        self.terms = terms
        self.days_paid = 0

    def __call__(self, s: SettlementFacts, limit: Decimal | None) -> Adjudication:
        days = _allowance_days(self.terms, s)
        if days <= 0:
            return _result(s, ZERO, ZERO, Reason.BELOW_DEDUCTIBLE)
        paid_days = min(days, self.terms.max_days - self.days_paid)
        before = (Decimal(self.days_paid), ZERO)
        if paid_days <= 0:
            return _result(s, Decimal(days), ZERO, Reason.CAP_REACHED, before=before)
        # A limit holds the money back, not the days: they are spent as the stay had them.
        self.days_paid += paid_days
        assessed = self.terms.per_day * paid_days
        return _result(s, Decimal(days), _held(assessed, limit), None, assessed, before=before)


class _CriticalIllness:
    def __init__(self, terms: CriticalIllnessTerms) -> None:
        self.terms = terms
        self.paid = False

    def __call__(self, s: SettlementFacts, limit: Decimal | None) -> Adjudication:
        amount = self.terms.amount
        if not self.terms.covers(s.diagnosis_code):
            return _result(s, amount, ZERO, Reason.NOT_COVERED)
        if self.paid:
            return _result(s, amount, ZERO, Reason.CAP_REACHED)
        self.paid = True
        return _result(s, amount, _held(amount, limit), None, amount)


class _Accident:
    def __init__(self, terms: AccidentTerms) -> None:
        self.terms = terms
        self.paid = Decimal(0)

    def __call__(self, s: SettlementFacts, limit: Decimal | None) -> Adjudication:
        base = s.in_scope_self_pay + s.out_of_scope_self_pay
        if not s.is_accident:
            return _result(s, base, ZERO, Reason.NOT_COVERED)
        remaining = self.terms.cap - self.paid
        before = (ZERO, self.paid)
        if remaining <= 0:
            return _result(s, base, ZERO, Reason.CAP_REACHED, before=before)
        if base == 0:
            return _result(s, base, ZERO, Reason.NOT_COVERED)
        assessed = min(base, remaining)
        payable = _held(assessed, limit)
        self.paid += payable
        return _result(s, base, payable, None, assessed, before=before)


Rule = Callable[[SettlementFacts, Decimal | None], Adjudication]


def _rule_for(terms: VersionTerms) -> Rule:
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
    terms: VersionTerms,
    *,
    new_to_plan: bool,
    settlements: Iterable[SettlementFacts],
    paid_on: date | None = None,
    limits: Mapping[str, Decimal] | None = None,
) -> list[Adjudication]:
    """Adjudicate all non-reversed settlements of one member under one enrolled plan version.

    Every settlement's admitted_on must lie in [coverage start, period_end] (`coverage_start`
    from `new_to_plan` and `paid_on`). They are taken in order of (settled_on, settlement_id),
    whatever order they are given in, and one Adjudication per settlement is returned in that
    order. Settlements in the waiting period are paid nothing and use up nothing (deductible,
    cap, days, the one critical-illness payment).

    `limits` holds a stay to at most an amount (settlement_id → yuan): what a reviewer approved
    or staff corrected it to. A stay held to 0.00 is paid nothing and uses up nothing
    (`NOT_COVERED`); any other limit holds back its money, and the period's cap then counts
    what was actually paid.
    """
    ordered = sorted(settlements, key=lambda s: s.order_key)
    held = dict(limits or {})
    start = coverage_start(terms, new_to_plan=new_to_plan, paid_on=paid_on)
    seen: set[str] = set()
    for s in ordered:
        if s.settlement_id in seen:
            raise RuleError(f"settlement {s.settlement_id} is given more than once")
        seen.add(s.settlement_id)
        if not terms.covers_admission(s.admitted_on) or s.admitted_on < start:
            raise RuleError(
                f"settlement {s.settlement_id}: admitted_on {s.admitted_on} is outside "
                f"{terms.plan_code} {start}..{terms.period_end}"
            )
    for key, held_to in held.items():
        checked_money(f"limit of {key}", held_to)

    rule = _rule_for(terms)
    results: list[Adjudication] = []
    try:
        with decimal.localcontext(EXACT):
            for s in ordered:
                limit = held.get(s.settlement_id)
                if in_waiting_period(terms, new_to_plan=new_to_plan, s=s, paid_on=paid_on):
                    results.append(_result(s, rule_base(terms, s), ZERO, Reason.WAITING_PERIOD))
                elif limit == 0:
                    results.append(_result(s, rule_base(terms, s), ZERO, Reason.NOT_COVERED))
                else:
                    results.append(rule(s, limit))
    except decimal.DecimalException as exc:
        raise RuleError(f"amounts too large or too precise to compute exactly: {exc!r}") from exc
    return results


# --- a member's stays under every plan version -------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    """参保: a member's enrolment in one plan version, as the rules see it. `renews`: enrolled in
    the same plan's version ending the day before this one starts (no waiting period)."""

    version: int
    terms: VersionTerms
    renews: bool
    paid_on: date | None = None

    @property
    def starts(self) -> date:
        return coverage_start(self.terms, new_to_plan=not self.renews, paid_on=self.paid_on)

    def covers(self, admitted_on: date) -> bool:
        return self.starts <= admitted_on <= self.terms.period_end


@dataclass(frozen=True)
class Stay:
    """One hospital stay of a member: a bureau settlement (any version it falls in), or a claim
    filed by hand (`only_version`: the version it was filed under). `limits`: version → the
    most this stay may be paid under it."""

    facts: SettlementFacts
    reversed: bool = False
    only_version: int | None = None
    limits: Mapping[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class StayRow:
    """One row of the payouts: a stay under one version (None: no version covers it)."""

    key: str
    version: int | None
    plan_code: str
    base_amount: Decimal
    assessed: Decimal
    payable: Decimal
    reason: Reason | None
    base_before: Decimal = ZERO  # as on Adjudication
    paid_before: Decimal = ZERO


def adjudicate_member(
    enrolments: Iterable[Enrolled], stays: Iterable[Stay], *, is_member: bool = True
) -> list[StayRow]:
    """What every stay of one member gets, under every version it falls in: the whole of
    INTERFACES.md "Adjudication rules" for one person (the settlement import computes the same
    for a million people at once in `huzhu.settlement.engine`; tests/settlement/
    test_engine_agrees.py proves the two equal).

    A stay falls in a version the member is enrolled in when its admission lies between that
    enrolment's coverage start and the period's end (a claim filed by hand: only in its own
    version). A stay in no version gets one row without a version: `NOT_MEMBER` (an unknown
    person), `REVERSED`, or `NOT_ENROLLED`. A reversed stay keeps its rows, paid nothing.
    Rows come in order of (key, plan code)."""
    all_stays = list(stays)
    rows: list[StayRow] = []
    placed: set[str] = set()
    for e in enrolments:
        mine = [
            st
            for st in all_stays
            if is_member and e.covers(st.facts.admitted_on) and st.only_version in (None, e.version)
        ]
        rows.extend(_version_rows(e, mine))
        placed.update(st.facts.settlement_id for st in mine)
    for st in all_stays:
        if st.facts.settlement_id not in placed:
            if st.reversed:
                reason = Reason.REVERSED
            else:
                reason = Reason.NOT_ENROLLED if is_member else Reason.NOT_MEMBER
            base = round_fen(st.facts.in_scope_self_pay)
            rows.append(StayRow(st.facts.settlement_id, None, "", base, ZERO, ZERO, reason))
    return sorted(rows, key=lambda r: (r.key, r.plan_code))


def _version_rows(e: Enrolled, mine: list[Stay]) -> list[StayRow]:
    """The rows of the stays that fall in one enrolled version: the live ones adjudicated
    together, the reversed ones paid nothing."""
    live = [st for st in mine if not st.reversed]
    limits = {st.facts.settlement_id: st.limits[e.version] for st in live if e.version in st.limits}
    code = e.terms.plan_code
    rows = [
        StayRow(
            a.settlement_id,
            e.version,
            code,
            a.base_amount,
            a.assessed,
            a.payable,
            a.reason,
            a.base_before,
            a.paid_before,
        )
        for a in adjudicate_period(
            e.terms,
            new_to_plan=not e.renews,
            settlements=[st.facts for st in live],
            paid_on=e.paid_on,
            limits=limits,
        )
    ]
    for st in mine:
        if st.reversed:
            base = round_fen(rule_base(e.terms, st.facts))
            rows.append(
                StayRow(st.facts.settlement_id, e.version, code, base, ZERO, ZERO, Reason.REVERSED)
            )
    return rows


# --- disability lump sums (伤残) ----------------------------------------------------------------


class DisabilityReason(StrEnum):
    """Why a disability claim is assessed at nothing."""

    NO_DISABILITY_BENEFIT = "NOT_COVERED"  # the version pays no disability lump sum
    PAID_ALREADY = "CAP_REACHED"  # as much was paid for this accident, or the sum is used up


@dataclass(frozen=True)
class DisabilityAssessment:
    full: Decimal  # disability_sum × the grade's ratio, half-up to the fen
    assessed: Decimal  # what is left to pay for this claim
    reason: DisabilityReason | None  # set exactly when assessed is 0.00


def disability_assessment(
    terms: VersionTerms,
    *,
    grade: int,
    same_accident: Decimal,
    in_version: Decimal,
) -> DisabilityAssessment:
    """INTERFACES "Disability lump sums": what a disability claim of `grade` gets, given what
    the member's other disability claims already got for the same accident (`same_accident`)
    and in the whole version (`in_version`, those included). A later, worse grade for the
    same accident pays the difference; a better one pays nothing more; the version's
    disability payouts never exceed `disability_sum`. Disability payouts do not count toward
    the accident `cap`, which limits medical costs."""
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 10:
        raise RuleError(f"disability grade must be 1..10, not {grade!r}")
    checked_money("paid for the same accident", same_accident)
    checked_money("paid in the version", in_version)
    ac = terms.accident
    if terms.benefit is not Benefit.ACCIDENT or ac is None or ac.disability_sum is None:
        return DisabilityAssessment(ZERO, ZERO, DisabilityReason.NO_DISABILITY_BENEFIT)
    full = round_fen(ac.disability_sum * ac.disability_ratios[grade - 1])
    left = max(ZERO, ac.disability_sum - in_version)
    assessed = min(max(ZERO, full - same_accident), left)
    return DisabilityAssessment(
        full, assessed, None if assessed > 0 else DisabilityReason.PAID_ALREADY
    )
