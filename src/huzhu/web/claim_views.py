"""The console's claim pages (理赔审核) and payment runs (支付批次).

Every read goes through huzhu.protection.selectors (scoped to the staff user's subtree), every
write through huzhu.protection.services or huzhu.protection.payments; a refusal (DomainError) is
shown on the page with its status, never as a server error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import Permission, roles
from huzhu.core import idnumber
from huzhu.core.downloads import attachment
from huzhu.core.errors import DomainError
from huzhu.core.tabular import TableError
from huzhu.members.models import Member
from huzhu.members.selectors import member_visible_by_id_number
from huzhu.protection import corrections, filing, payments, selectors, services
from huzhu.protection.documents import document_download
from huzhu.protection.models import (
    Claim,
    ClaimState,
    PaymentItem,
    PaymentItemState,
    PaymentRun,
    PlanVersion,
)
from huzhu.protection.reasons import TRANSITION_CODES, decision_sentence
from huzhu.protection.selectors import stay_figures
from huzhu.protection.stays import claim_assessment
from huzhu.web.access import staff_required
from huzhu.web.console_views import _page
from huzhu.web.paging import CursorPage, cursor_page

CLAIM_ROLES = services.FILE_ROLES | services.REVIEW_ROLES
PAYER_ROLES = roles(Permission.PAYMENT_RUN)
DECISIONS = ("accept", "review", "approve", "fast_track", "reject")


def _codes(transition: str) -> list[tuple[str, str]]:
    return [(code, decision_sentence(code)) for code in TRANSITION_CODES[transition]]


def _state_label(state: str) -> str:
    return str(ClaimState(state).label) if state in ClaimState.values else state


def _upload_limit(f: UploadedFile) -> None:
    if f.size and f.size > settings.HUZHU_MAX_UPLOAD_BYTES:
        raise DomainError("file_too_large", _("文件过大：%(name)s") % {"name": f.name}, status=413)


# -- the queue ------------------------------------------------------------------------------------


@staff_required(CLAIM_ROLES)
def claims(request: HttpRequest, user: User) -> HttpResponse:
    """The claims of the user's subtree: open ones (oldest first) unless a state is chosen."""
    state = request.GET.get("state", "").strip()
    if state == "all":
        states: tuple[str, ...] = tuple(ClaimState.values)
    elif state in ClaimState.values:
        states = (state,)
    else:
        state, states = "", selectors.OPEN_STATES
    qs = selectors.claim_queue(user, states=states)
    return render(
        request,
        "web/console/claims.html",
        {
            "page": cursor_page(request, qs, {"state": state}),
            "state": state,
            "states": ClaimState.choices,
            "may_file": user.role in services.FILE_ROLES,
        },
    )


def _claim_for(user: User, claim_id: int) -> Claim:
    claim = (
        selectors.claims_visible_to(user)
        .select_related("member__unit", "version__plan", "filed_by")
        .filter(pk=claim_id)
        .first()
    )
    if claim is None:
        raise Http404
    return claim


def _decide(user: User, claim: Claim, post: Any) -> None:
    action = post.get("action", "")
    note = post.get("note", "")
    code = post.get("reason_code") or None
    if action == "accept":
        services.claim_accept(actor=user, claim=claim, reason_code=code, note=note)
    elif action == "review":
        services.claim_review(actor=user, claim=claim, reason_code=code, note=note)
    elif action in ("approve", "fast_track"):
        services.claim_approve(
            actor=user,
            claim=claim,
            amount=post.get("amount", "").strip(),
            reason_code=code,
            note=note,
            fast_track=action == "fast_track",
        )
    elif action == "reject":
        services.claim_reject(actor=user, claim=claim, reason_code=code or "", note=note)
    elif action == "correct":
        corrections.claim_correct(
            actor=user,
            claim=claim,
            kind=post.get("kind", ""),
            amount=post.get("amount", "").strip(),
            reason_code=code or "",
            note=note,
        )
    elif action == "refuse_correction":
        number = post.get("correction", "")
        correction = (
            claim.corrections.filter(pk=int(number)).first()
            if number.isascii() and number.isdigit() and len(number) < 18
            else None
        )
        if correction is None:
            raise DomainError("not_found", _("没有这条更正"), status=404)
        corrections.claim_correction_refuse(actor=user, correction=correction, note=note)
    else:
        raise DomainError("unknown_action", _("未知操作"))


@staff_required(CLAIM_ROLES)
def claim_detail(request: HttpRequest, user: User, claim_id: int) -> HttpResponse:
    claim = _claim_for(user, claim_id)
    status = 200
    error = ""
    if request.method == "POST":
        try:
            _decide(user, claim, request.POST)
            return HttpResponseRedirect(reverse("web:console_claim", args=[claim.pk]))
        except DomainError as exc:
            error, status = exc.message, exc.status
        claim = _claim_for(user, claim_id)
    by_hand = claim.source == "application" and claim.settlement_id is None
    held = claim.state in (ClaimState.HELD, ClaimState.AWAITING_SECOND_APPROVAL)
    may_decide = user.role in services.REVIEW_ROLES and (by_hand or held)
    open_states = (
        ClaimState.HELD,
        ClaimState.SUBMITTED,
        ClaimState.ACCEPTED,
        ClaimState.UNDER_REVIEW,
        ClaimState.AWAITING_SECOND_APPROVAL,
    )
    assessment = claim_assessment(claim)
    entries = selectors.claim_entries(claim)
    context = {
        "claim": claim,
        "stay": stay_figures(claim),
        "assessment": assessment,
        "assessed_reason": decision_sentence(assessment.reason) if assessment.reason else "",
        "booked": sum((line.entry.amount for line in entries), Decimal("0.00")),
        "threshold": services.second_approval_above(),
        "corrections": [
            {"obj": c, "reason": decision_sentence(c.reason_code)}
            for c in claim.corrections.select_related("requested_by", "signed_by").order_by("id")
        ],
        "correct_codes": _codes("correct"),
        "may_correct": user.role in services.CORRECT_ROLES
        and claim.state in corrections.CORRECTABLE,
        "may_second": may_decide
        and claim.state == ClaimState.AWAITING_SECOND_APPROVAL
        and claim.first_approver_id != user.pk,
        "state_label": _state_label(claim.state),
        "documents": claim.documents.order_by("id"),
        "events": [
            {
                "event": e,
                "from_label": _state_label(e.from_state) if e.from_state else "",
                "to_label": _state_label(e.to_state),
                "reason": decision_sentence(e.reason_code) if e.reason_code else "",
            }
            for e in claim.events.select_related("actor")
        ],
        "entries": entries,
        "error": error,
        "posted": request.POST if request.method == "POST" else {},
        "may_accept": may_decide and claim.state == ClaimState.SUBMITTED,
        "may_review": may_decide and claim.state == ClaimState.ACCEPTED,
        "may_approve": may_decide and claim.state in (ClaimState.UNDER_REVIEW, ClaimState.HELD),
        "may_fast_track": may_decide and claim.state in (ClaimState.SUBMITTED, ClaimState.ACCEPTED),
        "may_reject": may_decide and claim.state in open_states,
        "approve_codes": _codes("approve"),
        "reject_codes": _codes("reject"),
    }
    return render(request, "web/console/claim.html", context, status=status)


@staff_required(CLAIM_ROLES)
def claim_document(
    request: HttpRequest, user: User, claim_id: int, doc_id: int
) -> HttpResponseBase:
    """The document as uploaded (decrypted), as a download; every download is audited."""
    doc = _claim_for(user, claim_id).documents.filter(pk=doc_id).first()
    if doc is None:
        raise Http404
    try:
        content, content_type, name = document_download(actor=user, document=doc)
    except DomainError as exc:
        return HttpResponse(
            exc.message, status=exc.status, content_type="text/plain; charset=utf-8"
        )
    return attachment(content, content_type=content_type, filename=name)


# -- filing ---------------------------------------------------------------------------------------


def _member_by_id_number(user: User, raw: str) -> Member:
    number = idnumber.parse_id_number(raw)
    member = member_visible_by_id_number(user, number)
    if member is None:
        raise DomainError(
            "member_not_found", _("本单位没有这个身份证号的会员"), field="id_number", status=404
        )
    return member


def _file(user: User, request: HttpRequest) -> Claim:
    post = request.POST
    member = _member_by_id_number(user, post.get("id_number", ""))
    chosen = (post.get("version") or "").strip()
    version = (
        PlanVersion.objects.select_related("plan").filter(pk=int(chosen)).first()
        if chosen.isascii() and chosen.isdigit() and len(chosen) <= 18
        else None
    )
    if version is None:
        raise DomainError("version_required", _("请选择保障计划"), field="version")
    stay = filing.stay_from_input(
        version=version,
        **{
            name: post.get(name)
            for name in (
                "admitted_on",
                "discharged_on",
                "settled_on",
                "event_date",
                "in_scope_self_pay",
                "out_of_scope_self_pay",
                "hospital",
                "diagnosis_code",
                "is_accident",
                "settlement_id",
            )
        },
    )
    uploads = request.FILES.getlist("documents")
    for f in uploads:
        _upload_limit(f)
    return filing.claim_file(
        actor=user,
        member=member,
        version=version,
        stay=stay,
        requested=post.get("requested", "").strip(),
        description=post.get("description", ""),
        documents=[(f.name or "document", f) for f in uploads],
    )


@staff_required(services.FILE_ROLES)
def claim_new(request: HttpRequest, user: User) -> HttpResponse:
    """A workplace union files a claim for its member."""
    context: dict[str, Any] = {
        "versions": PlanVersion.objects.select_related("plan").order_by(
            "plan__code", "-period_start"
        ),
        "posted": request.POST if request.method == "POST" else {},
    }
    if request.method == "POST":
        try:
            claim = _file(user, request)
            return HttpResponseRedirect(reverse("web:console_claim", args=[claim.pk]))
        except DomainError as exc:
            context["error"] = exc.message
            return render(request, "web/console/claim_new.html", context, status=exc.status)
    return render(request, "web/console/claim_new.html", context)


# -- second signatures ----------------------------------------------------------------------------


@staff_required(services.REVIEW_ROLES | services.CORRECT_ROLES)
def approvals(request: HttpRequest, user: User) -> HttpResponse:
    """双人复核: what waits for a second signature in the user's subtree, and who may give it."""
    items = selectors.awaiting_signature(user)["items"]
    kinds = {
        "claim_approval": _("理赔批准"),
        "correction": _("给付更正"),
        "payment_run": _("支付批次"),
    }
    for item in items:
        item["kind_label"] = kinds[item["kind"]]
        item["href"] = (
            f"/console/payments/{item['reference']}/"
            if item["kind"] == "payment_run"
            else f"/console/claims/{item['claim_id']}/"
        )
    return render(request, "web/console/approvals.html", {"items": items})


# -- payment runs ---------------------------------------------------------------------------------


@staff_required(PAYER_ROLES)
def payment_runs(request: HttpRequest, user: User) -> HttpResponse:
    context: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        try:
            result = payments.payment_run_create(actor=user)
            return HttpResponseRedirect(
                reverse("web:console_payment_run", args=[result.run.reference])
            )
        except DomainError as exc:
            context["error"], status = exc.message, exc.status
    context["page"] = _page(request, PaymentRun.objects.order_by("-created_at", "-id"))
    return render(request, "web/console/payments.html", context, status=status)


def _run(reference: str) -> PaymentRun:
    run = (
        PaymentRun.objects.select_related("created_by", "released_by")
        .filter(reference=reference)
        .first()
    )
    if run is None:
        raise Http404
    return run


def _transfers(request: HttpRequest, run: PaymentRun) -> CursorPage:
    """A page of the run's transfers, by reference: a run pays up to every member of the city."""
    return cursor_page(request, run.items.select_related("member").order_by("reference"), {})


@staff_required(PAYER_ROLES)
def payment_run(request: HttpRequest, user: User, reference: str) -> HttpResponse:
    """One run: its transfers, each confirmed or failed by hand, or all by the bank's CSV."""
    run = _run(reference)
    context: dict[str, Any] = {"run": run}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "upload":
                upload = request.FILES.get("file")
                if upload is None:
                    raise DomainError("file_required", _("请选择文件"), field="file")
                _upload_limit(upload)
                context["report"] = payments.payment_confirm_file(
                    actor=user, data=upload.read(), file=upload.name or "confirm.csv"
                )
            elif action == "release":
                payments.payment_run_release(actor=user, run=run)
                return HttpResponseRedirect(
                    reverse("web:console_payment_run", args=[run.reference])
                )
            elif action == "cancel":
                payments.payment_run_cancel(
                    actor=user, run=run, reason=request.POST.get("reason", "")
                )
                return HttpResponseRedirect(
                    reverse("web:console_payment_run", args=[run.reference])
                )
            elif action in ("confirm", "fail"):
                item = PaymentItem.objects.filter(
                    run=run, reference=request.POST.get("reference", "")
                ).first()
                if item is None:
                    raise Http404
                if action == "confirm":
                    payments.payment_item_confirm(actor=user, item=item)
                else:
                    payments.payment_item_fail(
                        actor=user, item=item, reason=request.POST.get("reason", "")
                    )
                return HttpResponseRedirect(
                    reverse("web:console_payment_run", args=[run.reference])
                )
            else:
                raise DomainError("unknown_action", _("未知操作"))
        except TableError as exc:
            context["errors"], status = exc.errors, 400
        except DomainError as exc:
            context["error"], status = exc.message, exc.status
    run.refresh_from_db()
    context["page"] = _transfers(request, run)
    context["pending"] = PaymentItemState.PENDING
    context["may_release"] = run.created_by_id != user.pk
    return render(request, "web/console/payment_run.html", context, status=status)


@staff_required(PAYER_ROLES)
def payment_run_file(request: HttpRequest, user: User, reference: str) -> HttpResponse:
    """The bank transfer file (CSV: card_no, name, amount, reference) of a released run."""
    run = _run(reference)
    try:
        data = payments.payment_run_file(run=run, actor=user)
    except DomainError as exc:
        return render(
            request,
            "web/console/payment_run.html",
            {
                "run": run,
                "error": exc.message,
                "page": _transfers(request, run),
                "pending": PaymentItemState.PENDING,
                "may_release": run.created_by_id != user.pk,
            },
            status=exc.status,
        )
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{run.reference}.csv"'
    return response
