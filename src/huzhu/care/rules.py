"""Pure money rules of care campaigns: amounts, and what a campaign's ledger adds up to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")


def amount_problem(value: Decimal | str | int, *, allow_zero: bool = False) -> str | None:
    """None for a yuan amount with at most two decimals (positive, or zero when allowed)."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return f"not an amount: {value}"
    if not amount.is_finite():
        return f"not an amount: {value}"
    if amount != amount.quantize(CENT):
        return f"at most two decimals (fen): {value}"
    if amount < 0 or (amount == 0 and not allow_zero):
        return f"must be {'zero or more' if allow_zero else 'more than zero'}: {value}"
    if amount >= Decimal("1e12"):
        return f"too large: {value}"
    return None


def money(value: Decimal | str | int) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


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
