"""Plans, enrolments, claims, payment runs, and a member's own payouts. Amounts are strings of
yuan with two decimals (never floats); staff see their subtree only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from huzhu.accounts.models import ROSTER_ROLES, User
from huzhu.api.members import _upload_bytes
from huzhu.api.pagination import MAX_OFFSET, Paged, PageQuery
from huzhu.core.bounds import Day, Year, parse_date
from huzhu.core.downloads import attachment
from huzhu.core.errors import DomainError, Forbidden, NotFound
from huzhu.members.models import Member, Organisation
from huzhu.members.selectors import orgs_visible_to
from huzhu.protection import payments, selectors, services
from huzhu.protection.documents import document_download
from huzhu.protection.models import (
    Claim,
    ClaimCorrection,
    ClaimDocument,
    ClaimSource,
    ClaimState,
    Enrollment,
    PaymentItem,
    PaymentRun,
    Plan,
    PlanVersion,
)
from huzhu.protection.plans import plan_version_update
from huzhu.protection.stays import claim_assessment

router = Router(tags=["protection"])


def actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


# -- plans ----------------------------------------------------------------------------------------


class VersionOut(Schema):
    plan_code: str
    period_start: dt.date
    period_end: dt.date
    contribution: str
    payer: str
    waiting_days: int
    terms: dict[str, Any]
    review_above: str | None
    frozen: bool
    frozen_at: dt.datetime | None

    @staticmethod
    def resolve_plan_code(obj: PlanVersion) -> str:
        return obj.plan.code

    @staticmethod
    def resolve_review_above(obj: PlanVersion) -> str | None:
        return None if obj.review_above is None else f"{obj.review_above:.2f}"

    @staticmethod
    def resolve_contribution(obj: PlanVersion) -> str:
        return f"{obj.contribution:.2f}"

    @staticmethod
    def resolve_frozen(obj: PlanVersion) -> bool:
        return obj.frozen_at is not None


class PlanOut(Schema):
    code: str
    name: str
    benefit: str
    versions: list[VersionOut]

    @staticmethod
    def resolve_versions(obj: Plan) -> list[PlanVersion]:
        return list(obj.versions.all())


class VersionPatch(Schema):
    period_end: Day | None = None
    contribution: str | None = None
    payer: str | None = None
    waiting_days: int | None = None
    terms: dict[str, Any] | None = None
    review_above: str | None = None  # null removes it


def _plans() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related("versions__plan").order_by("code")


def _version(code: str, period_start: dt.date) -> PlanVersion:
    version = (
        PlanVersion.objects.select_related("plan")
        .filter(plan__code=code, period_start=period_start)
        .first()
    )
    if version is None:
        raise NotFound(f"version of plan {code} starting {period_start}")
    return version


@router.get("/plans", response=list[PlanOut])
def list_plans(request: HttpRequest) -> QuerySet[Plan]:
    return _plans()


@router.get("/plans/{code}", response=PlanOut)
def get_plan(request: HttpRequest, code: str) -> Plan:
    plan = _plans().filter(code=code).first()
    if plan is None:
        raise NotFound(f"plan {code}")
    return plan


@router.get("/plans/{code}/versions/{period_start}", response=VersionOut)
def get_version(request: HttpRequest, code: str, period_start: dt.date) -> PlanVersion:
    return _version(code, period_start)


@router.patch("/plans/{code}/versions/{period_start}", response=VersionOut)
def update_version(
    request: HttpRequest, code: str, period_start: dt.date, body: VersionPatch
) -> PlanVersion:
    """City staff change a version until its first payout; a frozen one answers 409."""
    given = body.dict(exclude_unset=True)
    clear = "review_above" in given and given["review_above"] is None
    return plan_version_update(
        actor=actor(request),
        version=_version(code, period_start),
        clear_review=clear,
        **{k: v for k, v in given.items() if v is not None},
    )


# -- enrolments -----------------------------------------------------------------------------------


class UnitEnrolIn(Schema):
    plan_code: str
    period_start: dt.date
    paid_on: dt.date | None = None


class UnitEnrolOut(Schema):
    unit_code: str
    plan_code: str
    period_start: dt.date
    created: int
    already_enrolled: int


class ContributionOut(Schema):
    plan_code: str
    period_start: dt.date
    payer: str
    members: int
    total: str


def _org(request: HttpRequest, code: str) -> Organisation:
    org = orgs_visible_to(actor(request)).filter(code=code).first()
    if org is None:
        raise NotFound(f"organisation {code}")
    return org


@router.post("/units/{code}/enrollments", response={201: UnitEnrolOut})
def enrol_unit(request: HttpRequest, code: str, body: UnitEnrolIn) -> Status[dict[str, Any]]:
    """Enrol every active member of the unit not yet enrolled in the version."""
    result = services.enrollment_create_for_unit(
        actor=actor(request),
        unit=_org(request, code),
        version=_version(body.plan_code, body.period_start),
        paid_on=body.paid_on,
    )
    return Status(
        201,
        {
            "unit_code": result.unit.code,
            "plan_code": result.version.plan.code,
            "period_start": result.version.period_start,
            "created": result.created,
            "already_enrolled": result.already,
        },
    )


@router.get("/units/{code}/contributions", response=list[ContributionOut])
def unit_contributions(request: HttpRequest, code: str, year: Year) -> list[dict[str, Any]]:
    """The unit's contribution statement: per plan version of the year, members and total
    (for the admins who keep rosters and pay contributions, as on the console page)."""
    if actor(request).role not in ROSTER_ROLES:
        raise Forbidden("forbidden", "your role may not see contribution statements")
    unit = _org(request, code)
    return [
        {
            "plan_code": r["version__plan__code"],
            "period_start": r["version__period_start"],
            "payer": r["payer"],
            "members": r["members"],
            "total": f"{Decimal(str(r['total'] or 0)):.2f}",
        }
        for r in selectors.contribution_statement(unit.pk, year)
    ]


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
        stay[name] = _money(stay[name])
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
        "held_amount": _money(claim.held_amount),
        "requested": _money(claim.requested),
        "approved": _money(approved) if decided else None,
        "pending_amount": _money(claim.pending_amount),
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
        raise NotFound("claim")
    claim = (
        selectors.claims_visible_to(actor(request))
        .select_related("member__unit", "version__plan", "settlement", "first_approver")
        .filter(pk=claim_id)
        .first()
    )
    if claim is None:
        raise NotFound("claim")
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
        raise DomainError("file_too_large", f"{f.name} is too large", status=413)


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
        raise NotFound("member")
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
        raise DomainError(
            "required", "admitted_on: the date of admission is required", field="admitted_on"
        )
    version = _claim_version(member, plan_code=plan_code, period_start=period_start, day=day)
    stay = services.stay_from_input(
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
    claim = services.claim_file(
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
        return _version(plan_code, parse_date(period_start, "period_start"))
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
        raise DomainError("not_enrolled", f"the member has no {plan_code} version covering {day}")
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
    return services.claim_file_disability(
        actor=actor(request),
        member=member,
        version=version,
        grade=grade,
        event_date=day,
        requested=requested,
        description=description,
        documents=_documents(documents),
    )


class ClaimPage(Schema):
    items: list[ClaimOut]
    count: int


@router.get("/claims", response=ClaimPage)
def claim_queue(
    request: HttpRequest,
    state: str | None = None,
    source: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """The queue of the caller's subtree, oldest first: open claims (submitted, accepted, under
    review) unless `state` names others (comma-separated)."""
    states = tuple(s for s in (state or "").split(",") if s) or selectors.OPEN_STATES
    qs = selectors.claim_queue(actor(request), states=states, source=source)
    return {"items": [_claim_out(c) for c in qs[offset : offset + limit]], "count": qs.count()}


@router.get("/claims/{claim_id}", response=ClaimDetailOut)
def get_claim(request: HttpRequest, claim_id: int) -> dict[str, Any]:
    return _detail(_claim(request, claim_id))


@router.post("/claims/{claim_id}/documents", response={201: DocumentOut})
def add_document(
    request: HttpRequest, claim_id: int, file: File[UploadedFile], title: Form[str] = ""
) -> Status[ClaimDocument]:
    _upload_bytes_limit(file)
    doc = services.claim_document_add(
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
        raise NotFound("document")
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
    correction = services.claim_correct(
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
        raise NotFound("correction")
    return services.claim_correction_refuse(
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


# -- payment runs ---------------------------------------------------------------------------------


class ItemOut(Schema):
    reference: str
    member_id: int
    member_name: str
    card_no: str
    amount: str
    state: str
    settled_at: dt.datetime | None

    @staticmethod
    def resolve_member_name(obj: PaymentItem) -> str:
        return obj.member.name

    @staticmethod
    def resolve_amount(obj: PaymentItem) -> str:
        return f"{obj.amount:.2f}"


class RunOut(Schema):
    reference: str
    created_at: dt.datetime
    state: str
    created_by: str | None
    released_by: str | None
    released_at: dt.datetime | None
    total: str
    items: int

    @staticmethod
    def resolve_total(obj: PaymentRun) -> str:
        return f"{obj.total:.2f}"

    @staticmethod
    def resolve_items(obj: PaymentRun) -> int:
        return obj.items.count()

    @staticmethod
    def resolve_created_by(obj: PaymentRun) -> str | None:
        return obj.created_by.username if obj.created_by else None

    @staticmethod
    def resolve_released_by(obj: PaymentRun) -> str | None:
        return obj.released_by.username if obj.released_by else None


class RunCreatedOut(Schema):
    reference: str
    created_at: dt.datetime
    state: str
    total: str
    items: int
    held_no_card: int
    held_not_positive: int
    held_too_large: int
    held_next_run: int


class RunDetailOut(Schema):
    reference: str
    created_at: dt.datetime
    state: str
    created_by: str | None
    released_by: str | None
    released_at: dt.datetime | None
    total: str
    items: list[ItemOut]  # a page of the transfers (`limit`, `offset`), by reference
    count: int  # the run's transfers


class FailIn(Schema):
    reason: str = ""


class ConfirmReportOut(Schema):
    file: str
    rows: int
    paid: int
    failed: int
    unchanged: int


def _run(reference: str) -> PaymentRun:
    run = PaymentRun.objects.filter(reference=reference).first()
    if run is None:
        raise NotFound(f"payment run {reference}")
    return run


def _payer_only(request: HttpRequest) -> None:
    payments._require_payer(actor(request))


@router.post("/payment-runs", response={201: RunCreatedOut})
def create_run(request: HttpRequest) -> Status[dict[str, Any]]:
    """Gather every payable entry into a new run, a draft until another city admin releases
    it; 409 `nothing_to_pay` when there is nothing."""
    result = payments.payment_run_create(actor=actor(request))
    return Status(
        201,
        {
            "reference": result.run.reference,
            "created_at": result.run.created_at,
            "state": result.run.state,
            "total": f"{result.run.total:.2f}",
            "items": result.items,
            "held_no_card": result.held_no_card,
            "held_not_positive": result.held_not_positive,
            "held_too_large": result.held_too_large,
            "held_next_run": result.held_next_run,
        },
    )


@router.get("/payment-runs", response=list[RunOut])
@paginate(Paged)
def list_runs(request: HttpRequest) -> QuerySet[PaymentRun]:
    _payer_only(request)
    return PaymentRun.objects.select_related("created_by", "released_by").order_by(
        "-created_at", "-id"
    )


@router.get("/payment-runs/{reference}", response=RunDetailOut)
def get_run(request: HttpRequest, reference: str, page: Query[PageQuery]) -> dict[str, Any]:
    """A run with a page of its transfers (`limit`, `offset`) and how many it has."""
    _payer_only(request)
    run = _run(reference)
    transfers = run.items.select_related("member").order_by("reference")
    return {
        "reference": run.reference,
        "created_at": run.created_at,
        "state": run.state,
        "created_by": run.created_by.username if run.created_by else None,
        "released_by": run.released_by.username if run.released_by else None,
        "released_at": run.released_at,
        "total": f"{run.total:.2f}",
        "items": list(page.of(transfers)),
        "count": transfers.count(),
    }


@router.post("/payment-runs/{reference}/release", response=RunOut)
def release_run(request: HttpRequest, reference: str) -> PaymentRun:
    """放行 (双人复核): a city admin other than the run's maker lets its bank file out."""
    return payments.payment_run_release(actor=actor(request), run=_run(reference))


@router.post("/payment-runs/{reference}/cancel", response=RunOut)
def cancel_run(request: HttpRequest, reference: str, body: FailIn) -> PaymentRun:
    """作废: a draft run that must not go out; its entries wait for the next run."""
    return payments.payment_run_cancel(
        actor=actor(request), run=_run(reference), reason=body.reason
    )


@router.get("/payment-runs/{reference}/file")
def run_file(request: HttpRequest, reference: str) -> HttpResponse:
    """The bank transfer file (CSV: card_no, name, amount, reference) of a released run; 409
    `not_released` before."""
    _payer_only(request)
    run = _run(reference)
    data = payments.payment_run_file(run=run, actor=actor(request))
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{run.reference}.csv"'
    return response


@router.post("/payment-runs/{reference}/confirmations", response=ConfirmReportOut)
def confirm_file(request: HttpRequest, reference: str, file: File[UploadedFile]) -> dict[str, Any]:
    """The bank's answer (CSV: reference, status paid/failed, reason): all rows or none."""
    _payer_only(request)
    _run(reference)
    report = payments.payment_confirm_file(
        actor=actor(request), data=_upload_bytes(file), file=file.name or "confirm.csv"
    )
    return report.as_dict()


def _item(reference: str) -> PaymentItem:
    item = PaymentItem.objects.select_related("member").filter(reference=reference).first()
    if item is None:
        raise NotFound(f"transfer {reference}")
    return item


@router.post("/payment-items/{reference}/confirm", response=ItemOut)
def confirm_item(request: HttpRequest, reference: str) -> PaymentItem:
    return payments.payment_item_confirm(actor=actor(request), item=_item(reference))


@router.post("/payment-items/{reference}/fail", response=ItemOut)
def fail_item(request: HttpRequest, reference: str, body: FailIn) -> PaymentItem:
    """The transfer bounced: its entries return to the queue for the next run."""
    return payments.payment_item_fail(
        actor=actor(request), item=_item(reference), reason=body.reason
    )


# -- a member's own -------------------------------------------------------------------------------


class MyClaimOut(Schema):
    id: int
    source: str
    state: str
    state_label: str
    plan_code: str
    plan_name: str
    event_date: dt.date | None
    requested: str | None
    amount: str
    paid: str
    reason_code: str
    reason: str


class MyPayoutOut(Schema):
    reference: str
    amount: str
    state: str
    card_last4: str
    settled_at: dt.datetime | None


class MyClaimsOut(Schema):
    claims: list[MyClaimOut]
    payouts: list[MyPayoutOut]


@router.get("/me/claims", response=MyClaimsOut)
def my_claims(request: HttpRequest) -> dict[str, Any]:
    """A member's own claims and transfers, each amount with its reason in plain words."""
    data = selectors.member_claims(actor(request))
    for c in data["claims"]:
        c["state_label"] = str(c["state_label"])
        c["requested"] = _money(c["requested"])
        c["amount"] = f"{c['amount']:.2f}"
        c["paid"] = f"{c['paid']:.2f}"
    for p in data["payouts"]:
        p["amount"] = f"{p['amount']:.2f}"
    return data
