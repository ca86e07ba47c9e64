"""Payment runs (支付): made and released by two city admins, the bank file, the bank's answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import pgettext
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from huzhu.api.members import _upload_bytes
from huzhu.api.pagination import KeysetQuery, Paged, keyset_answer
from huzhu.api.protection import actor
from huzhu.core.errors import NotFound
from huzhu.protection import payments
from huzhu.protection.models import (
    PaymentItem,
    PaymentRun,
)

router = Router(tags=["protection"])


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


class RunHeadOut(Schema):
    """What every answer about a payment run starts with."""

    reference: str
    created_at: dt.datetime
    state: str
    created_by: str | None
    released_by: str | None
    released_at: dt.datetime | None
    total: str


class RunOut(RunHeadOut):
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


class RunDetailOut(RunHeadOut):
    items: list[ItemOut]  # a page of the transfers (`limit` and `offset` or `cursor`), by reference
    count: int  # the run's transfers (estimated when `total_is_estimate`)
    total_is_estimate: bool = False
    next_cursor: str | None = None
    prev_cursor: str | None = None


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
        raise NotFound(pgettext("未找到", "支付批次 %(ref)s") % {"ref": reference})
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
def get_run(request: HttpRequest, reference: str, page: Query[KeysetQuery]) -> dict[str, Any]:
    """A run with a page of its transfers (`limit` and `offset`, or `cursor`) and how many it
    has."""
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
        **keyset_answer(transfers, page),
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
        raise NotFound(pgettext("未找到", "转账 %(ref)s") % {"ref": reference})
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
