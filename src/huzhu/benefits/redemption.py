"""Redemption at the gate: a voucher scanned (or typed as its short code) is redeemed once;
an offline gate's scans are uploaded later and redeemed in the order they were made. Every scan
is logged, and every scan of a booking is in the audit log, in the same statement as its log
row on PostgreSQL (one round trip on the gate's hot path)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huzhu.accounts.models import User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_insert_sql, audit_record
from huzhu.benefits import rules, vouchers
from huzhu.benefits.models import HOLDING, Activity, Booking, BookingStatus, Scan, ScanResult
from huzhu.benefits.selectors import GATE_ROLES, booking_by_short_code, member_hash, scan_first
from huzhu.benefits.shards import BUSY
from huzhu.benefits.voucher_codes import public_key, signed_code
from huzhu.core import bounds, locking, prepared
from huzhu.core.errors import DomainError, Forbidden


@dataclass
class ScanOutcome:
    result: str
    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == ScanResult.REDEEMED


_STATUS = {
    ScanResult.REDEEMED: 200,
    ScanResult.ALREADY_REDEEMED: 409,
    ScanResult.INVALID_CODE: 400,
    ScanResult.CANCELLED: 409,
    ScanResult.NOT_VALID_TODAY: 409,
}
_MESSAGES = {
    ScanResult.REDEEMED: gettext_lazy("核销成功"),
    ScanResult.ALREADY_REDEEMED: gettext_lazy("凭证已使用"),
    ScanResult.INVALID_CODE: gettext_lazy("无效的凭证"),
    ScanResult.CANCELLED: gettext_lazy("预约已取消，凭证作废"),
    ScanResult.NOT_VALID_TODAY: gettext_lazy("凭证不在有效期内"),
}


def _outcome(result: str, **body: Any) -> ScanOutcome:
    return ScanOutcome(
        result=result,
        status=_STATUS[ScanResult(result)],
        body={"result": result, "message": str(_MESSAGES[ScanResult(result)]), **body},
    )


def code_digest(code: str) -> str:
    """What a scan keeps of the code it was sent, to tell a retry from another code under the
    same nonce: 128 bits of its SHA-256."""
    return hashlib.sha256(code.encode()).hexdigest()[:32]


def redemption_scan(
    *,
    code: str,
    gate: str,
    actor: User,
    nonce: str = "",
    scanned_at: datetime | None = None,
    offline: bool = False,
) -> ScanOutcome:
    """Redeem a voucher once. Every scan is logged, failed ones too, and every scan of a booking
    is in the audit log; a retried scan (the same login, code and nonce) gets the first answer.
    Offline scans carry the time the gate saw them."""
    if actor.role not in GATE_ROLES:
        raise Forbidden("forbidden", _("只有核销员可以核销"))
    gate = gate.strip()[:64]
    if not gate:
        raise DomainError("gate_required", _("请填写闸口"), field="gate")
    nonce = nonce.strip()[:64]
    code = _full_code(code.strip())
    digest = code_digest(code)
    if nonce and (first := scan_first(user=actor, nonce=nonce, digest=digest)) is not None:
        return _replayed(first)
    scanned_at = scanned_at or timezone.now()
    try:
        with transaction.atomic(), locking.short_locks(BUSY):
            outcome, activity, booking = _redeem(
                code=code, gate=gate, actor=actor, scanned_at=scanned_at
            )
            _scan_log(
                actor=actor,
                gate=gate,
                nonce=nonce,
                digest=digest,
                scanned_at=scanned_at,
                offline=offline,
                activity=activity,
                booking=booking,
                outcome=outcome,
            )
    except IntegrityError:
        # A twin of this scan (same login, nonce and code) committed first; its answer is the
        # answer.
        first = scan_first(user=actor, nonce=nonce, digest=digest) if nonce else None
        if first is None:
            raise
        return _replayed(first)
    return outcome


def _full_code(code: str) -> str:
    """A short code typed at the gate stands for its voucher's full code, and is redeemed
    exactly as that (INTERFACES "Vouchers a person can read out"); any other text is taken as
    a full code. An unknown short code stays as typed, and is refused as an invalid code."""
    short = vouchers.short_code_read(code)
    if short is None:
        return code
    booking = booking_by_short_code(short)
    return signed_code(booking) if booking is not None else short


# The scan's log row and, for a scan of a booking, its audit event, in one statement (one round
# trip on the gate's hot path, as the scan alone took).
_SCAN_STATEMENT = """
WITH scan AS (
    INSERT INTO benefits_scan (at, scanned_at, gate, user_id, nonce, code_digest, offline,
                               activity_id, booking_id, result, response)
    VALUES (%(now)s::timestamptz, %(scanned_at)s::timestamptz, %(gate)s::text,
            %(user)s::bigint, %(nonce)s::text, %(digest)s::text, %(offline)s::boolean,
            %(activity)s::bigint, %(booking)s::bigint, %(result)s::text, %(response)s::jsonb)
    RETURNING id
), audit AS (
    {audit}
    FROM scan
    WHERE %(booking)s::bigint IS NOT NULL
)
SELECT id FROM scan
""".replace(
    "{audit}",
    audit_insert_sql(
        at="%(now)s::timestamptz",
        actor="%(user)s::bigint",
        actor_label="%(username)s::text",
        action=f"'{Action.BOOKING_REDEEM.value}'",
        object_type=f"'{Booking._meta.label_lower}'",
        object_id="%(booking)s::bigint::text",
        org_path="%(org_path)s::text",
        reason="''",
        data="%(audit)s::jsonb",
    ),
)


def _scan_log(
    *,
    actor: User,
    gate: str,
    nonce: str,
    digest: str,
    scanned_at: datetime,
    offline: bool,
    activity: Activity | None,
    booking: Booking | None,
    outcome: ScanOutcome,
) -> None:
    audit: dict[str, Any] = {"result": outcome.result, "gate": gate, "offline": offline}
    org_path = booking.member.unit.path if booking is not None else ""
    if connection.vendor == "postgresql":
        prepared.fetchone(
            _SCAN_STATEMENT,
            {
                "now": timezone.now(),
                "scanned_at": scanned_at,
                "gate": gate,
                "user": actor.pk,
                "nonce": nonce,
                "digest": digest,
                "offline": offline,
                "activity": activity.pk if activity is not None else None,
                "booking": booking.pk if booking is not None else None,
                "result": outcome.result,
                "response": json.dumps(outcome.body, ensure_ascii=False),
                "username": actor.username,
                "org_path": org_path,
                "audit": json.dumps(audit, ensure_ascii=False),
            },
        )
        return
    Scan.objects.create(
        scanned_at=scanned_at,
        gate=gate,
        user=actor,
        nonce=nonce,
        code_digest=digest,
        offline=offline,
        activity=activity,
        booking=booking,
        result=outcome.result,
        response=outcome.body,
    )
    if booking is not None:
        audit_record(
            actor=actor, action=Action.BOOKING_REDEEM, obj=booking, org_path=org_path, **audit
        )


def _replayed(scan: Scan) -> ScanOutcome:
    return ScanOutcome(
        result=scan.result,
        status=_STATUS[ScanResult(scan.result)],
        body={**scan.response, "replayed": True},
    )


def _redeem(
    *, code: str, gate: str, actor: User, scanned_at: datetime
) -> tuple[ScanOutcome, Activity | None, Booking | None]:
    try:
        # the organiser in the same query: the scope check below reads its path
        activity = (
            Activity.objects.select_related("organiser")
            .filter(pk=vouchers.peek_activity(code))
            .first()
        )
        if activity is None:
            raise vouchers.InvalidVoucher("unknown activity")
        data = vouchers.decode(code, public_key(activity))
    except vouchers.InvalidVoucher as exc:
        return _outcome(ScanResult.INVALID_CODE, reason=str(exc)), None, None
    scope = staff_scope_path(actor)
    if not (
        in_subtree(activity.organiser.path, scope) or in_subtree(scope, activity.organiser.path)
    ):
        return (
            _outcome(ScanResult.INVALID_CODE, reason="another organiser's voucher"),
            activity,
            None,
        )
    booking = (
        Booking.objects.select_related("member__unit")
        .filter(pk=data.booking, activity=activity)
        .first()
    )
    if booking is None or member_hash(booking.member) != data.member:
        return _outcome(ScanResult.INVALID_CODE, reason="no such booking"), activity, None
    about = {
        "booking": booking.pk,
        "activity": activity.pk,
        "title": activity.title,
        "member_name": booking.member.name,
        "day": rules.iso(booking.day),
    }
    if booking.status not in HOLDING:
        return _outcome(ScanResult.CANCELLED, **about), activity, booking
    if booking.status == BookingStatus.REDEEMED:
        # A used voucher says when and where it was used on any day: a second scan outside its
        # validity is a double use too, not merely "not valid today".
        return _already_redeemed(booking, about), activity, booking
    today = timezone.localdate(scanned_at)
    if not rules.valid_on(
        today, valid_from=data.valid_from, valid_to=data.valid_to, booked_day=data.day
    ):
        return (
            _outcome(
                ScanResult.NOT_VALID_TODAY,
                valid_from=rules.iso(data.valid_from),
                valid_to=rules.iso(data.valid_to),
                **about,
            ),
            activity,
            booking,
        )
    redeemed = Booking.objects.filter(pk=booking.pk, status=BookingStatus.BOOKED).update(
        status=BookingStatus.REDEEMED, redeemed_at=scanned_at, redeemed_gate=gate
    )
    if redeemed:
        return (
            _outcome(ScanResult.REDEEMED, redeemed_at=scanned_at.isoformat(), gate=gate, **about),
            activity,
            booking,
        )
    booking.refresh_from_db(fields=["status", "redeemed_at", "redeemed_gate"])
    if booking.status == BookingStatus.REDEEMED:
        return _already_redeemed(booking, about), activity, booking
    return _outcome(ScanResult.CANCELLED, **about), activity, booking


def _already_redeemed(booking: Booking, about: dict[str, Any]) -> ScanOutcome:
    return _outcome(
        ScanResult.ALREADY_REDEEMED,
        redeemed_at=rules.iso(booking.redeemed_at),
        gate=booking.redeemed_gate,
        **about,
    )


@dataclass(frozen=True)
class OfflineScan:
    code: str
    scanned_at: datetime
    nonce: str = ""


def redemption_upload(*, gate: str, scans: Sequence[OfflineScan], actor: User) -> list[ScanOutcome]:
    """An offline gate's scans, uploaded later: redeemed in the order they were made, each as if
    scanned then, answered in the order given. A voucher used elsewhere first comes back as
    `already_redeemed`, with when and where it was used, and counts as a double use."""
    for i, scan in enumerate(scans):
        bounds.check_moment(scan.scanned_at, f"scans[{i}].scanned_at")
    results: list[ScanOutcome | None] = [None] * len(scans)
    for i in sorted(range(len(scans)), key=lambda i: scans[i].scanned_at):
        s = scans[i]
        results[i] = redemption_scan(
            code=s.code,
            gate=gate,
            actor=actor,
            nonce=s.nonce,
            scanned_at=s.scanned_at,
            offline=True,
        )
    return [r for r in results if r is not None]
