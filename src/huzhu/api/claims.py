"""Claims (理赔): filed by a union, decided by reviewers, corrected by admins; what waits for a
second signature. Amounts are strings of yuan with two decimals; staff see their subtree only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from huzhu.api.pagination import KeysetOut, KeysetQuery, PageQuery, Rendered, keyset_answer
from huzhu.api.protection import actor, money_text, plan_version
from huzhu.core.bounds import parse_date
from huzhu.core.downloads import attachment
from huzhu.core.errors import DomainError, NotFound
from huzhu.members.models import Member
from huzhu.protection import corrections, filing, selectors, services
from huzhu.protection.documents import document_download
from huzhu.protection.models import (
    Claim,
    ClaimCorrection,
    ClaimDocument,
    ClaimSource,
    ClaimState,
    Enrollment,
    PlanVersion,
)
from huzhu.protection.stays import claim_assessment

router = Router(tags=["protection"])


# -- claims ---------------------------------------------------------------------------------------


class ClaimOut(Schema):
    id: int
    source: str
    state: str
    member_id: int | None
    member_name: str
    unit_code: str
    plan_code: str
    period_start: dt.date | None
    event_date: dt.date | None
    settlement_id: str
    hospital: str
    admitted_on: dt.date | None
    discharged_on: dt.date | None
    settled_on: dt.date | None
    in_scope_self_pay: str | None
    out_of_scope_self_pay: str | None
    diagnosis_code: str
    is_accident: bool
    disability_grade: int | None
    held_amount: str | None
    requested: str | None
    approved: str | None
    pending_amount: str | None
    first_approver: str | None
    reason: str
    fast_track: bool
    description: str
    created_at: dt.datetime


def _stay_fields(claim: Claim) -> dict[str, Any]:
    stay = selectors.stay_figures(claim)
    for name in ("in_scope_self_pay", "out_of_scope_self_pay"):
        stay[name] = money_text(stay[name])
    return stay


def _claim_out(claim: Claim) -> dict[str, Any]:
    decided = claim.state in (ClaimState.APPROVED, ClaimState.PAID)
    by_hand = claim.source == ClaimSource.APPLICATION and claim.settlement_id is None
    approved = claim.payout_limit if by_hand and claim.payout_limit is not None else claim.target
    return {
        "id": claim.pk,
        "source": claim.source,
        "state": claim.state,
        "member_id": claim.member_id,
        "member_name": claim.member.name if claim.member else "",
        "unit_code": claim.member.unit.code if claim.member else "",
        "plan_code": claim.plan_code,
        "period_start": claim.version.period_start if claim.version else None,
        "event_date": claim.event_date,
        **_stay_fields(claim),
        "disability_grade": claim.disability_grade,
        "held_amount": money_text(claim.held_amount),
        "requested": money_text(claim.requested),
        "approved": money_text(approved) if decided else None,
        "pending_amount": money_text(claim.pending_amount),
        "first_approver": claim.first_approver.username if claim.first_approver else None,
        "reason": claim.reason,
        "fast_track": claim.fast_track,
        "description": claim.description,
        "created_at": claim.created_at,
    }


class EventOut(Schema):
    at: dt.datetime
    actor: str
    from_state: str
    to_state: str
    reason_code: str
    note: str


class EntryOut(Schema):
    id: int
    kind: str
    amount: str
    created_at: dt.datetime
    paid: bool
    payment_reference: str | None


class DocumentOut(Schema):
    id: int
    title: str
    uploaded_at: dt.datetime


class CorrectionOut(Schema):
    id: int
    claim_id: int
    kind: str
    amount: str
    reason_code: str
    note: str
    state: str
    requested_by: str
    requested_at: dt.datetime
    signed_by: str | None
    decided_at: dt.datetime | None

    @staticmethod
    def resolve_amount(obj: ClaimCorrection) -> str:
        return f"{obj.amount:.2f}"

    @staticmethod
    def resolve_requested_by(obj: ClaimCorrection) -> str:
        return obj.requested_by.username

    @staticmethod
    def resolve_signed_by(obj: ClaimCorrection) -> str | None:
        return obj.signed_by.username if obj.signed_by else None


class ClaimDetailOut(ClaimOut):
    assessed: str
    assessed_reason: str | None
    base_amount: str
    booked: str
    events: list[EventOut]
    entries: list[EntryOut]
    documents: list[DocumentOut]
    corrections: list[CorrectionOut]


class DecisionIn(Schema):
    reason_code: str | None = None
    note: str = ""


class ApproveIn(DecisionIn):
    amount: str
    fast_track: bool = False


class CorrectionIn(Schema):
    kind: str  # adjustment | clawback
    amount: str
    reason_code: str
    note: str


class RefuseIn(Schema):
    note: str = ""


class RejectIn(Schema):
    reason_code: str
    note: str = ""


def _claim(request: HttpRequest, claim_id: int) -> Claim:
    if not 0 < claim_id < 2**62:
        raise NotFound(pgettext("未找到", "理赔"))
    claim = (
        selectors.claims_visible_to(actor(request))
        .select_related("member__unit", "version__plan", "settlement", "first_approver")
        .filter(pk=claim_id)
        .first()
    )
    if claim is None:
        raise NotFound(pgettext("未找到", "理赔"))
    return claim


def _detail(claim: Claim) -> dict[str, Any]:
    data = _claim_out(claim)
    assessment = claim_assessment(claim)
    data["assessed"] = f"{assessment.assessed:.2f}"
    data["assessed_reason"] = assessment.reason if assessment.assessed == 0 else None
    data["base_amount"] = f"{assessment.base:.2f}"
    data["corrections"] = list(
        claim.corrections.select_related("requested_by", "signed_by").order_by("id")
    )
    data["events"] = [
        {
            "at": e.at,
            "actor": e.actor.username if e.actor else "system",
            "from_state": e.from_state,
            "to_state": e.to_state,
            "reason_code": e.reason_code,
            "note": e.note,
        }
        for e in claim.events.select_related("actor")
    ]
    data["entries"] = [
        {
            "id": line.entry.pk,
            "kind": line.entry.kind,
            "amount": f"{line.entry.amount:.2f}",
            "created_at": line.entry.created_at,
            "paid": line.paid,
            "payment_reference": line.payment_reference,
        }
        for line in selectors.claim_entries(claim)
    ]
    data["booked"] = f"{sum((Decimal(e['amount']) for e in data['entries']), Decimal(0)):.2f}"
    data["documents"] = list(claim.documents.order_by("id"))
    return data


def _documents(files: list[UploadedFile] | None) -> list[tuple[str, Any]]:
    out = []
    for f in files or []:
        _upload_bytes_limit(f)
        out.append((f.name or "document", f))
    return out


def _upload_bytes_limit(f: UploadedFile) -> None:
    from django.conf import settings

    if f.size and f.size > settings.HUZHU_MAX_UPLOAD_BYTES:
        raise DomainError("file_too_large", _("%(name)s 太大了") % {"name": f.name}, status=413)


@router.post("/claims", response={201: ClaimDetailOut})
def file_claim(
    request: HttpRequest,
    member_id: Form[int],
    plan_code: Form[str],
    requested: Form[str],
    period_start: Form[str | None] = None,
    event_date: Form[str | None] = None,
    settlement_id: Form[str | None] = None,
    hospital: Form[str | None] = None,
    admitted_on: Form[str | None] = None,
    discharged_on: Form[str | None] = None,
    settled_on: Form[str | None] = None,
    in_scope_self_pay: Form[str | None] = None,
    out_of_scope_self_pay: Form[str | None] = None,
    diagnosis_code: Form[str | None] = None,
    is_accident: Form[str | None] = None,
    disability_grade: Form[str | None] = None,
    description: Form[str] = "",
    documents: File[list[UploadedFile] | None] = None,
) -> Status[dict[str, Any]]:
    """A union files a claim for a hospital stay of its member (multipart, with any number of
    `documents`): the stay as on the member's settlement sheet, with the settlement file's names
    (`settlement_id` 结算流水号 optional; `event_date`, if given, equal to `admitted_on`). The
    version is the one starting `period_start`, or else the member's enrolled version of the
    plan covering the admission."""
    member = (
        Member.objects.select_related("unit").filter(pk=member_id).first()
        if 0 < member_id < 2**62
        else None
    )
    if member is None:
        raise NotFound(pgettext("未找到", "会员"))
    if disability_grade is not None and disability_grade.strip():
        claim = _file_disability(
            request,
            member=member,
            plan_code=plan_code,
            period_start=period_start,
            grade=disability_grade,
            event_date=event_date,
            requested=requested,
            description=description,
            documents=documents,
        )
        return Status(201, _detail(_claim(request, claim.pk)))
    admitted = next((d for d in (admitted_on, event_date) if d and d.strip()), None)
    day = parse_date(admitted, "admitted_on") if admitted else None
    if day is None and not (period_start and period_start.strip()):
        raise DomainError("required", _("admitted_on：请填写入院日期"), field="admitted_on")
    version = _claim_version(member, plan_code=plan_code, period_start=period_start, day=day)
    stay = filing.stay_from_input(
        version=version,
        admitted_on=admitted_on,
        discharged_on=discharged_on,
        settled_on=settled_on,
        event_date=event_date,
        in_scope_self_pay=in_scope_self_pay,
        out_of_scope_self_pay=out_of_scope_self_pay,
        hospital=hospital,
        diagnosis_code=diagnosis_code,
        is_accident=is_accident,
        settlement_id=settlement_id,
    )
    claim = filing.claim_file(
        actor=actor(request),
        member=member,
        version=version,
        stay=stay,
        requested=requested,
        description=description,
        documents=_documents(documents),
    )
    return Status(201, _detail(_claim(request, claim.pk)))


def _claim_version(
    member: Member, *, plan_code: str, period_start: str | None, day: dt.date | None
) -> PlanVersion:
    """The version a claim is filed under: the one starting `period_start`, or else the
    member's enrolled version of the plan covering `day` (the admission or the accident)."""
    if period_start is not None and period_start.strip():
        return plan_version(plan_code, parse_date(period_start, "period_start"))
    enrolment = (
        Enrollment.objects.select_related("version__plan")
        .filter(
            member=member,
            version__plan__code=plan_code,
            version__period_start__lte=day,
            version__period_end__gte=day,
        )
        .first()
    )
    if enrolment is None:
        raise DomainError(
            "not_enrolled",
            _("该会员没有参加覆盖 %(day)s 的 %(plan)s 计划版本") % {"plan": plan_code, "day": day},
        )
    return enrolment.version


def _file_disability(
    request: HttpRequest,
    *,
    member: Member,
    plan_code: str,
    period_start: str | None,
    grade: str,
    event_date: str | None,
    requested: str,
    description: str,
    documents: list[UploadedFile] | None,
) -> Claim:
    """A disability claim (伤残): the grade and the accident's date (`event_date`), under the
    version starting `period_start` or the member's version of the plan covering that date."""
    day = parse_date(event_date, "event_date")
    version = _claim_version(member, plan_code=plan_code, period_start=period_start, day=day)
    return filing.claim_file_disability(
        actor=actor(request),
        member=member,
        version=version,
        grade=grade,
        event_date=day,
        requested=requested,
        description=description,
        documents=_documents(documents),
    )


class ClaimPage(KeysetOut):
    items: list[ClaimOut]


class ClaimPageQuery(KeysetQuery):
    limit: int = Field(50, ge=1, le=500)


@router.get("/claims", response=ClaimPage)
def claim_queue(
    request: HttpRequest,
    page: Query[ClaimPageQuery],
    state: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The queue of the caller's subtree, oldest first: open claims (submitted, accepted, under
    review) unless `state` names others (comma-separated). Paged by `cursor` (`next_cursor`,
    `prev_cursor`) or `offset`; `count` is estimated when `total_is_estimate`."""
    states = tuple(s for s in (state or "").split(",") if s) or selectors.OPEN_STATES
    qs = selectors.claim_queue(actor(request), states=states, source=source)
    return keyset_answer(Rendered(qs, lambda rows: [_claim_out(c) for c in rows]), page)


@router.get("/claims/{claim_id}", response=ClaimDetailOut)
def get_claim(request: HttpRequest, claim_id: int) -> dict[str, Any]:
    return _detail(_claim(request, claim_id))


@router.post("/claims/{claim_id}/documents", response={201: DocumentOut})
def add_document(
    request: HttpRequest, claim_id: int, file: File[UploadedFile], title: Form[str] = ""
) -> Status[ClaimDocument]:
    _upload_bytes_limit(file)
    doc = filing.claim_document_add(
        actor=actor(request),
        claim=_claim(request, claim_id),
        title=title or file.name or "document",
        content=file,
    )
    return Status(201, doc)


@router.get("/claims/{claim_id}/documents/{doc_id}")
def get_document(request: HttpRequest, claim_id: int, doc_id: int) -> StreamingHttpResponse:
    """The document as uploaded (decrypted), as a download; every download is audited."""
    doc = _claim(request, claim_id).documents.filter(pk=doc_id).first()
    if doc is None:
        raise NotFound(pgettext("未找到", "材料"))
    content, content_type, name = document_download(actor=actor(request), document=doc)
    return attachment(content, content_type=content_type, filename=name)


@router.post("/claims/{claim_id}/accept", response=ClaimDetailOut)
def accept_claim(request: HttpRequest, claim_id: int, body: DecisionIn) -> dict[str, Any]:
    claim = services.claim_accept(
        actor=actor(request),
        claim=_claim(request, claim_id),
        reason_code=body.reason_code,
        note=body.note,
    )
    return _detail(_claim(request, claim.pk))


@router.post("/claims/{claim_id}/review", response=ClaimDetailOut)
def review_claim(request: HttpRequest, claim_id: int, body: DecisionIn) -> dict[str, Any]:
    claim = services.claim_review(
        actor=actor(request),
        claim=_claim(request, claim_id),
        reason_code=body.reason_code,
        note=body.note,
    )
    return _detail(_claim(request, claim.pk))


@router.post("/claims/{claim_id}/approve", response=ClaimDetailOut)
def approve_claim(request: HttpRequest, claim_id: int, body: ApproveIn) -> dict[str, Any]:
    """Approve with the approved amount; `fast_track` (特事特办) approves a submitted or accepted
    claim at once."""
    claim = services.claim_approve(
        actor=actor(request),
        claim=_claim(request, claim_id),
        amount=body.amount,
        reason_code=body.reason_code,
        note=body.note,
        fast_track=body.fast_track,
    )
    return _detail(_claim(request, claim.pk))


@router.post("/claims/{claim_id}/corrections", response={201: CorrectionOut})
def correct_claim(
    request: HttpRequest, claim_id: int, body: CorrectionIn
) -> Status[ClaimCorrection]:
    """An admin corrects what a decided claim pays (`adjustment` or `clawback`, with a reason
    code and a note), inside the rules; above the two-person threshold the correction waits
    (`pending`) until another admin sends the same one."""
    correction = corrections.claim_correct(
        actor=actor(request),
        claim=_claim(request, claim_id),
        kind=body.kind,
        amount=body.amount,
        reason_code=body.reason_code,
        note=body.note,
    )
    return Status(201, correction)


@router.post("/claims/{claim_id}/corrections/{correction_id}/refuse", response=CorrectionOut)
def refuse_correction(
    request: HttpRequest, claim_id: int, correction_id: int, body: RefuseIn
) -> ClaimCorrection:
    correction = (
        _claim(request, claim_id).corrections.filter(pk=correction_id).first()
        if 0 < correction_id < 2**62
        else None
    )
    if correction is None:
        raise NotFound(pgettext("未找到", "更正"))
    return corrections.claim_correction_refuse(
        actor=actor(request), correction=correction, note=body.note
    )


class SignatureOut(Schema):
    kind: str  # claim_approval | correction | payment_run
    reference: str  # the claim id, the correction id, the run's reference
    claim_id: int | None
    member_name: str
    amount: str
    first_signer: str
    since: dt.datetime
    who_may_sign: str
    you_may_sign: bool


class SignaturesOut(Schema):
    items: list[SignatureOut]
    count: int


@router.get("/approvals", response=SignaturesOut)
def waiting_for_signature(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    """What waits for a second signature (双人复核) in the caller's subtree, and who may sign:
    claim approvals, payout corrections, payment runs to release; oldest first, a page
    (`limit`, `offset`) of `count`."""
    items = selectors.awaiting_signature(actor(request))["items"]
    return {"items": page.of(items), "count": len(items)}


@router.post("/claims/{claim_id}/reject", response=ClaimDetailOut)
def reject_claim(request: HttpRequest, claim_id: int, body: RejectIn) -> dict[str, Any]:
    claim = services.claim_reject(
        actor=actor(request),
        claim=_claim(request, claim_id),
        reason_code=body.reason_code,
        note=body.note,
    )
    return _detail(_claim(request, claim.pk))
