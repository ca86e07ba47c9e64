"""Hospital stays for claims filed by hand: a new stay each call (admissions one day apart, so
that no two are the same stay), with the figures of a settlement sheet."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from huzhu.protection.filing import StayFigures

_next = itertools.count()


def a_stay(
    admitted_on: date | None = None, *, days: int | None = None, **figures: Any
) -> StayFigures:
    """A stay admitted on `admitted_on` (or a fresh day from 2026-04-10 on), `days` long,
    settled on discharge; 100,000.00 in scope unless told otherwise, which an inpatient plan
    with a 50,000.00 cap assesses at the cap."""
    n = next(_next)
    admitted = admitted_on or date(2026, 4, 10) + timedelta(days=n % 200)
    discharged = admitted + timedelta(days=days if days is not None else 1 + (n // 200) % 30)
    values: dict[str, Any] = {
        "admitted_on": admitted,
        "discharged_on": discharged,
        "settled_on": discharged,
        "in_scope_self_pay": Decimal("100000.00"),
    }
    values.update(figures)
    return StayFigures(**values)
