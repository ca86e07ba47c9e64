"""A booking's voucher: its signed code (the QR content, vouchers.encode) and its short code,
given the first time the voucher is shown."""

from __future__ import annotations

import base64

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from huzhu.benefits import vouchers
from huzhu.benefits.models import HOLDING, Activity, Booking, BookingStatus
from huzhu.benefits.selectors import member_hash
from huzhu.core.errors import Conflict
from huzhu.core.pii import vault


def _private_key(activity: Activity) -> bytes:
    return base64.b64decode(vault().decrypt(activity.private_key_cipher))


def public_key(activity: Activity) -> bytes:
    return base64.b64decode(activity.public_key)


def voucher_code(booking: Booking) -> str:
    """The signed QR content of a booking that holds quota; cancelled or undrawn ones have none."""
    if booking.status not in HOLDING:
        if booking.status == BookingStatus.CANCELLED:
            raise Conflict("voucher_cancelled", _("预约已取消，凭证作废"))
        raise Conflict("no_voucher", _("尚未获得名额"))
    return signed_code(booking)


def voucher_short_code(booking: Booking) -> str:
    """The voucher's short code (凭证短码, 10 characters a person can read out), given the first
    time the voucher is shown and the same ever after. Only a booking that holds quota has one."""
    voucher_code(booking)  # the same refusals as the QR
    if booking.short_code:
        return booking.short_code
    for _attempt in range(5):
        code = vouchers.short_code_new()
        try:
            with transaction.atomic():
                Booking.objects.filter(pk=booking.pk, short_code__isnull=True).update(
                    short_code=code
                )
        except IntegrityError:
            continue  # another voucher holds it (one chance in 10^9): draw again
        booking.refresh_from_db(fields=["short_code"])
        if booking.short_code:
            return booking.short_code
    raise RuntimeError("no free short code after 5 draws")


def signed_code(booking: Booking) -> str:
    """The booking's signed code, whatever its status (the gate tells a used one apart)."""
    activity = booking.activity
    data = vouchers.VoucherData(
        activity=activity.pk,
        booking=booking.pk,
        member=member_hash(booking.member),
        valid_from=activity.valid_from,
        valid_to=activity.valid_to,
        day=booking.day,
    )
    return vouchers.encode(data, _private_key(activity))
