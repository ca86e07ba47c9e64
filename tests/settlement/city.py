"""A small city for settlement tests on PostgreSQL: the synthetic plans and enrolled members."""

from __future__ import annotations

from typing import Any

from huzhu.protection.enrollments import enrollments_import
from huzhu.protection.plans import plan_load_toml
from huzhu.settlement.synth import PLANS, plan_toml
from tests.conftest import new_id_number


def enrolled_city(tree: Any, make_member: Any, members: int) -> list[str]:
    """The synthetic plans, and `members` members of one unit: all in ZY 2026, every second in
    JT, every third also in ZY 2025 (no waiting period), every fifth in YW. Their ID numbers."""
    for key in PLANS:
        plan_load_toml(plan_toml(key).encode(), file=f"{key}.toml")
    numbers = [new_id_number() for _ in range(members)]
    for n in numbers:
        make_member(tree.u1, id_number=n)
    lines = ["id_number,plan_code,period_start"]
    lines += [f"{n},ZY,2026-01-01" for n in numbers] + [f"{n},JT,2026-01-01" for n in numbers[::2]]
    lines += [f"{n},ZY,2025-01-01" for n in numbers[::3]]
    lines += [f"{n},YW,2026-01-01" for n in numbers[::5]]
    enrollments_import(("\n".join(lines) + "\n").encode(), file="e.csv")
    return numbers
