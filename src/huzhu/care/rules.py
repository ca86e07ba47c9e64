"""Pure money rules of care campaigns: what a campaign's ledger adds up to. (What an amount is,
and its bounds, is core.bounds'.)"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class OrgFunds:
    """An organisation's share of a campaign: allocated to it, spent by it, what is left."""

    allocated: Decimal
    spent: Decimal

    @property
    def balance(self) -> Decimal:
        return self.allocated - self.spent


def funds_by_org(entries: Iterable[tuple[int, str, Decimal]]) -> dict[int, OrgFunds]:
    """(org id, kind, amount) ledger rows → allocated and spent per organisation. Reversals
    carry their kind with the opposite sign, so sums need no special case."""
    allocated: dict[int, Decimal] = {}
    spent: dict[int, Decimal] = {}
    for org_id, kind, amount in entries:
        target = allocated if kind == "allocation" else spent
        target[org_id] = target.get(org_id, Decimal("0.00")) + amount
    return {
        org_id: OrgFunds(allocated.get(org_id, Decimal("0.00")), spent.get(org_id, Decimal("0.00")))
        for org_id in allocated.keys() | spent.keys()
    }
