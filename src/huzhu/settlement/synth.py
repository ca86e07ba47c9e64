"""Synthetic plans, enrolments and settlement files for `huzhu generate --settlements M`.

Realistic in the ways the rules care about: most members are new to no plan (enrolled last year
too), a small pool of heavy users crosses bands and caps, some stays are accidents, some
diagnoses are critical illnesses, and about 1% of rows reverse an earlier settlement.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

YEAR = 2026
INPATIENT_TERMS = (
    '[inpatient]\ndeductible = "1000.00"\ncap = "50000.00"\nbands = [ '
    '{ upto = "10000.00", ratio = "0.50" }, { upto = "50000.00", ratio = "0.60" }, '
    '{ ratio = "0.70" } ]\n'
)
PLANS = {
    "ZY_2025": (
        "ZY",
        "在职职工住院医疗互助保障计划",
        "inpatient",
        YEAR - 1,
        "60.00",
        "unit",
        90,
        INPATIENT_TERMS,
    ),
    "ZY_2026": (
        "ZY",
        "在职职工住院医疗互助保障计划",
        "inpatient",
        YEAR,
        "60.00",
        "federation",
        90,
        INPATIENT_TERMS,
    ),
    "JT_2026": (
        "JT",
        "住院津贴互助保障计划",
        "allowance",
        YEAR,
        "30.00",
        "unit",
        90,
        '[allowance]\nper_day = "50.00"\nexcluded_days = 1\nmax_days = 60\n',
    ),
    "ZJ_2026": (
        "ZJ",
        "重大疾病互助保障计划",
        "critical_illness",
        YEAR,
        "40.00",
        "unit",
        90,
        '[critical_illness]\namount = "10000.00"\nicd10_prefixes = ["C", "I21", "I63"]\n',
    ),
    "YW_2026": (
        "YW",
        "意外伤害互助保障计划",
        "accident",
        YEAR,
        "20.00",
        "unit",
        0,
        '[accident]\ncap = "20000.00"\n',
    ),
}
# Share of members enrolled in each version.
ENROLLED_SHARE = {"ZY_2025": 0.8, "ZY_2026": 1.0, "JT_2026": 0.25, "ZJ_2026": 0.2, "YW_2026": 0.3}
COMMON_DIAGNOSES = ["J18.9", "K35.8", "N20.0", "I10", "E11.9", "K80.2", "M51.2", "O80", "J44.1", ""]
CRITICAL_DIAGNOSES = ["C34.1", "C50.9", "C16.0", "I21.0", "I63.9", "C22.0"]
ACCIDENT_DIAGNOSES = ["S72.0", "S82.2", "S06.0", "T14.9"]
HOSPITALS = [
    "北京协和医院",
    "北京大学第一医院",
    "北京积水潭医院",
    "首都医科大学附属北京朝阳医院",
    "北京天坛医院",
    "北京同仁医院",
    "北京友谊医院",
    "中日友好医院",
    "怀柔区第一医院",
]
SETTLEMENT_HEADER = [
    "settlement_id",
    "id_number",
    "name",
    "hospital",
    "admitted_on",
    "discharged_on",
    "settled_on",
    "total_cost",
    "fund_paid",
    "in_scope_self_pay",
    "out_of_scope_self_pay",
    "diagnosis_code",
    "is_accident",
    "reverses",
]


def plan_toml(key: str) -> str:
    code, name, benefit, year, contribution, payer, waiting, section = PLANS[key]
    return (
        f'code = "{code}"\nname = "{name}"\nbenefit = "{benefit}"\n'
        f"period_start = {year}-01-01\nperiod_end = {year}-12-31\n"
        f'contribution = "{contribution}"\npayer = "{payer}"\nwaiting_days = {waiting}\n\n{section}'
    )


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def enrolled_members(rng: random.Random, member_ids: list[str]) -> dict[str, list[str]]:
    return {
        key: [m for m in member_ids if rng.random() < share] if share < 1 else list(member_ids)
        for key, share in ENROLLED_SHARE.items()
    }


def write_settlements(
    path: Path,
    rng: random.Random,
    member_ids: list[str],
    count: int,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """`count` rows, about 1% of them reversals of an earlier row."""
    heavy = rng.sample(member_ids, max(1, len(member_ids) // 100))
    start = date(YEAR, 1, 1).toordinal()
    written: list[tuple[str, list[str]]] = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SETTLEMENT_HEADER)
        for n in range(count):
            sid = f"JS{YEAR}{n:010d}"
            if written and rng.random() < 0.01:
                # Each settlement is reversed at most once: take it out of the candidates.
                pick = rng.randrange(len(written))
                written[pick], written[-1] = written[-1], written[pick]
                target, row = written.pop()
                w.writerow([sid, *row[1:13], target])
                continue
            member = (
                heavy[rng.randrange(len(heavy))]
                if rng.random() < 0.3
                else member_ids[rng.randrange(len(member_ids))]
            )
            admitted = date.fromordinal(start - 10 + rng.randrange(375))
            discharged = admitted + timedelta(days=min(60, int(rng.expovariate(1 / 7))))
            settled = discharged + timedelta(days=rng.randrange(6))
            accident = rng.random() < 0.04
            roll = rng.random()
            diagnosis = (
                rng.choice(ACCIDENT_DIAGNOSES)
                if accident
                else rng.choice(CRITICAL_DIAGNOSES)
                if roll < 0.03
                else rng.choice(COMMON_DIAGNOSES)
            )
            in_scope = int(rng.lognormvariate(12.6, 1.1))  # fen; median about 3,000 yuan
            out_scope = int(in_scope * rng.random() * 0.3)
            fund = in_scope * 2 + rng.randrange(100_00)
            row = [
                sid,
                member,
                "",
                rng.choice(HOSPITALS),
                admitted.isoformat(),
                discharged.isoformat(),
                settled.isoformat(),
                _yuan(in_scope + out_scope + fund),
                _yuan(fund),
                _yuan(in_scope),
                _yuan(out_scope),
                diagnosis,
                "1" if accident else "0",
                "",
            ]
            w.writerow(row)
            if rng.random() < 0.05:
                written.append((sid, row))
            if progress and n % 100_000 == 0:
                progress("settlements", n)
    return count


def generate_protection(
    *,
    out: Path,
    rng: random.Random,
    member_ids: list[str],
    settlements: int,
    progress: Callable[[str, int], None],
) -> dict[str, int]:
    plans = out / "plans"
    plans.mkdir(exist_ok=True)
    for key in PLANS:
        (plans / f"{key}.toml").write_text(plan_toml(key), encoding="utf-8")
    rows = 0
    with (out / "enrollments.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id_number", "plan_code", "period_start", "paid_on", "amount"])
        for key, members in enrolled_members(rng, member_ids).items():
            code, _n, _b, year, contribution, *_ = PLANS[key]
            for m in members:
                w.writerow([m, code, f"{year}-01-01", f"{year}-01-10", contribution])
                rows += 1
    result = {"plans/*.toml": len(PLANS), "enrollments.csv": rows}
    if settlements:
        result["settlements.csv"] = write_settlements(
            out / "settlements.csv", rng, member_ids, settlements, progress
        )
    return result
