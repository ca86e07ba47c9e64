"""The vectorised engine that runs in production equals the readable rules (Hypothesis).

`huzhu.protection.rules.adjudicate_member` says what every stay of one member gets, under every
plan version it falls in. `huzhu.settlement.engine.adjudicate` computes the same for a whole
file's members at once, as Polars expressions. Here random plans, enrolments (renewals and new
members with payment dates), stays from both channels (bureau settlements in every version,
claims filed by hand in their own version only), reversals and limits (an approved amount or
a staff correction, 0.00 included) go through both, and every row must agree to the fen.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.protection import rules
from huzhu.settlement.engine import VersionSpec, adjudicate, fen

START, END = date(2026, 1, 1), date(2026, 12, 31)
money = st.one_of(st.integers(0, 6_000_000), st.sampled_from([0, 1, 50, 100_000, 1_000_000])).map(
    lambda f: Decimal(f) / 100
)
caps = st.one_of(st.sampled_from([0, 500, 1000, 2000]), st.integers(0, 80_000))
MEMBERS = (1, 2)
VERSIONS = (1, 2, 3, 4)  # one per benefit; 101..104 are their versions of the year before


@st.composite
def version_terms(draw: st.DrawFn, benefit: rules.Benefit, code: str) -> rules.VersionTerms:
    waiting = draw(st.sampled_from([0, 30, 90]))
    kw: dict[str, object] = {}
    if benefit is rules.Benefit.INPATIENT:
        n = draw(st.integers(1, 3))
        limits = sorted(draw(st.sets(st.integers(1, 60_000), min_size=n, max_size=n)))
        ratios = [Decimal(draw(st.integers(0, 100))) / 100 for _ in range(n + 1)]
        bands = [rules.Band(ratio=r, upto=Decimal(u)) for r, u in zip(ratios, limits, strict=False)]
        if draw(st.booleans()):
            bands.append(rules.Band(ratio=ratios[-1]))
        kw["inpatient"] = rules.InpatientTerms(
            deductible=Decimal(draw(st.integers(0, 3000))),
            cap=Decimal(draw(caps)),
            bands=tuple(bands),
        )
    elif benefit is rules.Benefit.ALLOWANCE:
        kw["allowance"] = rules.AllowanceTerms(
            per_day=Decimal(draw(st.integers(1, 20000))) / 100,
            excluded_days=draw(st.integers(0, 5)),
            max_days=draw(st.integers(0, 60)),
        )
    elif benefit is rules.Benefit.CRITICAL_ILLNESS:
        kw["critical_illness"] = rules.CriticalIllnessTerms(
            amount=Decimal(draw(st.integers(1, 50_000))), icd10_prefixes=("C", "I21", "i63")
        )
    else:
        kw["accident"] = rules.AccidentTerms(cap=Decimal(draw(caps)))
    return rules.VersionTerms(
        plan_code=code,
        benefit=benefit,
        period_start=START,
        period_end=END,
        waiting_days=waiting,
        **kw,  # type: ignore[arg-type]
    )


@st.composite
def stay(draw: st.DrawFn, n: int) -> dict[str, object]:
    admitted = START - timedelta(days=20) + timedelta(days=draw(st.integers(0, 400)))
    discharged = admitted + timedelta(days=draw(st.integers(0, 40)))
    by_hand = draw(st.integers(0, 3)) == 0
    only_version = draw(st.sampled_from(VERSIONS)) if by_hand else None
    row: dict[str, object] = {
        # Hand claims are keyed by their settlement_id or C<claim id>, and take part only in
        # the version they were filed under; their row key (spk) is minus the claim id.
        "spk": -n if by_hand else n,
        "sid": (
            f"C{n}" if by_hand and draw(st.booleans()) else f"S{draw(st.integers(0, 30)):03d}-{n}"
        ),
        "only_version": only_version,
        "member_id": draw(st.sampled_from(MEMBERS)),
        "admitted_on": admitted,
        "discharged_on": discharged,
        "settled_on": discharged + timedelta(days=draw(st.integers(0, 3))),
        "in_scope": draw(money),
        "out_scope": draw(money),
        "diagnosis_code": draw(st.sampled_from([None, "", "C34.1", "i21", "I63", "J18", " c50 "])),
        "is_accident": draw(st.booleans()),
        "reversed": (not by_hand) and draw(st.booleans()) and draw(st.booleans()),
        # A stay's limit under some version: a reviewer's approved amount or a correction.
        "limit": None,
    }
    if draw(st.booleans()):
        version = only_version if by_hand else draw(st.sampled_from(VERSIONS))
        row["limit"] = (version, draw(st.sampled_from([0, 1, 5_000, 300_000, 2_000_000])))
    return row


def expected_rows(terms_by_version, previous, enrolled, paid_on, rows):
    """{(spk, version or None): (base, assessed, payable, reason)} by the readable rules."""
    expected = {}
    for member in MEMBERS:
        mine = [r for r in rows if r["member_id"] == member]
        enrolments = [
            rules.Enrolled(
                version=vid,
                terms=terms,
                renews=(member, previous[vid]) in enrolled,
                paid_on=paid_on.get((member, vid)),
            )
            for vid, terms in terms_by_version.items()
            if (member, vid) in enrolled
        ]
        stays = [
            rules.Stay(
                facts=rules.SettlementFacts(
                    settlement_id=r["sid"],
                    admitted_on=r["admitted_on"],
                    discharged_on=r["discharged_on"],
                    settled_on=r["settled_on"],
                    in_scope_self_pay=r["in_scope"],
                    out_of_scope_self_pay=r["out_scope"],
                    diagnosis_code=r["diagnosis_code"],
                    is_accident=r["is_accident"],
                ),
                reversed=r["reversed"],
                only_version=r["only_version"],
                limits={r["limit"][0]: Decimal(r["limit"][1]) / 100} if r["limit"] else {},
            )
            for r in mine
        ]
        spk_of = {r["sid"]: r["spk"] for r in mine}
        for row in rules.adjudicate_member(enrolments, stays):
            expected[(spk_of[row.key], row.version)] = (
                fen(row.base_amount),
                fen(row.assessed),
                fen(row.payable),
                row.reason.value if row.reason else None,
            )
    return expected


def engine_rows(specs, enrolled, paid_on, rows):
    settlements = pl.DataFrame(
        {
            "spk": [r["spk"] for r in rows],
            "sid": [r["sid"] for r in rows],
            "member_id": [r["member_id"] for r in rows],
            "admitted_on": [r["admitted_on"] for r in rows],
            "discharged_on": [r["discharged_on"] for r in rows],
            "settled_on": [r["settled_on"] for r in rows],
            "in_fen": [fen(r["in_scope"]) for r in rows],
            "out_fen": [fen(r["out_scope"]) for r in rows],
            "diagnosis_code": [r["diagnosis_code"] for r in rows],
            "is_accident": [r["is_accident"] for r in rows],
            "reversed": [r["reversed"] for r in rows],
            "only_version": [r["only_version"] for r in rows],
        },
        schema={
            "spk": pl.Int64,
            "sid": pl.String,
            "member_id": pl.Int64,
            "admitted_on": pl.Date,
            "discharged_on": pl.Date,
            "settled_on": pl.Date,
            "in_fen": pl.Int64,
            "out_fen": pl.Int64,
            "diagnosis_code": pl.String,
            "is_accident": pl.Boolean,
            "reversed": pl.Boolean,
            "only_version": pl.Int64,
        },
    )
    pairs = sorted(enrolled)
    enrollments = pl.DataFrame(
        {
            "member_id": [m for m, _ in pairs],
            "version_id": [v for _, v in pairs],
            "paid_on": [paid_on.get(p) for p in pairs],
        },
        schema={"member_id": pl.Int64, "version_id": pl.Int64, "paid_on": pl.Date},
    )
    limited = [r for r in rows if r["limit"]]
    limits = pl.DataFrame(
        {
            "spk": [r["spk"] for r in limited],
            "version_id": [r["limit"][0] for r in limited],
            "limit_fen": [r["limit"][1] for r in limited],
        },
        schema={"spk": pl.Int64, "version_id": pl.Int64, "limit_fen": pl.Int64},
    )
    got = adjudicate(settlements, enrollments, specs, limits)
    return {
        (spk, vid): (base, assessed, target, reason)
        for spk, vid, _code, base, assessed, target, reason in got.iter_rows()
    }


def world(data: st.DataObject):
    terms_by_version, specs, previous = {}, [], {}
    for vid, benefit in zip(VERSIONS, rules.Benefit, strict=True):
        terms = data.draw(version_terms(benefit, f"P{vid}"))
        terms_by_version[vid] = terms
        previous[vid] = 100 + vid  # last year's version: enrolment in it makes a renewal
        specs.append(VersionSpec(version_id=vid, terms=terms, previous_version_id=100 + vid))
    enrolled = set(
        data.draw(
            st.sets(
                st.tuples(
                    st.sampled_from(MEMBERS), st.sampled_from([*VERSIONS, 101, 102, 103, 104])
                ),
                max_size=16,
            )
        )
    )
    paid_on = {
        pair: START + timedelta(days=data.draw(st.integers(-30, 380)))
        for pair in sorted(enrolled)
        if data.draw(st.booleans())
    }
    rows, seen = [], set()
    for n in range(1, data.draw(st.integers(0, 12)) + 1):
        r = data.draw(stay(n))
        if r["sid"] in seen:
            continue
        seen.add(r["sid"])
        rows.append(r)
    return terms_by_version, specs, previous, enrolled, paid_on, rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bulk_engine_agrees_with_rule_engine(data):
    terms_by_version, specs, previous, enrolled, paid_on, rows = world(data)
    assert engine_rows(specs, enrolled, paid_on, rows) == expected_rows(
        terms_by_version, previous, enrolled, paid_on, rows
    )


def test_a_member_new_in_december_is_not_covered_for_a_stay_in_june():
    """Coverage start, in both engines: joined (paid) 2026-12-01, admitted 2026-06-10."""
    terms = rules.VersionTerms(
        plan_code="ZY",
        benefit=rules.Benefit.INPATIENT,
        period_start=START,
        period_end=END,
        waiting_days=90,
        inpatient=rules.InpatientTerms(
            deductible=Decimal("1000"), cap=Decimal("50000"), bands=(rules.Band(Decimal("0.5")),)
        ),
    )
    june = {
        "spk": 1, "sid": "S1", "only_version": None, "member_id": 1,
        "admitted_on": date(2026, 6, 10), "discharged_on": date(2026, 6, 20),
        "settled_on": date(2026, 6, 21), "in_scope": Decimal("9000"), "out_scope": Decimal(0),
        "diagnosis_code": None, "is_accident": False, "reversed": False, "limit": None,
    }  # fmt: skip
    paid_on = {(1, 1): date(2026, 12, 1)}
    specs = [VersionSpec(version_id=1, terms=terms, previous_version_id=None)]
    expected = {(1, None): (900000, 0, 0, "NOT_ENROLLED")}
    assert expected_rows({1: terms}, {1: None}, {(1, 1)}, paid_on, [june]) == expected
    assert engine_rows(specs, {(1, 1)}, paid_on, [june]) == expected
    # Paid on 2026-02-01: covered from then, waiting 90 days to 2026-05-02; June is paid.
    paid_on = {(1, 1): date(2026, 2, 1)}
    paid = {(1, 1): (900000, 400000, 400000, None)}
    assert expected_rows({1: terms}, {1: None}, {(1, 1)}, paid_on, [june]) == paid
    assert engine_rows(specs, {(1, 1)}, paid_on, [june]) == paid


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_limits_agree_for_one_member_in_one_version(data):
    """The same, narrowed to where limits matter: one member, one version, every stay covered,
    half of them held to an amount, so that a held stay's unspent cap reaches the later ones."""
    benefit = data.draw(st.sampled_from(list(rules.Benefit)))
    terms = data.draw(version_terms(benefit, "P1"))
    specs = [VersionSpec(version_id=1, terms=terms, previous_version_id=101)]
    enrolled = {(1, 1), (1, 101)}  # a renewal: no waiting period, covered from period_start
    rows = []
    for n in range(1, data.draw(st.integers(1, 8)) + 1):
        admitted = START + timedelta(days=data.draw(st.integers(0, 300)))
        discharged = admitted + timedelta(days=data.draw(st.integers(0, 30)))
        limit = data.draw(st.sampled_from([None, None, 0, 1, 10_000, 100_000, 500_000]))
        rows.append(
            {
                "spk": n,
                "sid": f"S{n:02d}",
                "only_version": None,
                "member_id": 1,
                "admitted_on": admitted,
                "discharged_on": discharged,
                "settled_on": discharged + timedelta(days=data.draw(st.integers(0, 60))),
                "in_scope": data.draw(money),
                "out_scope": data.draw(money),
                "diagnosis_code": data.draw(st.sampled_from([None, "C34.1", "I21", "J18"])),
                "is_accident": data.draw(st.booleans()),
                "reversed": False,
                "limit": None if limit is None else (1, limit),
            }
        )
    assert engine_rows(specs, enrolled, {}, rows) == expected_rows(
        {1: terms}, {1: 101}, enrolled, {}, rows
    )
