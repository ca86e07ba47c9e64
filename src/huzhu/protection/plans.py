"""Plan versions from TOML (`huzhu plans load FILE.toml`) and the rule terms they carry."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from huzhu.accounts.models import Role, User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.bounds import date_problem, field_problem, money_problem
from huzhu.core.errors import Conflict, DomainError, Forbidden
from huzhu.protection import rules
from huzhu.protection.models import Payer, Plan, PlanVersion
from huzhu.protection.terms import STANDARD_DISABILITY_RATIOS

# Days in a plan's terms: a waiting period, excluded and paid days of a year's allowance.
MAX_DAYS = 3660
_RATIO = re.compile(r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$", re.ASCII)


def _money(where: str, value: Any) -> Decimal:
    """An amount of a plan's terms: written as a string ("60.00"; a whole number is taken too),
    within the bounds of any amount (core.bounds)."""
    if isinstance(value, (float, bool)):
        raise DomainError(
            "invalid_plan", _('%(where)s：金额请写成字符串，如 "60.00"') % {"where": where}
        )
    text = str(value) if isinstance(value, (int, str, Decimal)) else repr(value)
    problem = money_problem(text, allow_zero=True)
    if problem is not None:
        raise DomainError("invalid_plan", field_problem(where, problem))
    return Decimal(text.strip()).quantize(Decimal("0.01"))


def _ratio(where: str, value: Any) -> Decimal:
    """A band's ratio: from 0 to 1, at most four decimals, ASCII digits ("0.55"; a TOML number
    such as 0.55 is read as it is written)."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    if not _RATIO.match(text):
        raise DomainError(
            "invalid_plan",
            _('%(where)s：比例应为 0 到 1 之间的数，写成字符串（如 "0.55"）：%(value)s')
            % {"where": where, "value": repr(value)},
        )
    return Decimal(text)


def _days(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise DomainError(
            "invalid_plan",
            _("%(where)s：应为 0 到 %(max)s 之间的整数天数") % {"where": where, "max": MAX_DAYS},
        )
    return value


def _day(where: str, value: Any) -> date:
    problem = date_problem(value) if isinstance(value, date) else _("不是日期（YYYY-MM-DD）")
    if problem is not None:
        raise DomainError("invalid_plan", field_problem(where, problem))
    return value


def section_terms(benefit: str, section: dict[str, Any]) -> dict[str, Any]:
    """The benefit's TOML section, normalised for storage (amounts as two-place strings)."""
    where = f"[{benefit}]"
    try:
        if benefit == "inpatient":
            bands = []
            for i, band in enumerate(section["bands"], start=1):
                at = {"where": where, "n": i}
                item = {
                    "ratio": str(_ratio(_("%(where)s 第 %(n)s 档的 ratio") % at, band["ratio"]))
                }
                if "upto" in band:
                    item["upto"] = str(_money(_("%(where)s 第 %(n)s 档的 upto") % at, band["upto"]))
                bands.append(item)
            return {
                "deductible": str(_money(f"{where} deductible", section["deductible"])),
                "cap": str(_money(f"{where} cap", section["cap"])),
                "bands": bands,
            }
        if benefit == "allowance":
            return {
                "per_day": str(_money(f"{where} per_day", section["per_day"])),
                "excluded_days": _days(f"{where} excluded_days", section.get("excluded_days", 0)),
                "max_days": _days(f"{where} max_days", section["max_days"]),
            }
        if benefit == "critical_illness":
            return {
                "amount": str(_money(f"{where} amount", section["amount"])),
                "icd10_prefixes": [str(p) for p in section["icd10_prefixes"]],
            }
        if benefit == "accident":
            return _accident_terms(where, section)
    except KeyError as exc:
        raise DomainError(
            "invalid_plan", _("%(where)s：缺少 %(key)s") % {"where": where, "key": exc.args[0]}
        ) from None
    except (TypeError, ValueError) as exc:
        raise DomainError("invalid_plan", field_problem(where, str(exc))) from None
    raise DomainError(
        "invalid_plan", _("benefit：未知的保障类型 %(benefit)s") % {"benefit": repr(benefit)}
    )


def _accident_terms(where: str, section: dict[str, Any]) -> dict[str, Any]:
    """The [accident] section: `cap`, and optionally `disability_sum` with `disability_ratios`
    (one per grade 1..10; the usual 1.00 … 0.10 when left out)."""
    terms: dict[str, Any] = {"cap": str(_money(f"{where} cap", section["cap"]))}
    if "disability_sum" in section:
        terms["disability_sum"] = str(_money(f"{where} disability_sum", section["disability_sum"]))
        ratios = section.get("disability_ratios", [str(r) for r in STANDARD_DISABILITY_RATIOS])
        if not isinstance(ratios, list) or len(ratios) != 10:
            raise DomainError(
                "invalid_plan",
                _("%(where)s disability_ratios：应为 1 至 10 级共十个比例") % {"where": where},
            )
        terms["disability_ratios"] = [
            str(_ratio(_("%(where)s 第 %(grade)s 级伤残的比例") % {"where": where, "grade": g}, r))
            for g, r in enumerate(ratios, start=1)
        ]
    elif "disability_ratios" in section:
        raise DomainError(
            "invalid_plan",
            _("%(where)s disability_ratios：请同时给出它们适用的 disability_sum")
            % {"where": where},
        )
    return terms


def version_terms(
    *,
    plan_code: str,
    benefit: str,
    period_start: date,
    period_end: date,
    waiting_days: int,
    terms: dict[str, Any],
    review_above: Decimal | None = None,
) -> rules.VersionTerms:
    """The rule engine's view of a stored version."""
    kw: dict[str, Any] = {}
    if benefit == "inpatient":
        kw["inpatient"] = rules.InpatientTerms(
            deductible=Decimal(terms["deductible"]),
            cap=Decimal(terms["cap"]),
            bands=tuple(
                rules.Band(
                    ratio=Decimal(b["ratio"]), upto=Decimal(b["upto"]) if "upto" in b else None
                )
                for b in terms["bands"]
            ),
        )
    elif benefit == "allowance":
        kw["allowance"] = rules.AllowanceTerms(
            per_day=Decimal(terms["per_day"]),
            excluded_days=int(terms["excluded_days"]),
            max_days=int(terms["max_days"]),
        )
    elif benefit == "critical_illness":
        kw["critical_illness"] = rules.CriticalIllnessTerms(
            amount=Decimal(terms["amount"]), icd10_prefixes=tuple(terms["icd10_prefixes"])
        )
    elif benefit == "accident":
        kw["accident"] = rules.AccidentTerms(
            cap=Decimal(terms["cap"]),
            disability_sum=(
                Decimal(terms["disability_sum"]) if "disability_sum" in terms else None
            ),
            disability_ratios=tuple(
                Decimal(r)
                for r in terms.get(
                    "disability_ratios", [str(r) for r in STANDARD_DISABILITY_RATIOS]
                )
            ),
        )
    return rules.VersionTerms(
        plan_code=plan_code,
        benefit=rules.Benefit(benefit),
        period_start=period_start,
        period_end=period_end,
        waiting_days=waiting_days,
        review_above=review_above,
        **kw,
    )


def terms_of(version: PlanVersion) -> rules.VersionTerms:
    return version_terms(
        plan_code=version.plan.code,
        benefit=version.plan.benefit,
        period_start=version.period_start,
        period_end=version.period_end,
        waiting_days=version.waiting_days,
        terms=version.terms,
        review_above=version.review_above,
    )


@dataclass(frozen=True)
class PlanFile:
    """What a plan file says, checked: the plan, and the version's values as stored."""

    code: str
    name: str
    benefit: str
    period_start: date
    values: dict[str, Any]  # period_end, contribution, payer, waiting_days, terms, review_above


def plan_load_toml(
    data: bytes, *, file: str, actor: User | None = None
) -> tuple[PlanVersion, bool]:
    """Create or update the plan version a TOML file describes; returns (version, created).

    A version that has paid out is frozen: loading different terms for it is refused.
    """
    found = _plan_file(data, file=file)
    with transaction.atomic():
        version, created = _version_save(found, file=file)
        audit_record(actor=actor, action=Action.PLAN_LOAD, obj=version, file=file, created=created)
    return version, created


def _plan_file(data: bytes, *, file: str) -> PlanFile:
    try:
        doc = tomllib.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DomainError(
            "invalid_plan", _("%(file)s：不是有效的 TOML：%(error)s") % {"file": file, "error": exc}
        ) from None

    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in doc:
            raise DomainError("invalid_plan", field_problem(file, _("%(key)s 必填") % {"key": key}))
        value = doc[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DomainError(
                "invalid_plan",
                field_problem(
                    file, _("%(key)s 的类型不对（%(value)s）") % {"key": key, "value": repr(value)}
                ),
            )
        return value

    code, name, benefit = need("code", str), need("name", str), need("benefit", str)
    if benefit not in {b.value for b in rules.Benefit}:
        raise DomainError(
            "invalid_plan",
            field_problem(
                file, _("benefit 只能是 inpatient、allowance、critical_illness 或 accident")
            ),
        )
    start = _day(f"{file}: period_start", need("period_start", date))
    end = _day(f"{file}: period_end", need("period_end", date))
    contribution = _money(f"{file}: contribution", need("contribution", (str, int)))
    payer = doc.get("payer", "unit")
    if payer not in Payer.values:
        raise DomainError("invalid_plan", field_problem(file, _payer_problem()))
    waiting = _days(f"{file}: waiting_days", doc.get("waiting_days", 0))
    review_above = (
        _money(f"{file}: review_above", doc["review_above"]) if "review_above" in doc else None
    )
    if benefit not in doc or not isinstance(doc[benefit], dict):
        raise DomainError(
            "invalid_plan",
            field_problem(
                file, _("%(benefit)s 类计划需要 [%(benefit)s] 一节") % {"benefit": benefit}
            ),
        )
    terms = section_terms(benefit, doc[benefit])
    try:
        version_terms(
            plan_code=code,
            benefit=benefit,
            period_start=start,
            period_end=end,
            waiting_days=waiting,
            terms=terms,
            review_above=review_above,
        )
    except rules.RuleError as exc:
        raise DomainError("invalid_plan", field_problem(file, str(exc))) from None
    values = {
        "period_end": end,
        "contribution": contribution,
        "payer": payer,
        "waiting_days": waiting,
        "terms": terms,
        "review_above": review_above,
    }
    return PlanFile(code=code, name=name, benefit=benefit, period_start=start, values=values)


def _payer_problem() -> str:
    return _("payer 只能是 unit 或 federation")


def _overlaps(version: object) -> str:
    return _("与 %(version)s 的保障期重叠") % {"version": version}


def _frozen(version: object) -> str:
    return _("%(version)s 已有给付，已经冻结；如需更改，请新建一个版本") % {"version": version}


def _version_save(found: PlanFile, *, file: str) -> tuple[PlanVersion, bool]:
    """The plan and its version as the file says, unless the version is frozen."""
    plan, _created = Plan.objects.get_or_create(
        code=found.code, defaults={"name": found.name, "benefit": found.benefit}
    )
    if plan.benefit != found.benefit:
        raise Conflict(
            "benefit_changed",
            field_problem(
                file,
                _("计划 %(code)s 是 %(benefit)s 类计划")
                % {"code": found.code, "benefit": plan.benefit},
            ),
        )
    if plan.name != found.name:
        plan.name = found.name
        plan.save(update_fields=["name"])
    start, values = found.period_start, found.values
    version = PlanVersion.objects.select_for_update().filter(plan=plan, period_start=start).first()
    if version is None:
        overlap = PlanVersion.objects.filter(
            plan=plan, period_start__lte=values["period_end"], period_end__gte=start
        )
        if overlap.exists():
            raise Conflict("overlapping_version", field_problem(file, _overlaps(overlap.first())))
        return PlanVersion.objects.create(plan=plan, period_start=start, **values), True
    changed = any(
        str(getattr(version, k)) != str(v) if k != "terms" else version.terms != v
        for k, v in values.items()
    )
    if changed and version.frozen_at is not None:
        raise Conflict(
            "version_frozen",
            field_problem(file, _frozen(version)),
        )
    for k, v in values.items():
        setattr(version, k, v)
    version.save()
    return version, False


def plan_version_update(
    *,
    actor: User,
    version: PlanVersion,
    period_end: date | None = None,
    contribution: Decimal | str | None = None,
    payer: str | None = None,
    waiting_days: int | None = None,
    terms: dict[str, Any] | None = None,
    review_above: Decimal | str | None = None,
    clear_review: bool = False,
) -> PlanVersion:
    """Change a version's parameters (city federation staff) until its first payout; a frozen
    version is refused with 409 `version_frozen`. `review_above` sets the amount above which a
    bureau settlement waits for a reviewer; `clear_review` removes it."""
    if actor.role != Role.CITY_ADMIN:
        raise Forbidden("forbidden", _("只有市总工会可以配置保障计划"))
    where = f"{version.plan.code} {version.period_start}"
    with transaction.atomic():
        locked = PlanVersion.objects.select_for_update().select_related("plan").get(pk=version.pk)
        if locked.frozen_at is not None:
            raise Conflict(
                "version_frozen",
                _frozen(where),
            )
        changes: dict[str, Any] = {}
        if period_end is not None:
            _day(f"{where}: period_end", period_end)
            if period_end < locked.period_start:
                raise DomainError(
                    "invalid_plan", field_problem(where, _("period_end 早于 period_start"))
                )
            overlap = PlanVersion.objects.filter(
                plan=locked.plan, period_start__lte=period_end, period_end__gte=locked.period_start
            ).exclude(pk=locked.pk)
            if overlap.exists():
                raise Conflict(
                    "overlapping_version", field_problem(where, _overlaps(overlap.first()))
                )
            changes["period_end"] = period_end
        if contribution is not None:
            changes["contribution"] = _money(f"{where}: contribution", str(contribution))
        if payer is not None:
            if payer not in Payer.values:
                raise DomainError("invalid_plan", field_problem(where, _payer_problem()))
            changes["payer"] = payer
        if waiting_days is not None:
            changes["waiting_days"] = _days(f"{where}: waiting_days", waiting_days)
        if terms is not None:
            changes["terms"] = section_terms(locked.plan.benefit, terms)
        if review_above is not None:
            changes["review_above"] = _money(f"{where}: review_above", str(review_above))
        elif clear_review:
            changes["review_above"] = None
        for key, value in changes.items():
            setattr(locked, key, value)
        try:
            terms_of(locked)
        except rules.RuleError as exc:
            raise DomainError("invalid_plan", field_problem(where, str(exc))) from None
        locked.save()
        audit_record(
            actor=actor,
            action=Action.PLAN_VERSION_UPDATE,
            obj=locked,
            changed=sorted(changes),
        )
    return locked
