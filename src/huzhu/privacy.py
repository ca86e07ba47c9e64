"""Members' rights over their personal data (PIPL): a download of everything held about them,
and erasure that anonymises the person but keeps every money record balanced.

It reads every domain's records of a member (claims, settlements, bookings…), so it sits above
them all, beside the API that serves it, not in `members` (which the domains build on)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.benefits.models import Booking
from huzhu.core.aggregates import MoneySum
from huzhu.core.errors import Forbidden, NotFound
from huzhu.core.pii import vault
from huzhu.members.models import Card, CardStatus, Member
from huzhu.protection.models import Claim, Enrollment
from huzhu.settlement.models import Settlement

ERASED_NAME = "已注销会员"


def member_data_export(*, member: Member, actor: User) -> dict[str, Any]:
    """Everything held about a member, in plain values, for the member itself."""
    if actor.member_id != member.pk:
        raise Forbidden("not_yours", _("会员只能下载本人的数据"))
    v = vault()
    data: dict[str, Any] = {
        "member": {
            "id_number": v.decrypt(member.id_cipher),
            "name": member.name,
            "phone": v.decrypt(member.phone_cipher) if member.phone_cipher else "",
            "birth_date": member.birth_date,
            "unit": member.unit.name,
            "joined_on": member.joined_on,
        },
        "cards": list(member.cards.values("card_no", "status", "issued_at", "ended_at")),
    }
    if apps.is_installed("huzhu.protection"):
        data["enrollments"] = list(
            Enrollment.objects.filter(member=member).values(
                "version__plan__code", "version__period_start", "paid_on", "amount", "payer"
            )
        )
        claims = (
            Claim.objects.filter(member=member)
            .annotate(net=MoneySum("entries__amount"))
            .values(
                "id",
                "plan_code",
                "state",
                "reason",
                "base_amount",
                "net",
                "settlement__settlement_id",
                "settlement__hospital",
                "settlement__admitted_on",
            )
        )
        data["claims"] = [
            {k: v for k, v in c.items() if k != "net"} | {"paid": str(c["net"] or Decimal("0.00"))}
            for c in claims
        ]
    if apps.is_installed("huzhu.benefits"):
        data["bookings"] = list(
            Booking.objects.filter(member=member).values(
                "id", "activity__title", "status", "created_at"
            )
        )
    audit_record(
        actor=actor, action=Action.MEMBER_DATA_EXPORT, obj=member, org_path=member.unit.path
    )
    return data


def member_erase(*, member: Member, actor: User, reason: str) -> Member:
    """Anonymise a member: name, ID number, phone and birth date go; claims, ledger entries and
    bookings stay (they are the federation's accounts) but no longer point to a person."""
    if actor.role != Role.CITY_ADMIN:
        raise Forbidden("forbidden", _("只有市总工会可以删除会员数据"))
    if not in_subtree(member.unit.path, staff_scope_path(actor)):
        raise NotFound(pgettext("未找到", "会员"))
    v = vault()
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        member.name = ERASED_NAME
        member.id_hash = f"erased:{secrets.token_hex(24)}"
        member.id_cipher = v.encrypt("")
        member.id_masked = "*" * 18
        member.phone_cipher = ""
        member.phone_masked = ""
        member.phone_hash = ""
        member.birth_date = None
        member.joined_on = None
        member.is_active = False
        member.save()
        Card.objects.filter(member=member, status=CardStatus.ACTIVE).update(
            status=CardStatus.CANCELLED, ended_at=timezone.now()
        )
        if apps.is_installed("huzhu.settlement"):
            Settlement.objects.filter(member=member).update(
                name="", id_hash="", id_cipher=v.encrypt("")
            )
        User.objects.filter(member=member).update(is_active=False)
        audit_record(
            actor=actor,
            action=Action.MEMBER_ERASE,
            obj=member,
            org_path=member.unit.path,
            reason=reason,
        )
    return member
