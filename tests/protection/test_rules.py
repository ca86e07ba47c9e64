"""The adjudication rules of INTERFACES.md, as worked examples and as properties."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huzhu.protection.rules import (
    AccidentTerms,
    Adjudication,
    AllowanceTerms,
    Band,
    Benefit,
    CriticalIllnessTerms,
    InpatientTerms,
    Reason,
    RuleError,
    SettlementFacts,
    VersionTerms,
    adjudicate_period,
    in_waiting_period,
    round_fen,
    rule_base,
)

PERIOD_START = date(2026, 1, 1)
PERIOD_END = date(2026, 12, 31)
# period_start + 90 days: the first day a member new to the plan is covered.
FIRST_COVERED_DAY = date(2026, 4, 1)
AFTER_WAITING = date(2026, 6, 1)


def yuan(amount: str | int) -> Decimal:
    return Decimal(amount)


# --- small factories --------------------------------------------------------------------------

STANDARD_BANDS = (
    Band(ratio=yuan("0.50"), upto=yuan("10000.00")),
    Band(ratio=yuan("0.60"), upto=yuan("50000.00")),
    Band(ratio=yuan("0.70")),
)


def plan(
    benefit: Benefit,
    *,
    waiting_days: int = 90,
    inpatient: InpatientTerms | None = None,
    allowance: AllowanceTerms | None = None,
    critical_illness: CriticalIllnessTerms | None = None,
    accident: AccidentTerms | None = None,
) -> VersionTerms:
    return VersionTerms(
        plan_code="P1",
        benefit=benefit,
        period_start=PERIOD_START,
        period_end=PERIOD_END,
        waiting_days=waiting_days,
        inpatient=inpatient,
        allowance=allowance,
        critical_illness=critical_illness,
        accident=accident,
    )


def inpatient_plan(
    *,
    deductible: str = "1000.00",
    cap: str = "50000.00",
    bands: tuple[Band, ...] = STANDARD_BANDS,
    waiting_days: int = 90,
) -> VersionTerms:
    return plan(
        Benefit.INPATIENT,
        waiting_days=waiting_days,
        inpatient=InpatientTerms(deductible=yuan(deductible), cap=yuan(cap), bands=bands),
    )


def allowance_plan(
    *, per_day: str = "50.00", excluded_days: int = 0, max_days: int = 180
) -> VersionTerms:
    return plan(
        Benefit.ALLOWANCE,
        allowance=AllowanceTerms(
            per_day=yuan(per_day), excluded_days=excluded_days, max_days=max_days
        ),
    )


def critical_illness_plan(
    *, amount: str = "10000.00", prefixes: tuple[str, ...] = ("C", "I21", "I63")
) -> VersionTerms:
    return plan(
        Benefit.CRITICAL_ILLNESS,
        critical_illness=CriticalIllnessTerms(amount=yuan(amount), icd10_prefixes=prefixes),
    )


def accident_plan(*, cap: str = "20000.00") -> VersionTerms:
    return plan(Benefit.ACCIDENT, accident=AccidentTerms(cap=yuan(cap)))


_ids = itertools.count(1)


def settlement(
    *,
    sid: str | None = None,
    admitted: date = AFTER_WAITING,
    days: int = 3,
    settled: date | None = None,
    in_scope: str = "0.00",
    out_of_scope: str = "0.00",
    diagnosis: str | None = None,
    accident: bool = False,
) -> SettlementFacts:
    discharged = admitted + timedelta(days=days)
    return SettlementFacts(
        settlement_id=sid or f"S{next(_ids):06d}",
        admitted_on=admitted,
        discharged_on=discharged,
        settled_on=settled or discharged,
        in_scope_self_pay=yuan(in_scope),
        out_of_scope_self_pay=yuan(out_of_scope),
        diagnosis_code=diagnosis,
        is_accident=accident,
    )


def in_sequence(*settlements_: SettlementFacts) -> list[SettlementFacts]:
    """Re-date settlements so they are settled one after another in the order given."""
    return [
        SettlementFacts(
            settlement_id=f"Q{i:03d}",
            admitted_on=s.admitted_on,
            discharged_on=s.discharged_on,
            settled_on=AFTER_WAITING + timedelta(days=200 + i),
            in_scope_self_pay=s.in_scope_self_pay,
            out_of_scope_self_pay=s.out_of_scope_self_pay,
            diagnosis_code=s.diagnosis_code,
            is_accident=s.is_accident,
        )
        for i, s in enumerate(settlements_)
    ]


def adjudicate(
    terms: VersionTerms, *settlements_: SettlementFacts, new_to_plan: bool = True
) -> list[Adjudication]:
    return adjudicate_period(terms, new_to_plan=new_to_plan, settlements=settlements_)


def paid(results: list[Adjudication]) -> list[tuple[Decimal, Reason | None]]:
    return [(r.payable, r.reason) for r in results]


def only(results: list[Adjudication]) -> Adjudication:
    assert len(results) == 1
    return results[0]


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("500.005", "500.01"),
        ("2.675", "2.68"),
        ("3", "3.00"),
        ("-0.005", "-0.01"),
    ],
)
def test_round_fen_rounds_half_up_to_the_fen(amount: str, expected: str) -> None:
    rounded = round_fen(Decimal(amount))
    assert rounded == Decimal(expected)
    assert rounded.as_tuple().exponent == -2


# --- inpatient --------------------------------------------------------------------------------


def test_inpatient_below_the_deductible_pays_nothing() -> None:
    result = only(adjudicate(inpatient_plan(), settlement(in_scope="800.00")))
    assert result.base_amount == yuan("800.00")
    assert (result.payable, result.reason) == (yuan("0.00"), Reason.BELOW_DEDUCTIBLE)


def test_inpatient_exactly_the_deductible_pays_nothing() -> None:
    result = only(adjudicate(inpatient_plan(), settlement(in_scope="1000.00")))
    assert (result.payable, result.reason) == (yuan("0.00"), Reason.BELOW_DEDUCTIBLE)


def test_inpatient_deductible_is_per_period_not_per_settlement() -> None:
    results = adjudicate(
        inpatient_plan(), *in_sequence(settlement(in_scope="800.00"), settlement(in_scope="700.00"))
    )
    # The second covers cumulative base [800, 1500]: 500 above the deductible at 50%.
    assert paid(results) == [
        (yuan("0.00"), Reason.BELOW_DEDUCTIBLE),
        (yuan("250.00"), None),
    ]


def test_inpatient_crossing_the_deductible_inside_one_settlement() -> None:
    result = only(adjudicate(inpatient_plan(), settlement(in_scope="3000.00")))
    assert (result.base_amount, result.payable, result.reason) == (
        yuan("3000.00"),
        yuan("1000.00"),
        None,
    )


def test_inpatient_crossing_a_band_boundary_inside_one_settlement() -> None:
    # 11000 above the deductible: 10000 at 50% and 1000 at 60%.
    result = only(adjudicate(inpatient_plan(), settlement(in_scope="12000.00")))
    assert result.payable == yuan("5600.00")


def test_inpatient_bands_are_measured_on_cumulative_base() -> None:
    results = adjudicate(
        inpatient_plan(),
        *in_sequence(settlement(in_scope="6000.00"), settlement(in_scope="6000.00")),
    )
    # First: [0, 6000] -> 5000 at 50%. Second: [6000, 12000] -> 5000 at 50%, 1000 at 60%.
    assert [r.payable for r in results] == [yuan("2500.00"), yuan("3100.00")]


def test_inpatient_open_last_band_pays_its_ratio_without_limit() -> None:
    plan_ = inpatient_plan(cap="1000000.00")
    result = only(adjudicate(plan_, settlement(in_scope="101000.00")))
    # 10000 at 50% + 40000 at 60% + 50000 at 70%.
    assert result.payable == yuan("64000.00")


def test_inpatient_base_beyond_a_closed_last_band_pays_nothing() -> None:
    bands = (
        Band(ratio=yuan("0.50"), upto=yuan("10000.00")),
        Band(ratio=yuan("0.60"), upto=yuan("20000.00")),
    )
    results = adjudicate(
        inpatient_plan(bands=bands),
        *in_sequence(settlement(in_scope="41000.00"), settlement(in_scope="1000.00")),
    )
    assert paid(results) == [
        (yuan("11000.00"), None),
        (yuan("0.00"), Reason.BELOW_DEDUCTIBLE),
    ]


def test_inpatient_crossing_the_cap_pays_what_remains() -> None:
    results = adjudicate(
        inpatient_plan(cap="3000.00"),
        *in_sequence(settlement(in_scope="5000.00"), settlement(in_scope="4000.00")),
    )
    # 2000 computed for each; the second is limited to the 1000 left under the cap.
    assert [r.payable for r in results] == [yuan("2000.00"), yuan("1000.00")]


def test_inpatient_after_the_cap_is_reached_pays_nothing() -> None:
    results = adjudicate(
        inpatient_plan(cap="3000.00"),
        *in_sequence(
            settlement(in_scope="5000.00"),
            settlement(in_scope="4000.00"),
            settlement(in_scope="1000.00"),
        ),
    )
    assert (results[2].base_amount, results[2].payable, results[2].reason) == (
        yuan("1000.00"),
        yuan("0.00"),
        Reason.CAP_REACHED,
    )


def test_inpatient_cap_used_up_exactly_leaves_nothing_for_the_next_band() -> None:
    results = adjudicate(
        inpatient_plan(cap="5000.00"),
        *in_sequence(
            settlement(in_scope="11000.00"),  # 5000 computed, the whole cap
            settlement(in_scope="1000.00"),  # [11000, 12000] at 60%: cap reached
        ),
    )
    assert paid(results) == [(yuan("5000.00"), None), (yuan("0.00"), Reason.CAP_REACHED)]


def test_inpatient_payout_ending_in_half_a_fen_rounds_up() -> None:
    result = only(adjudicate(inpatient_plan(), settlement(in_scope="1000.01")))
    # 0.01 above the deductible at 50% is 0.005 yuan.
    assert (result.payable, result.reason) == (yuan("0.01"), None)
    result = only(adjudicate(inpatient_plan(), settlement(in_scope="1020.05")))
    assert result.payable == yuan("10.03")  # 10.025 rounds up


def test_inpatient_rounds_once_per_settlement_not_per_band() -> None:
    bands = (Band(ratio=yuan("0.50"), upto=yuan("0.01")), Band(ratio=yuan("0.50")))
    # 0.005 + 0.005 = 0.01; rounding each band's part first would give 0.02.
    result = only(
        adjudicate(inpatient_plan(deductible="0.00", bands=bands), settlement(in_scope="0.02"))
    )
    assert result.payable == yuan("0.01")


def test_inpatient_rounds_each_settlement_on_its_own() -> None:
    plan_ = inpatient_plan(deductible="0.00", bands=(Band(ratio=yuan("0.50")),))
    results = adjudicate(
        plan_, *in_sequence(settlement(in_scope="0.01"), settlement(in_scope="0.01"))
    )
    assert [r.payable for r in results] == [yuan("0.01"), yuan("0.01")]


# --- waiting period ---------------------------------------------------------------------------


def test_waiting_period_last_day_pays_nothing() -> None:
    last_waiting_day = PERIOD_START + timedelta(days=90 - 1)
    result = only(
        adjudicate(inpatient_plan(), settlement(admitted=last_waiting_day, in_scope="5000.00"))
    )
    assert (result.base_amount, result.payable, result.reason) == (
        yuan("5000.00"),
        yuan("0.00"),
        Reason.WAITING_PERIOD,
    )


def test_waiting_period_ends_on_day_90() -> None:
    assert PERIOD_START + timedelta(days=90) == FIRST_COVERED_DAY
    result = only(
        adjudicate(inpatient_plan(), settlement(admitted=FIRST_COVERED_DAY, in_scope="5000.00"))
    )
    assert (result.payable, result.reason) == (yuan("2000.00"), None)


def test_member_not_new_to_the_plan_does_not_wait() -> None:
    s = settlement(admitted=PERIOD_START, in_scope="5000.00")
    result = only(adjudicate(inpatient_plan(), s, new_to_plan=False))
    assert (result.payable, result.reason) == (yuan("2000.00"), None)
    assert not in_waiting_period(inpatient_plan(), new_to_plan=False, s=s)


def test_accidents_are_exempt_from_the_waiting_period() -> None:
    s = settlement(admitted=PERIOD_START, in_scope="5000.00", accident=True)
    assert not in_waiting_period(inpatient_plan(), new_to_plan=True, s=s)
    assert only(adjudicate(inpatient_plan(), s)).payable == yuan("2000.00")


def test_zero_waiting_days_means_no_waiting() -> None:
    s = settlement(admitted=PERIOD_START, in_scope="5000.00")
    assert only(adjudicate(inpatient_plan(waiting_days=0), s)).reason is None


def test_settlements_in_the_waiting_period_use_up_no_deductible() -> None:
    results = adjudicate(
        inpatient_plan(),
        *in_sequence(
            settlement(admitted=date(2026, 2, 1), in_scope="5000.00"),
            settlement(admitted=AFTER_WAITING, in_scope="2000.00"),
        ),
    )
    assert paid(results) == [(yuan("0.00"), Reason.WAITING_PERIOD), (yuan("500.00"), None)]


def test_waiting_period_comes_before_the_benefit_rules() -> None:
    s = settlement(admitted=PERIOD_START, in_scope="100.00", out_of_scope="50.00")
    result = only(adjudicate(accident_plan(), s))
    assert (result.base_amount, result.reason) == (yuan("150.00"), Reason.WAITING_PERIOD)


# --- allowance --------------------------------------------------------------------------------


def test_allowance_pays_per_day_after_the_excluded_days() -> None:
    result = only(adjudicate(allowance_plan(excluded_days=3), settlement(days=5)))
    assert (result.base_amount, result.payable, result.reason) == (
        yuan("2.00"),
        yuan("100.00"),
        None,
    )


def test_allowance_stay_within_the_excluded_days_pays_nothing() -> None:
    result = only(adjudicate(allowance_plan(excluded_days=3), settlement(days=3)))
    assert (result.base_amount, result.payable, result.reason) == (
        yuan("0.00"),
        yuan("0.00"),
        Reason.BELOW_DEDUCTIBLE,
    )


def test_allowance_same_day_discharge_counts_one_day() -> None:
    result = only(adjudicate(allowance_plan(), settlement(days=0)))
    assert (result.base_amount, result.payable) == (yuan("1.00"), yuan("50.00"))


def test_allowance_max_days_running_out_mid_stay() -> None:
    results = adjudicate(
        allowance_plan(max_days=10),
        *in_sequence(settlement(days=7), settlement(days=5), settlement(days=2)),
    )
    assert [(r.base_amount, r.payable, r.reason) for r in results] == [
        (yuan("7.00"), yuan("350.00"), None),
        (yuan("5.00"), yuan("150.00"), None),  # only 3 of the 5 days remain
        (yuan("2.00"), yuan("0.00"), Reason.CAP_REACHED),
    ]


def test_allowance_rounds_the_day_rate_to_the_fen() -> None:
    result = only(adjudicate(allowance_plan(per_day="33.33"), settlement(days=3)))
    assert result.payable == yuan("99.99")


# --- critical illness -------------------------------------------------------------------------


def test_critical_illness_pays_its_amount_once() -> None:
    results = adjudicate(
        critical_illness_plan(),
        *in_sequence(settlement(diagnosis="C34.1"), settlement(diagnosis="I21.0")),
    )
    assert [(r.base_amount, r.payable, r.reason) for r in results] == [
        (yuan("10000.00"), yuan("10000.00"), None),
        (yuan("10000.00"), yuan("0.00"), Reason.CAP_REACHED),
    ]


def test_critical_illness_unlisted_or_missing_diagnosis_is_not_covered() -> None:
    results = adjudicate(
        critical_illness_plan(),
        *in_sequence(
            settlement(diagnosis="J18.9"), settlement(diagnosis=None), settlement(diagnosis="  ")
        ),
    )
    assert paid(results) == [(yuan("0.00"), Reason.NOT_COVERED)] * 3
    assert {r.base_amount for r in results} == {yuan("10000.00")}


def test_critical_illness_unlisted_diagnosis_does_not_use_up_the_payment() -> None:
    results = adjudicate(
        critical_illness_plan(),
        *in_sequence(settlement(diagnosis="J18.9"), settlement(diagnosis="I63.9")),
    )
    assert paid(results) == [(yuan("0.00"), Reason.NOT_COVERED), (yuan("10000.00"), None)]


def test_critical_illness_prefix_match_ignores_case_and_spaces() -> None:
    plan_ = critical_illness_plan(prefixes=("c", "i21"))
    assert only(adjudicate(plan_, settlement(diagnosis=" i21.000 "))).reason is None
    assert only(adjudicate(plan_, settlement(diagnosis="C50.9"))).reason is None
    assert only(adjudicate(plan_, settlement(diagnosis="I22.0"))).reason is Reason.NOT_COVERED


def test_critical_illness_in_the_waiting_period_does_not_use_up_the_payment() -> None:
    results = adjudicate(
        critical_illness_plan(),
        *in_sequence(
            settlement(admitted=date(2026, 2, 1), diagnosis="C34.1"),
            settlement(admitted=AFTER_WAITING, diagnosis="C34.1"),
        ),
    )
    assert paid(results) == [(yuan("0.00"), Reason.WAITING_PERIOD), (yuan("10000.00"), None)]


# --- accident ---------------------------------------------------------------------------------


def test_accident_pays_the_whole_self_paid_amount_up_to_the_cap() -> None:
    results = adjudicate(
        accident_plan(),
        *in_sequence(
            settlement(in_scope="10000.00", out_of_scope="5000.00", accident=True),
            settlement(in_scope="3000.00", accident=False),
            settlement(in_scope="6000.00", out_of_scope="2000.00", accident=True),
            settlement(in_scope="100.00", accident=True),
        ),
    )
    assert [(r.base_amount, r.payable, r.reason) for r in results] == [
        (yuan("15000.00"), yuan("15000.00"), None),
        (yuan("3000.00"), yuan("0.00"), Reason.NOT_COVERED),
        (yuan("8000.00"), yuan("5000.00"), None),
        (yuan("100.00"), yuan("0.00"), Reason.CAP_REACHED),
    ]


def test_accident_with_nothing_self_paid_is_not_covered() -> None:
    result = only(adjudicate(accident_plan(), settlement(accident=True)))
    assert (result.payable, result.reason) == (yuan("0.00"), Reason.NOT_COVERED)


# --- the period as a whole --------------------------------------------------------------------


def test_results_come_in_settlement_order_whatever_the_input_order() -> None:
    settlements_ = [
        settlement(sid="B", settled=date(2026, 7, 1), in_scope="6000.00"),
        settlement(sid="A", settled=date(2026, 7, 1), in_scope="6000.00"),
        settlement(sid="C", settled=date(2026, 6, 20), in_scope="3000.00"),
    ]
    # C: [0, 3000] -> 2000 at 50%. A: [3000, 9000] -> 6000 at 50%.
    # B: [9000, 15000] -> 2000 at 50%, 4000 at 60%.
    expected = [("C", yuan("1000.00")), ("A", yuan("3000.00")), ("B", yuan("3400.00"))]
    for order in itertools.permutations(settlements_):
        results = adjudicate(inpatient_plan(), *order)
        assert [(r.settlement_id, r.payable) for r in results] == expected


def test_an_empty_period_has_no_results() -> None:
    assert adjudicate(inpatient_plan()) == []


def test_rule_base_for_a_single_settlement() -> None:
    s = settlement(days=4, in_scope="1200.50", out_of_scope="99.50")
    assert rule_base(inpatient_plan(), s) == yuan("1200.50")
    assert rule_base(accident_plan(), s) == yuan("1300.00")
    assert rule_base(allowance_plan(excluded_days=1), s) == yuan("3.00")
    assert rule_base(allowance_plan(excluded_days=9), s) == yuan("0.00")
    assert rule_base(critical_illness_plan(), s) == yuan("10000.00")


def test_admission_outside_the_period_is_an_error() -> None:
    for admitted in (PERIOD_START - timedelta(days=1), PERIOD_END + timedelta(days=1)):
        with pytest.raises(RuleError, match="outside"):
            adjudicate(inpatient_plan(), settlement(admitted=admitted))
    # Both ends of the period are inside it.
    assert (
        len(
            adjudicate(
                inpatient_plan(), settlement(admitted=PERIOD_START), settlement(admitted=PERIOD_END)
            )
        )
        == 2
    )


def test_the_same_settlement_twice_is_an_error() -> None:
    with pytest.raises(RuleError, match="more than once"):
        adjudicate(inpatient_plan(), settlement(sid="X"), settlement(sid="X"))


# --- terms that make no sense -----------------------------------------------------------------


def test_a_plan_needs_the_terms_of_its_benefit() -> None:
    with pytest.raises(RuleError, match=r"\[inpatient\]"):
        plan(Benefit.INPATIENT, accident=AccidentTerms(cap=yuan("1.00")))


def test_benefit_given_as_text_is_accepted() -> None:
    terms = plan("accident", accident=AccidentTerms(cap=yuan("1.00")))  # type: ignore[arg-type]
    assert terms.benefit is Benefit.ACCIDENT
    with pytest.raises(RuleError, match="未知的保障类型"):
        plan("dental", accident=AccidentTerms(cap=yuan("1.00")))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bands",
    [
        (),
        (Band(ratio=yuan("0.5")), Band(ratio=yuan("0.6"), upto=yuan("100.00"))),
        (
            Band(ratio=yuan("0.5"), upto=yuan("100.00")),
            Band(ratio=yuan("0.6"), upto=yuan("100.00")),
        ),
        (
            Band(ratio=yuan("0.5"), upto=yuan("200.00")),
            Band(ratio=yuan("0.6"), upto=yuan("100.00")),
        ),
    ],
    ids=["no bands", "open band not last", "equal limits", "descending limits"],
)
def test_bands_must_ascend_and_only_the_last_may_be_open(bands: tuple[Band, ...]) -> None:
    with pytest.raises(RuleError):
        InpatientTerms(deductible=yuan("0.00"), cap=yuan("1.00"), bands=bands)


def test_bands_from_a_list_become_a_tuple() -> None:
    terms = InpatientTerms(deductible=yuan("0.00"), cap=yuan("1.00"), bands=list(STANDARD_BANDS))  # type: ignore[arg-type]
    assert terms.bands == STANDARD_BANDS


@pytest.mark.parametrize(
    "make",
    [
        lambda: Band(ratio=yuan("1.01")),
        lambda: Band(ratio=yuan("-0.1")),
        lambda: Band(ratio=yuan("0.5"), upto=yuan("0.00")),
        lambda: Band(ratio=0.5),  # type: ignore[arg-type]
        lambda: InpatientTerms(deductible=yuan("-1.00"), cap=yuan("1.00"), bands=STANDARD_BANDS),
        lambda: InpatientTerms(deductible=yuan("1.005"), cap=yuan("1.00"), bands=STANDARD_BANDS),
        lambda: InpatientTerms(deductible=yuan("NaN"), cap=yuan("1.00"), bands=STANDARD_BANDS),
        lambda: AllowanceTerms(per_day=yuan("0.00"), excluded_days=0, max_days=1),
        lambda: AllowanceTerms(per_day=yuan("50.00"), excluded_days=-1, max_days=1),
        lambda: CriticalIllnessTerms(amount=yuan("1.00"), icd10_prefixes=()),
        lambda: CriticalIllnessTerms(amount=yuan("1.00"), icd10_prefixes=("C", " ")),
        lambda: AccidentTerms(cap=100),  # type: ignore[arg-type]
        lambda: VersionTerms(
            plan_code="YW",
            benefit=Benefit.ACCIDENT,
            period_start=PERIOD_END,
            period_end=PERIOD_START,
            waiting_days=0,
            accident=AccidentTerms(cap=yuan("1.00")),
        ),
        lambda: settlement(in_scope="-1.00"),
        lambda: settlement(days=-1),
    ],
)
def test_nonsense_terms_and_facts_are_rule_errors(make: object) -> None:
    assert callable(make)
    with pytest.raises(RuleError):
        make()


def test_amounts_too_large_to_compute_exactly_are_rule_errors() -> None:
    huge = "1" * 56 + ".11"  # 58 significant digits; times the ratio, more than 60
    plan_ = inpatient_plan(deductible="0.00", bands=(Band(ratio=yuan("0.123456789")),), cap=huge)
    with pytest.raises(RuleError):
        adjudicate(plan_, settlement(in_scope=huge))


# --- properties -------------------------------------------------------------------------------


def money(max_value: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(0), max_value=Decimal(max_value), places=2)


ratios = st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=2)


@st.composite
def band_sets(draw: st.DrawFn) -> tuple[Band, ...]:
    widths = draw(st.lists(money("20000").filter(lambda w: w > 0), min_size=0, max_size=3))
    bands = []
    upto = Decimal(0)
    for width in widths:
        upto += width
        bands.append(Band(ratio=draw(ratios), upto=upto))
    if not bands or draw(st.booleans()):
        bands.append(Band(ratio=draw(ratios)))
    return tuple(bands)


@st.composite
def settlement_lists(draw: st.DrawFn, max_amount: str = "30000") -> list[SettlementFacts]:
    count = draw(st.integers(min_value=0, max_value=8))
    settlements_ = []
    for i in range(count):
        admitted = draw(st.dates(min_value=PERIOD_START, max_value=PERIOD_END))
        discharged = admitted + timedelta(days=draw(st.integers(0, 40)))
        settlements_.append(
            SettlementFacts(
                settlement_id=f"S{i:02d}",
                admitted_on=admitted,
                discharged_on=discharged,
                # Narrow range so that equal settled_on dates, ordered by id, are common.
                settled_on=discharged + timedelta(days=draw(st.integers(0, 3))),
                in_scope_self_pay=draw(money(max_amount)),
                out_of_scope_self_pay=draw(money(max_amount)),
                diagnosis_code=draw(st.sampled_from([None, "C34.1", "i21.0", "J18.9", ""])),
                is_accident=draw(st.booleans()),
            )
        )
    return settlements_


@st.composite
def inpatient_plans(draw: st.DrawFn) -> VersionTerms:
    return plan(
        Benefit.INPATIENT,
        waiting_days=draw(st.integers(0, 120)),
        inpatient=InpatientTerms(
            deductible=draw(money("5000")), cap=draw(money("100000")), bands=draw(band_sets())
        ),
    )


@st.composite
def any_plans(draw: st.DrawFn) -> VersionTerms:
    waiting_days = draw(st.integers(0, 120))
    return draw(
        st.one_of(
            inpatient_plans(),
            st.builds(
                lambda per_day, excluded, max_days: plan(
                    Benefit.ALLOWANCE,
                    waiting_days=waiting_days,
                    allowance=AllowanceTerms(
                        per_day=per_day, excluded_days=excluded, max_days=max_days
                    ),
                ),
                money("500").filter(lambda a: a > 0),
                st.integers(0, 10),
                st.integers(0, 60),
            ),
            st.builds(
                lambda amount, prefixes: plan(
                    Benefit.CRITICAL_ILLNESS,
                    waiting_days=waiting_days,
                    critical_illness=CriticalIllnessTerms(amount=amount, icd10_prefixes=prefixes),
                ),
                money("100000").filter(lambda a: a > 0),
                st.lists(st.sampled_from(["C", "I21", "c3", "J"]), min_size=1, max_size=3).map(
                    tuple
                ),
            ),
            st.builds(
                lambda cap: plan(
                    Benefit.ACCIDENT, waiting_days=waiting_days, accident=AccidentTerms(cap=cap)
                ),
                money("50000"),
            ),
        )
    )


def covered_payout(terms: InpatientTerms, cumulative_base: Decimal) -> Decimal:
    """Exact payout for the first `cumulative_base` of a period, if nothing were capped."""
    above_deductible = cumulative_base - terms.deductible
    total = Decimal(0)
    lower = Decimal(0)
    for band in terms.bands:
        part = above_deductible - lower
        if band.upto is not None:
            part = min(part, band.upto - lower)
        total += max(part, Decimal(0)) * band.ratio
        if band.upto is None:
            break
        lower = band.upto
    return total


def eligible(
    terms: VersionTerms, settlements_: list[SettlementFacts], new_to_plan: bool
) -> list[SettlementFacts]:
    return sorted(
        (s for s in settlements_ if not in_waiting_period(terms, new_to_plan=new_to_plan, s=s)),
        key=lambda s: (s.settled_on, s.settlement_id),
    )


@given(terms=any_plans(), settlements_=settlement_lists(), new_to_plan=st.booleans())
def test_every_result_is_well_formed(
    terms: VersionTerms, settlements_: list[SettlementFacts], new_to_plan: bool
) -> None:
    results = adjudicate_period(terms, new_to_plan=new_to_plan, settlements=settlements_)
    assert [r.settlement_id for r in results] == [
        s.settlement_id for s in sorted(settlements_, key=lambda s: (s.settled_on, s.settlement_id))
    ]
    for r in results:
        assert r.payable >= 0
        assert r.base_amount >= 0
        assert r.payable.as_tuple().exponent == -2
        assert r.base_amount.as_tuple().exponent == -2
        assert (r.reason is None) == (r.payable > 0)


@given(
    terms=any_plans(),
    settlements_=settlement_lists(),
    new_to_plan=st.booleans(),
    seed=st.integers(),
)
def test_payouts_do_not_depend_on_input_order(
    terms: VersionTerms, settlements_: list[SettlementFacts], new_to_plan: bool, seed: int
) -> None:
    shuffled = list(settlements_)
    random.Random(seed).shuffle(shuffled)
    assert adjudicate_period(
        terms, new_to_plan=new_to_plan, settlements=shuffled
    ) == adjudicate_period(terms, new_to_plan=new_to_plan, settlements=settlements_)


@given(terms=any_plans(), settlements_=settlement_lists(), new_to_plan=st.booleans())
def test_waiting_period_settlements_use_up_nothing(
    terms: VersionTerms, settlements_: list[SettlementFacts], new_to_plan: bool
) -> None:
    results = adjudicate_period(terms, new_to_plan=new_to_plan, settlements=settlements_)
    waiting = {r.settlement_id for r in results if r.reason is Reason.WAITING_PERIOD}
    without_them = adjudicate_period(
        terms,
        new_to_plan=new_to_plan,
        settlements=[s for s in settlements_ if s.settlement_id not in waiting],
    )
    assert [r for r in results if r.settlement_id not in waiting] == without_them


@given(terms=inpatient_plans(), settlements_=settlement_lists(), new_to_plan=st.booleans())
def test_inpatient_period_total_follows_the_cumulative_formula(
    terms: VersionTerms, settlements_: list[SettlementFacts], new_to_plan: bool
) -> None:
    assert terms.inpatient is not None
    inpatient = terms.inpatient
    results = adjudicate_period(terms, new_to_plan=new_to_plan, settlements=settlements_)
    total = sum((r.payable for r in results), Decimal(0))
    assert total <= inpatient.cap

    counted = eligible(terms, settlements_, new_to_plan)
    cumulative = [Decimal(0)]
    for s in counted:
        cumulative.append(cumulative[-1] + s.in_scope_self_pay)
    # Each settlement is rounded on its own, then the period is capped.
    rounded = sum(
        (
            round_fen(covered_payout(inpatient, hi) - covered_payout(inpatient, lo))
            for lo, hi in itertools.pairwise(cumulative)
        ),
        Decimal(0),
    )
    assert total == min(inpatient.cap, rounded)
    # And the per-settlement rounding is at most half a fen each away from the exact total.
    exact = min(inpatient.cap, covered_payout(inpatient, cumulative[-1]))
    assert abs(total - exact) <= Decimal("0.005") * len(counted)


@given(
    cap=money("50000"),
    settlements_=settlement_lists(max_amount="15000"),
    new_to_plan=st.booleans(),
)
def test_accident_period_total_is_the_self_paid_accidents_up_to_the_cap(
    cap: Decimal, settlements_: list[SettlementFacts], new_to_plan: bool
) -> None:
    terms = plan(Benefit.ACCIDENT, accident=AccidentTerms(cap=cap))
    results = adjudicate_period(terms, new_to_plan=new_to_plan, settlements=settlements_)
    total = sum((r.payable for r in results), Decimal(0))
    accidents = [s for s in eligible(terms, settlements_, new_to_plan) if s.is_accident]
    assert total <= cap
    assert total == min(
        cap, sum((s.in_scope_self_pay + s.out_of_scope_self_pay for s in accidents), Decimal(0))
    )
    by_id = {s.settlement_id: s for s in settlements_}
    for r in results:
        if r.payable > 0:
            assert by_id[r.settlement_id].is_accident


@given(
    max_days=st.integers(0, 60),
    excluded_days=st.integers(0, 5),
    settlements_=settlement_lists(),
    new_to_plan=st.booleans(),
)
def test_allowance_never_pays_more_than_max_days(
    max_days: int, excluded_days: int, settlements_: list[SettlementFacts], new_to_plan: bool
) -> None:
    per_day = yuan("50.00")
    terms = plan(
        Benefit.ALLOWANCE,
        allowance=AllowanceTerms(per_day=per_day, excluded_days=excluded_days, max_days=max_days),
    )
    results = adjudicate_period(terms, new_to_plan=new_to_plan, settlements=settlements_)
    total = sum((r.payable for r in results), Decimal(0))
    stays = [
        max(1, (s.discharged_on - s.admitted_on).days)
        for s in eligible(terms, settlements_, new_to_plan)
    ]
    counted_days = sum(max(0, stay - excluded_days) for stay in stays)
    assert total == per_day * min(max_days, counted_days)


@given(settlements_=settlement_lists(), new_to_plan=st.booleans())
def test_critical_illness_pays_at_most_once_per_period(
    settlements_: list[SettlementFacts], new_to_plan: bool
) -> None:
    results = adjudicate_period(
        critical_illness_plan(), new_to_plan=new_to_plan, settlements=settlements_
    )
    assert sum(1 for r in results if r.payable > 0) <= 1
