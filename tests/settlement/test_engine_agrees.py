"""The vectorised engine and the readable rule engine agree on every payout (Hypothesis)."""

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
def settlement(draw: st.DrawFn, n: int) -> dict[str, object]:
    admitted = START - timedelta(days=20) + timedelta(days=draw(st.integers(0, 400)))
    discharged = admitted + timedelta(days=draw(st.integers(0, 40)))
    return {
        "sid": f"S{draw(st.integers(0, 30)):03d}-{n}",
        "member_id": draw(st.integers(1, 3)),
        "admitted_on": admitted,
        "discharged_on": discharged,
        "settled_on": discharged + timedelta(days=draw(st.integers(0, 3))),
        "in_scope": draw(money),
        "out_scope": draw(money),
        "diagnosis_code": draw(st.sampled_from([None, "", "C34.1", "i21", "I63", "J18", " c50 "])),
        "is_accident": draw(st.booleans()),
        "reversed": draw(st.booleans()) and draw(st.booleans()),
    }


def reference(terms_by_version, previous, enrolled, rows):
    """Expected rows from the readable engine: {(spk, version_id or None): (base, target, reason)}."""
    expected = {}
    facts = {
        r["spk"]: rules.SettlementFacts(
            settlement_id=r["sid"],
            admitted_on=r["admitted_on"],
            discharged_on=r["discharged_on"],
            settled_on=r["settled_on"],
            in_scope_self_pay=r["in_scope"],
            out_of_scope_self_pay=r["out_scope"],
            diagnosis_code=r["diagnosis_code"],
            is_accident=r["is_accident"],
        )
        for r in rows
    }
    for vid, terms in terms_by_version.items():
        for member in {m for m, v in enrolled if v == vid}:
            mine = [
                r
                for r in rows
                if r["member_id"] == member and terms.covers_admission(r["admitted_on"])
            ]
            new = (member, previous.get(vid)) not in enrolled
            live = [facts[r["spk"]] for r in mine if not r["reversed"]]
            spk_of = {r["sid"]: r["spk"] for r in mine}
            for a in rules.adjudicate_period(terms, new_to_plan=new, settlements=live):
                reason = a.reason.value if a.reason else None
                if reason is None and rules.in_waiting_period(
                    terms, new_to_plan=new, s=facts[spk_of[a.settlement_id]]
                ):
                    reason = "WAITING_PERIOD"
                expected[(spk_of[a.settlement_id], vid)] = (
                    fen(a.base_amount),
                    fen(a.payable),
                    reason,
                )
            for r in mine:
                if r["reversed"]:
                    base = rules.rule_base(terms, facts[r["spk"]])
                    expected[(r["spk"], vid)] = (fen(base), 0, "REVERSED")
    covered = {spk for spk, _ in expected}
    for r in rows:
        if r["spk"] not in covered:
            reason = "REVERSED" if r["reversed"] else "NOT_ENROLLED"
            expected[(r["spk"], None)] = (fen(r["in_scope"]), 0, reason)
    return expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bulk_engine_agrees_with_rule_engine(data):
    benefits = list(rules.Benefit)
    terms_by_version = {}
    specs = []
    previous = {}
    for vid, benefit in enumerate(benefits, start=1):
        terms = data.draw(version_terms(benefit, f"P{vid}"))
        terms_by_version[vid] = terms
        prev_id = 100 + vid  # a last-year version: enrolment in it ends the waiting period
        previous[vid] = prev_id
        specs.append(VersionSpec(version_id=vid, terms=terms, previous_version_id=prev_id))
    enrolled = set(
        data.draw(
            st.sets(
                st.tuples(st.integers(1, 3), st.sampled_from([1, 2, 3, 4, 101, 102, 103, 104])),
                max_size=16,
            )
        )
    )
    raw = data.draw(st.lists(st.integers(0, 10**6), max_size=12))
    rows = []
    seen = set()
    for n, _ in enumerate(raw):
        r = data.draw(settlement(n))
        if r["sid"] in seen:
            continue
        seen.add(r["sid"])
        r["spk"] = n + 1
        rows.append(r)
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
        },
    )
    enrollments = pl.DataFrame(
        {"member_id": [m for m, _ in enrolled], "version_id": [v for _, v in enrolled]},
        schema={"member_id": pl.Int64, "version_id": pl.Int64},
    )
    got = adjudicate(settlements, enrollments, specs)
    actual = {
        (spk, vid): (base, target, reason)
        for spk, vid, _code, base, target, reason in got.iter_rows()
    }
    assert actual == reference(terms_by_version, previous, enrolled, rows)
