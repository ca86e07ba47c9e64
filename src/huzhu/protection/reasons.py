"""Reason codes of claim decisions and their sentences in plain words for members.

Two families: the rule engine's codes (INTERFACES.md: NOT_MEMBER … NOT_COVERED), which settlement
claims carry and reviewers may also cite, and the codes of a reviewer's decisions. Every code maps
to a translatable sentence; the rule codes are filled in with the plan version's terms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

# The rule engine's reasons (an amount of nothing, and why).
RULE_CODES = frozenset(
    {
        "HELD_FOR_REVIEW",
        "NOT_MEMBER",
        "NOT_ENROLLED",
        "WAITING_PERIOD",
        "BELOW_DEDUCTIBLE",
        "CAP_REACHED",
        "REVERSED",
        "NOT_COVERED",
    }
)

# Why a claim filed by hand gets nothing although its stay may pay: the bureau's data holds it.
DUPLICATE_STAY = "DUPLICATE_STAY"

# Reason codes each transition accepts; the first is its default.
TRANSITION_CODES: dict[str, tuple[str, ...]] = {
    "file": ("filed",),
    "accept": ("documents_complete",),
    "review": ("review_started",),
    "approve": ("meets_terms", "partly_meets_terms"),
    "fast_track": ("fast_track",),
    "reject": (
        "insufficient_documents",
        "duplicate_claim",
        "not_eligible",
        "event_outside_period",
        *sorted(RULE_CODES - {"HELD_FOR_REVIEW"}),
    ),
    "pay": ("transfer_confirmed",),
    # Corrections by staff (调整/追回): why a decided claim pays more or less.
    "correct": (
        "calculation_error",
        "invoice_error",
        "duplicate_payment",
        "fraud",
        "appeal_upheld",
        "bureau_correction",
    ),
}
# Events the system writes: another stay changed this claim's money; the bureau's settlement of
# a stay filed by hand arrived and took the claim over (or showed it to be a duplicate).
SYSTEM_CODES = ("recomputed", "settled_by_bureau", "duplicate_claim")


def _yuan(value: Any) -> str:
    return f"{Decimal(str(value)):.2f}"


def reason_label(code: str) -> str:
    """A rule code in a few words, for counts in a report (the sentences below explain one)."""
    labels = {
        "NOT_MEMBER": _("不是会员"),
        "NOT_ENROLLED": _("未参加相应保障计划"),
        "WAITING_PERIOD": _("在等待期内"),
        "BELOW_DEDUCTIBLE": _("未超过起付线"),
        "CAP_REACHED": _("已达给付上限"),
        "REVERSED": _("已冲销"),
        "NOT_COVERED": _("不在保障范围内"),
        "HELD_FOR_REVIEW": _("待人工审核"),
    }
    return labels.get(code, code)


def decision_sentence(code: str) -> str:
    """A reviewer's decision in plain words."""
    sentences = {
        "filed": _("工会已代会员提交申请"),
        "documents_complete": _("申请材料齐全，已受理"),
        "review_started": _("申请进入审核"),
        "meets_terms": _("经审核，符合保障条款，予以给付"),
        "partly_meets_terms": _("经审核，部分费用符合保障条款，按核定金额给付"),
        "fast_track": _("特事特办，经审核人批准直接给付"),
        "insufficient_documents": _("申请材料不全，未予批准"),
        "duplicate_claim": _("同一事项已申请过，不重复给付"),
        "not_eligible": _("不符合本计划的给付条件"),
        "event_outside_period": _("事故或入院日期不在保障期内"),
        "transfer_confirmed": _("互助金已转入会员的互助服务卡"),
        "calculation_error": _("原核定金额计算有误，予以更正"),
        "invoice_error": _("票据有误，予以更正"),
        "duplicate_payment": _("同一费用重复给付，予以追回"),
        "fraud": _("经核查存在虚假申报，予以追回"),
        "appeal_upheld": _("会员申诉经复核成立，予以补付"),
        "bureau_correction": _("医保部门更正了结算数据，予以更正"),
        "recomputed": _("同一保障期内其他住院的给付变化，按规则重新核定"),
        "settled_by_bureau": _("医保结算数据已到，按医保结算数据核定给付（免申即享）"),
    }
    if code in sentences:
        return sentences[code]
    return rule_sentence(code)


def rule_sentence(
    code: str,
    *,
    benefit: str = "",
    terms: dict[str, Any] | None = None,
    waiting_days: int | None = None,
) -> str:
    """Why the rules paid nothing, in words, with the version's figures when they are known."""
    t = terms or {}
    if code == "NOT_MEMBER":
        return _("未能匹配到工会会员信息")
    if code == "NOT_ENROLLED":
        return _("就医时未参加该互助保障计划")
    if code == "WAITING_PERIOD":
        if waiting_days:
            return _("新参保会员在%(days)s天等待期内发生的住院不予给付") % {"days": waiting_days}
        return _("新参保会员在等待期内发生的住院不予给付")
    if code == "BELOW_DEDUCTIBLE":
        if benefit == "allowance":
            return _("住院天数扣除不计津贴的%(days)s天后，没有可给付的天数") % {
                "days": t.get("excluded_days", 0)
            }
        if "deductible" in t:
            return _("本年度累计自付未超过起付线%(amount)s元") % {"amount": _yuan(t["deductible"])}
        return _("本年度累计自付未超过起付线")
    if code == "CAP_REACHED":
        if benefit == "allowance" and "max_days" in t:
            return _("本年度住院津贴已达%(days)s天上限") % {"days": t["max_days"]}
        if benefit == "critical_illness":
            return _("重大疾病互助金每个保障期只给付一次，已经给付过")
        if "cap" in t:
            return _("本年度给付已达封顶线%(amount)s元") % {"amount": _yuan(t["cap"])}
        return _("本年度给付已达封顶线")
    if code == "REVERSED":
        return _("该笔医保结算已被冲销，相应互助金已收回")
    if code == "HELD_FOR_REVIEW":
        return _("给付金额较大，需经审核后支付")
    if code == DUPLICATE_STAY:
        return _("同一次住院已由医保结算数据给付（免申即享），不重复给付")
    if code == "NOT_COVERED":
        if benefit == "critical_illness":
            return _("诊断不在重大疾病保障范围内")
        if benefit == "accident":
            return _("不是意外伤害，不属于意外伤害保障范围")
        return _("不属于本计划的保障范围")
    return _("其他原因（%(code)s）") % {"code": code}


def disability_sentence(*, grade: int, total: Decimal, ratio: Decimal, earlier: Decimal) -> str:
    """The arithmetic of a disability lump sum, in words."""
    full = (total * ratio).quantize(Decimal("0.01"))
    text = _("伤残%(grade)s级：伤残互助金%(total)s元 × %(percent)s%% = %(full)s元") % {
        "grade": grade,
        "total": _yuan(total),
        "percent": f"{ratio * 100:.0f}",
        "full": _yuan(full),
    }
    if earlier > 0:
        text += _("，同一事故已给付%(earlier)s元，按差额给付") % {"earlier": _yuan(earlier)}
    return text + _("。")


def payable_sentence(*, source: str, amount: Decimal, requested: Decimal | None) -> str:
    """Why this amount is paid."""
    if source == "settlement":
        return _("根据医保结算数据按保障条款自动计算，给付%(amount)s元（免申即享）") % {
            "amount": _yuan(amount)
        }
    if requested is not None and amount < requested:
        return _("申请%(requested)s元，经审核核定给付%(amount)s元") % {
            "requested": _yuan(requested),
            "amount": _yuan(amount),
        }
    return _("经审核批准给付%(amount)s元") % {"amount": _yuan(amount)}
