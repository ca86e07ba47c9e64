"""Members enrolled in the settlement tests' plans, in units of two districts."""

from __future__ import annotations

import pytest

from huzhu.protection.enrollments import enrollments_import
from huzhu.protection.plans import plan_load_toml
from tests.conftest import new_id_number
from tests.settlement.test_import import JT, ZY, ZY_2025


@pytest.fixture
def people(tree, make_member):
    """Three members in units of two districts, enrolled in ZY 2025 and 2026 and JT 2026."""
    return enrolled_in(make_member, (tree.u1, tree.u2, tree.u3))


def enrolled_in(make_member, units):
    """A member in each of `units`, enrolled in ZY 2025 and 2026 and JT 2026; their ID numbers."""
    for doc in (ZY_2025, ZY, JT):
        plan_load_toml(doc, file="plan.toml")
    numbers = []
    lines = ["id_number,plan_code,period_start,paid_on,amount"]
    for unit in units:
        number = new_id_number()
        make_member(unit, id_number=number)
        numbers.append(number)
        lines += [
            f"{number},ZY,2025-01-01,2025-01-05,60.00",
            f"{number},ZY,2026-01-01,2026-01-05,60.00",
            f"{number},JT,2026-01-01,2026-01-05,30.00",
        ]
    enrollments_import(("\n".join(lines) + "\n").encode(), file="e.csv")
    return numbers
