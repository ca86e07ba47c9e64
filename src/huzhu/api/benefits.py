"""Member benefits: activities, bookings (FCFS and lottery), vouchers, redemption at the gate.

Thin: every rule lives in the benefits app's services (activities, bookings, lottery,
voucher_codes, redemption) and selectors.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.api.pagination import Paged
from huzhu.benefits import rules, selectors
from huzhu.benefits.activities import activity_create, activity_update
from huzhu.benefits.bookings import booking_cancel, booking_create
from huzhu.benefits.lottery import lottery_draw
from huzhu.benefits.models import Activity, Booking
from huzhu.benefits.redemption import OfflineScan, redemption_scan, redemption_upload
from huzhu.benefits.voucher_codes import public_key, voucher_code, voucher_short_code
from huzhu.core.bounds import Day, Moment, Quota
from huzhu.core.errors import DomainError, Forbidden, NotFound
from huzhu.core.idnumber import parse_id_number
from huzhu.members.models import Member
from huzhu.members.selectors import orgs_visible_to
from huzhu.members.services import member_find

router = Router(tags=["benefits"])


def actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _aware(value: datetime) -> datetime:
    """Times without a zone are Beijing time, as people type them."""
    return timezone.make_aware(value) if timezone.is_naive(value) else value


# -- schemas --------------------------------------------------------------------------------------


# Quotas at most 1,000,000; dates from 1900 to 2099 as ISO text (core.bounds): a 422 naming the
# field for anything else, before any of it reaches a column it could overflow.


class DayQuotaIn(Schema):
    day: Day
    quota: Quota


class ActivityIn(Schema):
    title: str = Field(max_length=200)
    venue: str = Field(max_length=200)
    quota: Quota
    opens_at: Moment
    closes_at: Moment
    valid_from: Day
    valid_to: Day
    eligible_org: str
    mode: str = "fcfs"
    group: str | None = Field(None, max_length=100)
    description: str = ""
    day_quotas: list[DayQuotaIn] | None = None


class ActivityPatch(Schema):
    title: str | None = Field(None, max_length=200)
    venue: str | None = Field(None, max_length=200)
    description: str | None = None
    quota: Quota | None = None
    opens_at: Moment | None = None
    closes_at: Moment | None = None
    valid_from: Day | None = None
    valid_to: Day | None = None


class ActivityOut(Schema):
    id: int
    title: str
    venue: str
    description: str
    organiser: str
    eligible_org: str
    group: str | None
    mode: str
    opens_at: datetime
    closes_at: datetime
    valid_from: date
    valid_to: date
    per_day: bool
    quota: int
    remaining: int
    window: str
    drawn_at: datetime | None

    @staticmethod
    def resolve_organiser(obj: Activity) -> str:
        return obj.organiser.code

    @staticmethod
    def resolve_eligible_org(obj: Activity) -> str:
        return obj.eligible_org.code

    @staticmethod
    def resolve_group(obj: Activity) -> str | None:
        return obj.group.name if obj.group else None

    @staticmethod
    def resolve_quota(obj: Activity) -> int:
        size = getattr(obj, "quota_size", None)
        return int(size) if size is not None else selectors.total_quota(obj).size

    @staticmethod
    def resolve_remaining(obj: Activity) -> int:
        return selectors.quota_remaining(obj)

    @staticmethod
    def resolve_window(obj: Activity) -> str:
        return str(rules.window_state(timezone.now(), obj.opens_at, obj.closes_at))


class BookingIn(Schema):
    member: str | None = None  # staff book for a member of their subtree by ID number
    day: Day | None = None


class BookingOut(Schema):
    id: int
    activity: int
    activity_title: str
    member: int
    member_name: str
    status: str
    day: date | None
    lottery_rank: int | None
    created_at: datetime
    booked_at: datetime | None
    cancelled_at: datetime | None
    redeemed_at: datetime | None
    redeemed_gate: str

    @staticmethod
    def resolve_activity(obj: Booking) -> int:
        return obj.activity_id

    @staticmethod
    def resolve_activity_title(obj: Booking) -> str:
        return obj.activity.title

    @staticmethod
    def resolve_member(obj: Booking) -> int:
        return obj.member_id

    @staticmethod
    def resolve_member_name(obj: Booking) -> str:
        return obj.member.name


class DrawIn(Schema):
    seed: str = Field(max_length=200)


class DrawOut(Schema):
    seed: str
    algorithm: str
    drawn_at: str
    capacity: int
    entries: list[int]
    winners: list[int]
    waiting: list[int]
    excluded: list[int]


class StatsOut(Schema):
    quota: int
    booked: int
    redeemed: int
    remaining: int
    registered: int
    waitlisted: int
    cancelled: int
    no_shows: int
    scans: int
    double_uses: int
    days: list[dict[str, Any]]


class VoucherOut(Schema):
    booking: int
    code: str
    short_code: str
    png: str
    svg: str
    status: str
    valid_from: date
    valid_to: date
    day: date | None


class PublicKeyOut(Schema):
    activity: int
    algorithm: str
    public_key: str
    pem: str


class RevocationsOut(Schema):
    activity: int
    generated_at: datetime
    cancelled: list[int]
    redeemed: list[int]


class ScanIn(Schema):
    code: str
    gate: str
    nonce: str = ""


class OfflineScanIn(Schema):
    code: str
    scanned_at: Moment
    nonce: str = ""


class ScanBatchIn(Schema):
    gate: str
    scans: list[OfflineScanIn]


class ScanBatchOut(Schema):
    gate: str
    received: int
    redeemed: int
    double_uses: list[dict[str, Any]]
    results: list[dict[str, Any]]


# -- activities -----------------------------------------------------------------------------------


_with_quota = selectors.with_total_quota


@router.post("/activities", response={201: ActivityOut})
def create_activity(request: HttpRequest, body: ActivityIn) -> Status[Activity]:
    eligible = orgs_visible_to(actor(request)).filter(code=body.eligible_org).first()
    if eligible is None:
        raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": body.eligible_org})
    activity = activity_create(
        actor=actor(request),
        title=body.title,
        venue=body.venue,
        quota=body.quota,
        opens_at=_aware(body.opens_at),
        closes_at=_aware(body.closes_at),
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        eligible_org=eligible,
        mode=body.mode,
        group=body.group,
        description=body.description,
        day_quotas={d.day: d.quota for d in body.day_quotas or []},
    )
    return Status(201, activity)


@router.get("/activities", response=list[ActivityOut])
@paginate(Paged)
def list_activities(request: HttpRequest) -> QuerySet[Activity]:
    """Activities the caller may book (a member) or runs (staff), with remaining quota."""
    return _with_quota(selectors.activities_visible_to(actor(request), current_only=True)).order_by(
        "opens_at", "id"
    )


@router.get("/activities/{activity_id}", response=ActivityOut)
def get_activity(request: HttpRequest, activity_id: int) -> Activity:
    return selectors.activity_get(user=actor(request), activity_id=activity_id)


@router.patch("/activities/{activity_id}", response=ActivityOut)
def update_activity(request: HttpRequest, activity_id: int, body: ActivityPatch) -> Activity:
    activity = selectors.activity_managed_by(user=actor(request), activity_id=activity_id)
    activity_update(
        activity=activity,
        actor=actor(request),
        title=body.title,
        venue=body.venue,
        description=body.description,
        quota=body.quota,
        opens_at=_aware(body.opens_at) if body.opens_at else None,
        closes_at=_aware(body.closes_at) if body.closes_at else None,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
    )
    return _with_quota(Activity.objects.filter(pk=activity_id)).get()


@router.get("/activities/{activity_id}/stats", response=StatsOut)
def activity_stats(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """Staff: quota, booked, redeemed, remaining, no-shows, scans and double uses."""
    staff_scope_path(actor(request))
    activity = selectors.activity_get(user=actor(request), activity_id=activity_id)
    return asdict(selectors.activity_stats(activity))


@router.get("/activities/{activity_id}/bookings", response=list[BookingOut])
@paginate(Paged)
def activity_bookings(
    request: HttpRequest, activity_id: int, status: str | None = None
) -> QuerySet[Booking]:
    activity = selectors.activity_managed_by(user=actor(request), activity_id=activity_id)
    qs = selectors.bookings_visible(actor(request)).filter(activity=activity)
    return qs.filter(status=status) if status else qs.order_by("id")


@router.post("/activities/{activity_id}/bookings", response={201: BookingOut})
def create_booking(
    request: HttpRequest, activity_id: int, body: BookingIn | None = None
) -> Status[Booking]:
    """A member books for itself, or staff for a member of their subtree (`member`: ID number).
    FCFS books, a lottery registers. `Idempotency-Key` makes a retry return the first answer."""
    user = actor(request)
    body = body or BookingIn()
    member: Member | None
    if user.role == Role.MEMBER:
        if user.member_id is None:
            raise Forbidden("not_member", _("当前登录的不是会员账号"))
        member = selectors.member_for_booking(user)
        activity = selectors.activity_for_booking(user=user, activity_id=activity_id, member=member)
    else:
        if user.role not in selectors.MANAGER_ROLES:
            # Refused before anything is looked up: a gate or a station operator must not learn
            # from the answer whether an ID number is a member of its subtree.
            raise Forbidden("forbidden", _("只有工会工作人员可以管理活动"))
        activity = selectors.activity_get(user=user, activity_id=activity_id)
        if not body.member:
            raise DomainError(
                "member_required",
                _("工作人员为会员预约：请提供会员的 id_number"),
                field="member",
            )
        member = member_find(parse_id_number(body.member, "member"))
        if member is None or not in_subtree(member.unit.path, staff_scope_path(user)):
            raise NotFound(pgettext("未找到", "会员"))
    booking = booking_create(
        activity=activity,
        member=member,
        actor=user,
        idempotency_key=request.headers.get("Idempotency-Key"),
        day=body.day,
    )
    return Status(201, booking)


@router.post("/activities/{activity_id}/draw", response=DrawOut)
def draw(request: HttpRequest, activity_id: int, body: DrawIn) -> dict[str, Any]:
    activity = selectors.activity_managed_by(user=actor(request), activity_id=activity_id)
    return lottery_draw(activity=activity, seed=body.seed, actor=actor(request))


@router.get("/activities/{activity_id}/draw", response=DrawOut)
def published_draw(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """The published draw: seed, algorithm, every entry in draw order, winners, waiting list."""
    activity = selectors.activity_get(user=actor(request), activity_id=activity_id)
    if not activity.draw_result:
        raise NotFound(pgettext("未找到", "摇号结果"))
    return dict(activity.draw_result)


@router.get("/activities/{activity_id}/public-key", response=PublicKeyOut)
def activity_public_key(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """The key a gate verifies vouchers with, offline."""
    from huzhu.benefits.vouchers import public_key_pem

    activity = selectors.activity_get(user=actor(request), activity_id=activity_id)
    return {
        "activity": activity.pk,
        "algorithm": "Ed25519",
        "public_key": activity.public_key,
        "pem": public_key_pem(public_key(activity)),
    }


@router.get("/activities/{activity_id}/revocations", response=RevocationsOut)
def activity_revocations(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """For offline gates: vouchers to refuse though their signature verifies."""
    staff_scope_path(actor(request))
    activity = selectors.activity_get(user=actor(request), activity_id=activity_id)
    return {
        "activity": activity.pk,
        "generated_at": timezone.now(),
        **selectors.revocations(activity),
    }


# -- bookings and vouchers ------------------------------------------------------------------------


@router.get("/bookings", response=list[BookingOut])
@paginate(Paged)
def list_bookings(request: HttpRequest, status: str | None = None) -> QuerySet[Booking]:
    """A member's own bookings; staff: the bookings of their subtree's members."""
    qs = selectors.bookings_visible(actor(request)).order_by("-id")
    return qs.filter(status=status) if status else qs


@router.get("/bookings/{booking_id}", response=BookingOut)
def get_booking(request: HttpRequest, booking_id: int) -> Booking:
    return selectors.booking_visible(user=actor(request), booking_id=booking_id)


@router.delete("/bookings/{booking_id}", response=BookingOut)
def cancel_booking(request: HttpRequest, booking_id: int) -> Booking:
    """Cancel before use; the quota returns (and a lottery's waiting list moves up)."""
    user = actor(request)
    booking = selectors.booking_visible(user=user, booking_id=booking_id)
    return booking_cancel(booking=booking, actor=user)


@router.get("/bookings/{booking_id}/voucher", response=VoucherOut)
def voucher(request: HttpRequest, booking_id: int) -> dict[str, Any]:
    """The voucher: `code` is the QR content, signed; `short_code` the 10 characters a person
    can read out at the gate instead (shown as `7K3M-9QX2-HD`); `png` and `svg` the QR images."""
    booking = selectors.booking_visible(user=actor(request), booking_id=booking_id)
    base = f"/api/v1/bookings/{booking.pk}/voucher"
    return {
        "booking": booking.pk,
        "code": voucher_code(booking),
        "short_code": voucher_short_code(booking),
        "png": f"{base}.png",
        "svg": f"{base}.svg",
        "status": booking.status,
        "valid_from": booking.activity.valid_from,
        "valid_to": booking.activity.valid_to,
        "day": booking.day,
    }


@router.get("/bookings/{booking_id}/voucher.{kind}", response={200: None})
def voucher_image(request: HttpRequest, booking_id: int, kind: str) -> HttpResponse:
    from huzhu.benefits.vouchers import qr_image

    if kind not in ("png", "svg"):
        raise NotFound(pgettext("未找到", "凭证图片"))
    booking = selectors.booking_visible(user=actor(request), booking_id=booking_id)
    image = qr_image(voucher_code(booking), kind)
    response = HttpResponse(image, content_type="image/png" if kind == "png" else "image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    return response


# -- redemption -----------------------------------------------------------------------------------


@router.post("/redemptions", response={200: dict[str, Any]})
def redeem(request: HttpRequest, body: ScanIn) -> dict[str, Any]:
    """Gate staff scan a voucher: 200 redeemed; 409 `already_redeemed` (with when and which
    gate), `voucher_cancelled` or `not_valid_today`; 400 `invalid_code`. Every scan is logged;
    the same `nonce` again, from the same login with the same code, gets the first answer."""
    outcome = redemption_scan(
        code=body.code, gate=body.gate, actor=actor(request), nonce=body.nonce
    )
    if not outcome.ok:
        details = {k: v for k, v in outcome.body.items() if k not in ("result", "message")}
        raise DomainError(outcome.result, outcome.body["message"], status=outcome.status, **details)
    return outcome.body


@router.post("/redemptions/batch", response=ScanBatchOut)
def redeem_batch(request: HttpRequest, body: ScanBatchIn) -> dict[str, Any]:
    """An offline gate uploads its scans; double uses are reported with the first use.
    `redeemed` counts the bookings the batch's scans redeemed, each once."""
    if len(body.scans) > 10_000:
        raise DomainError("too_many_scans", _("一次最多上传 10000 条扫码记录"))
    outcomes = redemption_upload(
        gate=body.gate,
        actor=actor(request),
        scans=[
            OfflineScan(code=s.code, scanned_at=_aware(s.scanned_at), nonce=s.nonce)
            for s in body.scans
        ],
    )
    results = [
        {"index": i, "nonce": s.nonce, "status": o.status, **o.body}
        for i, (s, o) in enumerate(zip(body.scans, outcomes, strict=True))
    ]
    return {
        "gate": body.gate,
        "received": len(outcomes),
        # Redemptions, not answers: a scan sent twice in a batch (or the whole batch resent)
        # answers `redeemed` again, for the one booking it redeemed.
        "redeemed": len({o.body.get("booking") for o in outcomes if o.ok}),
        "double_uses": [r for r in results if r["result"] == "already_redeemed"],
        "results": results,
    }
