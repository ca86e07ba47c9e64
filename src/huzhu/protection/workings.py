"""How a stay's payout was worked out (计算过程), in lines a member can follow: from the bill to
the amount, with the plan's own figures (deductible, bands, caps, days). Pure: no ORM; the rules
(`rules.StayRow`) give what the period had used up before the stay."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from huzhu.protection.rules import SettlementFacts, StayRow, inpatient_pieces, round_fen
from huzhu.protection.terms import Benefit, VersionTerms


def _yuan(value: Decimal) -> str:
    return f"{round_fen(value):,.2f}"


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).normalize():f}%"


def stay_workings(terms: VersionTerms, row: StayRow, facts: SettlementFacts) -> list[str]:
    """The arithmetic that gave `row` its amount under `terms`; no lines when the stay was
    paid nothing (its reason says why) or the plan pays a fixed sum."""
    if row.payable <= 0 and row.assessed <= 0:
        return []
    match terms.benefit:
        case Benefit.INPATIENT:
            return _inpatient(terms, row)
        case Benefit.ALLOWANCE:
            return _allowance(terms, row, facts)
        case Benefit.CRITICAL_ILLNESS:
            lump = _("重大疾病一次性给付 %(amount)s 元") % {"amount": _yuan(row.assessed)}
            return [lump, *_held(row)]
        case Benefit.ACCIDENT:
            return _accident(terms, row, facts)
    return []


def _held(row: StayRow) -> list[str]:
    """A line for a stay held to less than the rules give it (a reviewer or a correction)."""
    if row.payable < row.assessed:
        return [
            _("经审核，本次给付 %(payable)s 元（按规则核定 %(assessed)s 元）")
            % {"payable": _yuan(row.payable), "assessed": _yuan(row.assessed)}
        ]
    return []


def _cap_line(cap: Decimal, row: StayRow) -> str:
    """The period's cap, what was paid before this stay, and so what this stay gets."""
    return _("每个保障期最高 %(cap)s 元，此前已给付 %(before)s 元，本次核定 %(assessed)s 元") % {
        "cap": _yuan(cap),
        "before": _yuan(row.paid_before),
        "assessed": _yuan(row.assessed),
    }


def _inpatient(terms: VersionTerms, row: StayRow) -> list[str]:
    t = terms.inpatient
    assert t is not None  # checked by VersionTerms
    low, high = row.base_before, row.base_before + row.base_amount
    lines = [
        _("本次住院医保范围内个人自付 %(base)s 元；本保障期累计 %(high)s 元（此前 %(low)s 元）")
        % {"base": _yuan(row.base_amount), "high": _yuan(high), "low": _yuan(low)}
    ]
    pieces = inpatient_pieces(t, low, high)
    computed = round_fen(sum((a * r for a, r in pieces), Decimal(0)))
    parts = [
        _("%(amount)s 元 × %(ratio)s = %(paid)s 元")
        % {"amount": _yuan(a), "ratio": _percent(r), "paid": _yuan(a * r)}
        for a, r in pieces
    ]
    lines.append(
        _("超过起付线 %(deductible)s 元的部分按比例计算：%(parts)s，合计 %(total)s 元")
        % {"deductible": _yuan(t.deductible), "parts": "；".join(parts), "total": _yuan(computed)}
    )
    if row.assessed < computed:
        lines.append(_cap_line(t.cap, row))
    return lines + _held(row)


def _allowance(terms: VersionTerms, row: StayRow, facts: SettlementFacts) -> list[str]:
    t = terms.allowance
    assert t is not None
    stayed = max(1, (facts.discharged_on - facts.admitted_on).days)
    days = int(row.base_amount)
    paid_days = int(row.assessed / t.per_day) if t.per_day else 0
    lines = [
        _("住院 %(stayed)s 天，扣除不计津贴的 %(excluded)s 天，计 %(days)s 天")
        % {"stayed": stayed, "excluded": t.excluded_days, "days": days}
        if t.excluded_days
        else _("住院 %(days)s 天") % {"days": days}
    ]
    if paid_days < days:
        lines.append(
            _("每个保障期最多 %(max)s 天，此前已计 %(before)s 天，本次计 %(paid)s 天")
            % {"max": t.max_days, "before": int(row.base_before), "paid": paid_days}
        )
    lines.append(
        _("%(days)s 天 × 每天 %(per_day)s 元 = %(amount)s 元")
        % {"days": paid_days, "per_day": _yuan(t.per_day), "amount": _yuan(row.assessed)}
    )
    return lines + _held(row)


def _accident(terms: VersionTerms, row: StayRow, facts: SettlementFacts) -> list[str]:
    t = terms.accident
    assert t is not None
    lines = [
        _("意外伤害医疗费用个人负担：医保范围内自付 %(in)s 元 + 自费 %(out)s 元 = %(base)s 元")
        % {
            "in": _yuan(facts.in_scope_self_pay),
            "out": _yuan(facts.out_of_scope_self_pay),
            "base": _yuan(row.base_amount),
        }
    ]
    if row.assessed < row.base_amount:
        lines.append(_cap_line(t.cap, row))
    return lines + _held(row)
