"""Filing claims (申请理赔): a union files a hospital stay or a disability claim for its member,
with the documents; the stay is checked as the settlement file would be."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.files.base import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.bounds import parse_date, parse_money
from huzhu.core.errors import Conflict, DomainError, NotFound
from huzhu.members.models import Member
from huzhu.protection import ledger, stays
from huzhu.protection.documents import document_check, document_store
from huzhu.protection.models import (
    Claim,
    ClaimDocument,
    ClaimSource,
    ClaimState,
    Enrollment,
    PlanVersion,
)
from huzhu.protection.plans import terms_of
from huzhu.protection.services import (
    FILE_ROLES,
    MAX_DOCUMENTS,
    REVIEW_ROLES,
    ZERO,
    claim_event,
    claim_locked,
    money,
    reason_for,
    refusal,
    require_role,
    require_scope,
)

_RESERVED_KEY = re.compile(r"^C[0-9]+$", re.ASCII)  # C<claim id> names a claim without one
_TEXT_KEY = re.compile(r"^[0-9A-Za-z_.:/-]{1,64}$", re.ASCII)


# -- filing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StayFigures:
    """A hospital stay as the member's settlement sheet shows it, in the settlement file's
    terms (INTERFACES "settlements"). `stay_ref`: the sheet's 结算流水号, if it has one."""

    admitted_on: date
    discharged_on: date
    settled_on: date
    in_scope_self_pay: Decimal = ZERO
    out_of_scope_self_pay: Decimal = ZERO
    hospital: str = ""
    diagnosis_code: str = ""
    is_accident: bool = False
    stay_ref: str = ""


_TRUE = {"1", "是", "true", "y", "yes", "on"}
_FALSE = {"0", "否", "false", "n", "no", "off"}


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _stay_dates(
    admitted_on: object, discharged_on: object, settled_on: object, event_date: object
) -> tuple[date, date, date]:
    """(admitted, discharged, settled): `event_date`, when given, must equal `admitted_on` (and
    stands for it when missing); the discharge defaults to the admission, the settlement to
    the discharge; neither may come before the admission."""
    event = parse_date(event_date, "event_date") if _given(event_date) else None
    if _given(admitted_on):
        admitted = parse_date(admitted_on, "admitted_on")
    elif event is not None:
        admitted = event
    else:
        raise DomainError("required", _("admitted_on：请填写入院日期"), field="admitted_on")
    if event is not None and event != admitted:
        raise DomainError(
            "event_date_mismatch",
            _("event_date：%(event)s 应与 admitted_on %(admitted)s 相同")
            % {"event": event, "admitted": admitted},
            field="event_date",
        )
    discharged = parse_date(discharged_on, "discharged_on") if _given(discharged_on) else admitted
    settled = parse_date(settled_on, "settled_on") if _given(settled_on) else discharged
    for field, day in (("discharged_on", discharged), ("settled_on", settled)):
        if day < admitted:
            raise DomainError(
                "invalid_date",
                _("%(field)s：%(day)s 早于入院日期 %(admitted)s")
                % {"field": field, "day": day, "admitted": admitted},
                field=field,
            )
    return admitted, discharged, settled


def _accident_flag(value: object, *, default: bool) -> bool:
    if not _given(value):
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().casefold()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise DomainError("invalid_flag", _("is_accident：请填 1/0 或 是/否"), field="is_accident")


def _stay_ref(value: object) -> str:
    ref = str(value).strip() if _given(value) else ""
    if ref and not _TEXT_KEY.match(ref):
        raise DomainError(
            "invalid_settlement_id",
            _("settlement_id：最多 64 个字母、数字或 . _ : / -"),
            field="settlement_id",
        )
    if _RESERVED_KEY.match(ref):
        raise DomainError(
            "invalid_settlement_id",
            _("settlement_id：C 加数字的形式留给没有结算流水号的理赔使用"),
            field="settlement_id",
        )
    return ref


def _text(value: object, field: str, limit: int, *, upper: bool = False) -> str:
    text = str(value).strip() if _given(value) else ""
    if len(text) > limit:
        raise DomainError("too_long", _at_most(field, limit), field=field)
    return text.upper() if upper else text


def _at_most(field: str, limit: int) -> str:
    return _("%(field)s：最多 %(limit)s 个字符") % {"field": field, "limit": limit}


def stay_from_input(
    *,
    version: PlanVersion,
    admitted_on: object = None,
    discharged_on: object = None,
    settled_on: object = None,
    event_date: object = None,
    in_scope_self_pay: object = None,
    out_of_scope_self_pay: object = None,
    hospital: object = None,
    diagnosis_code: object = None,
    is_accident: object = None,
    settlement_id: object = None,
) -> StayFigures:
    """The stay from what a form or the API sent (text or typed values), every problem a
    DomainError naming its field. Amounts default to 0.00, `is_accident` to whether the plan
    is an accident plan; the dates as `_stay_dates` says."""
    admitted, discharged, settled = _stay_dates(admitted_on, discharged_on, settled_on, event_date)

    def amount(value: object, field: str) -> Decimal:
        return parse_money(value, field, allow_zero=True) if _given(value) else ZERO

    return StayFigures(
        admitted_on=admitted,
        discharged_on=discharged,
        settled_on=settled,
        in_scope_self_pay=amount(in_scope_self_pay, "in_scope_self_pay"),
        out_of_scope_self_pay=amount(out_of_scope_self_pay, "out_of_scope_self_pay"),
        hospital=_text(hospital, "hospital", 200),
        diagnosis_code=_text(diagnosis_code, "diagnosis_code", 32, upper=True),
        is_accident=_accident_flag(is_accident, default=version.plan.benefit == "accident"),
        stay_ref=_stay_ref(settlement_id),
    )


def _same_stay_filed(member: Member, version: PlanVersion, stay: StayFigures) -> QuerySet[Claim]:
    """Live claims filed by hand for the same stay in the same version (one stay, one claim)."""
    live = Claim.objects.filter(
        member=member, version=version, source=ClaimSource.APPLICATION
    ).exclude(state=ClaimState.REJECTED)
    if stay.stay_ref:
        return live.filter(stay_ref=stay.stay_ref)
    return live.filter(admitted_on=stay.admitted_on, discharged_on=stay.discharged_on)


def claim_file(
    *,
    actor: User,
    member: Member,
    version: PlanVersion,
    stay: StayFigures,
    requested: Decimal | str,
    description: str = "",
    documents: Sequence[tuple[str, File[bytes]]] = (),
) -> Claim:
    """A union files a claim for a hospital stay of its member, under a plan version the member
    is enrolled in whose period holds the admission."""
    require_role(actor, FILE_ROLES, _("申请理赔"))
    require_scope(actor, member)
    amount = money(requested, "requested")
    if not version.period_start <= stay.admitted_on <= version.period_end:
        raise DomainError(
            "event_outside_period",
            _("admitted_on：%(day)s 不在 %(start)s~%(end)s 之内")
            % {"day": stay.admitted_on, "start": version.period_start, "end": version.period_end},
            field="admitted_on",
        )
    if not Enrollment.objects.filter(member=member, version=version).exists():
        raise DomainError("not_enrolled", _not_enrolled(version), field="version")
    papers = _papers_checked(description, documents)
    return _claim_created(
        same=_same_stay_filed(member, version, stay),
        conflict=(
            "duplicate_stay",
            lambda earlier: (
                _("此次住院已有理赔 %(claim)s（%(state)s）")
                % {"claim": earlier.pk, "state": ClaimState(earlier.state).label}
            ),
        ),
        actor=actor,
        member=member,
        version=version,
        papers=papers,
        event_date=stay.admitted_on,
        requested=amount,
        stay_ref=stay.stay_ref,
        hospital=stay.hospital,
        admitted_on=stay.admitted_on,
        discharged_on=stay.discharged_on,
        settled_on=stay.settled_on,
        in_scope_self_pay=stay.in_scope_self_pay,
        out_of_scope_self_pay=stay.out_of_scope_self_pay,
        diagnosis_code=stay.diagnosis_code,
        is_accident=stay.is_accident,
    )


@dataclass(frozen=True)
class _Papers:
    """A filed claim's description and documents, with each document's type by its content."""

    description: str
    documents: Sequence[tuple[str, File[bytes]]]
    kinds: list[str]


def _papers_checked(description: str, documents: Sequence[tuple[str, File[bytes]]]) -> _Papers:
    """A filed claim's description and documents, checked before anything is written: the
    documents' types by their content (document_check), in the order given."""
    if len(documents) > MAX_DOCUMENTS:
        raise DomainError("too_many_documents", _("最多 %(n)s 份材料") % {"n": MAX_DOCUMENTS})
    kinds = [document_check(content, field="documents") for _, content in documents]
    if len(description) > 4000:
        raise DomainError("too_long", _at_most("description", 4000), field="description")
    return _Papers(description.strip(), documents, kinds)


def _not_enrolled(version: PlanVersion) -> str:
    return _("该会员没有参加 %(version)s") % {"version": version}


def _claim_created(
    *,
    same: QuerySet[Claim],
    conflict: tuple[str, Callable[[Claim], str]],
    actor: User,
    member: Member,
    version: PlanVersion,
    papers: _Papers,
    **facts: object,
) -> Claim:
    """A claim filed by hand, submitted for review: refused (409, the `conflict` code and message
    naming the claim) while a live claim in `same` exists, checked under the member's ledger
    lock so that two filings of one event cannot both pass; its documents stored sealed
    (document_store) and its filing recorded in the claim's history."""
    with transaction.atomic():
        ledger.ledger_lock(member.pk)
        earlier = same.first()
        if earlier is not None:
            code, message = conflict
            raise Conflict(code, message(earlier), claim_id=earlier.pk)
        claim = Claim.objects.create(
            source=ClaimSource.APPLICATION,
            state=ClaimState.SUBMITTED,
            member=member,
            version=version,
            plan_code=version.plan.code,
            description=papers.description,
            filed_by=actor,
            **facts,
        )
        for (title, content), kind in zip(papers.documents, papers.kinds, strict=True):
            document_store(claim=claim, title=title, content=content, kind=kind)
        claim_event(claim=claim, actor=actor, from_state="", reason_code=reason_for("file", None))
    return claim


def claim_file_disability(
    *,
    actor: User,
    member: Member,
    version: PlanVersion,
    grade: object,
    event_date: object,
    requested: Decimal | str,
    description: str = "",
    documents: Sequence[tuple[str, File[bytes]]] = (),
) -> Claim:
    """A union files a disability claim (伤残) for its member: the grade (1–10) and the accident's
    date from the appraisal certificate, attached as a document, under an accident plan version
    that pays disability lump sums; the accident on or after the member's coverage start."""
    require_role(actor, FILE_ROLES, _("申请理赔"))
    require_scope(actor, member)
    amount = money(requested, "requested")
    level = _grade(grade)
    day = parse_date(event_date, "event_date")
    terms = terms_of(version)
    if terms.accident is None or terms.accident.disability_sum is None:
        raise DomainError(
            "no_disability_benefit",
            _("%(version)s 不给付伤残一次性保障金") % {"version": version},
            field="disability_grade",
        )
    enrolment = next((e for e in stays.enrolments_of(member.pk) if e.version == version.pk), None)
    if enrolment is None:
        raise DomainError("not_enrolled", _not_enrolled(version), field="version")
    if not enrolment.covers(day):
        raise DomainError(
            "event_outside_period",
            _("event_date：%(day)s 不在该会员的保障期 %(start)s~%(end)s 之内")
            % {"day": day, "start": enrolment.starts, "end": version.period_end},
            field="event_date",
        )
    if not documents:
        raise DomainError(
            "certificate_required",
            _("documents：请附上伤残鉴定书"),
            field="documents",
        )
    papers = _papers_checked(description, documents)
    same_accident = Claim.objects.filter(
        member=member, version=version, event_date=day, disability_grade=level
    ).exclude(state=ClaimState.REJECTED)
    return _claim_created(
        same=same_accident,
        conflict=(
            "duplicate_claim",
            lambda earlier: (
                _("%(day)s 这次意外的 %(grade)s 级伤残已有理赔 %(claim)s")
                % {"grade": level, "day": day, "claim": earlier.pk}
            ),
        ),
        actor=actor,
        member=member,
        version=version,
        papers=papers,
        event_date=day,
        disability_grade=level,
        is_accident=True,
        requested=amount,
    )


def _grade(value: object) -> int:
    text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and 1 <= int(text[:3] or 0) <= 10 and len(text) <= 2):
        raise DomainError(
            "invalid_grade",
            _("disability_grade：应为 1（最重）到 10 的整数"),
            field="disability_grade",
        )
    return int(text)


def claim_document_add(
    *, actor: User, claim: Claim, title: str, content: File[bytes]
) -> ClaimDocument:
    """More documents while the claim is still being decided."""
    require_role(actor, FILE_ROLES | REVIEW_ROLES, _("补充材料"))
    if claim.member is None:
        raise NotFound(pgettext("未找到", "理赔"))
    require_scope(actor, claim.member)
    kind = document_check(content, field="file")
    with transaction.atomic():
        locked = claim_locked(claim)
        if locked.state not in (
            ClaimState.SUBMITTED,
            ClaimState.ACCEPTED,
            ClaimState.UNDER_REVIEW,
            ClaimState.AWAITING_SECOND_APPROVAL,
        ):
            raise refusal(locked, "add documents to")
        doc = document_store(claim=locked, title=title, content=content, kind=kind)
        audit_record(
            actor=actor,
            action=Action.CLAIM_DOCUMENT_ADD,
            obj=locked,
            org_path=locked.member.unit.path if locked.member else "",
            document=doc.pk,
        )
    return doc
