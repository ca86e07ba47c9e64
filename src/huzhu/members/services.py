"""Writes for organisations, members and cards. Each takes the acting user (None = system)."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.accounts.policy import ID_REVEAL_ROLES, ROSTER_ROLES, in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_denial, audit_record
from huzhu.core import bounds, idnumber, names
from huzhu.core.errors import Conflict, DomainError, Forbidden, NotFound
from huzhu.core.pii import mask_id_number, mask_phone, vault
from huzhu.members import rules
from huzhu.members.models import Card, CardStatus, Member, Organisation


def _check_actor_may_manage(actor: User | None, org: Organisation) -> None:
    if actor is None:
        return
    if actor.role not in ROSTER_ROLES or not in_subtree(org.path, staff_scope_path(actor)):
        raise Forbidden("forbidden", _("超出您的组织范围或角色权限"))


def org_root() -> Organisation | None:
    return Organisation.objects.filter(parent__isnull=True).order_by("id").first()


def org_insert(*, code: str, name: str, kind: str, parent: Organisation | None) -> Organisation:
    """Store a node and its materialised path (no checks: callers validate first)."""
    org = Organisation.objects.create(code=code, name=name, kind=kind, parent=parent)
    org.path = (parent.path if parent else "/") + f"{org.pk}/"
    org.depth = parent.depth + 1 if parent else 0
    org.save(update_fields=["path", "depth"])
    return org


def org_create(
    *, code: str, name: str, kind: str, parent: Organisation | None, actor: User | None = None
) -> Organisation:
    """Create an organisation under `parent` (None for the root city)."""
    name = names.parse_name(name)
    if problem := rules.code_problem(code):
        raise DomainError("invalid_code", problem, field="code")
    if problem := rules.parent_kind_problem(kind, parent.kind if parent else None):
        raise DomainError("invalid_parent", problem, field="parent_code")
    if parent is None and Organisation.objects.filter(parent__isnull=True).exists():
        raise DomainError("invalid_parent", _("已经有根组织了"))
    if parent is not None:
        _check_actor_may_manage(actor, parent)
    elif actor is not None:
        raise Forbidden()
    if Organisation.objects.filter(code=code).exists():
        raise Conflict(
            "duplicate_code", _("组织编码 %(code)s 已存在") % {"code": code}, field="code"
        )
    with transaction.atomic():
        org = org_insert(code=code, name=name, kind=kind, parent=parent)
        audit_record(actor=actor, action=Action.ORG_CREATE, obj=org, org_path=org.path)
    return org


def org_update(
    *,
    org: Organisation,
    name: str | None = None,
    parent: Organisation | None = None,
    actor: User | None = None,
) -> Organisation:
    """Rename or move an organisation; moving rewrites the paths of its whole subtree at once."""
    if name is not None:
        name = names.parse_name(name)
    _check_actor_may_manage(actor, org)
    with transaction.atomic():
        if name is not None:
            org.name = name
            org.save(update_fields=["name"])
        if parent is not None and parent.pk != org.parent_id:
            if parent.path.startswith(org.path):
                raise DomainError("invalid_parent", _("不能把组织移到它自己的下级"))
            if problem := rules.parent_kind_problem(org.kind, parent.kind):
                raise DomainError("invalid_parent", problem)
            _check_actor_may_manage(actor, parent)
            old_path, new_path = org.path, parent.path + f"{org.pk}/"
            depth_shift = parent.depth + 1 - org.depth
            Organisation.objects.filter(path__startswith=old_path).update(
                path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
                depth=F("depth") + depth_shift,
            )
            Organisation.objects.filter(pk=org.pk).update(parent=parent)
            org.refresh_from_db()
        audit_record(actor=actor, action=Action.ORG_UPDATE, obj=org, org_path=org.path)
    return org


def member_create_or_update(
    *,
    id_number: str,
    name: str,
    unit: Organisation,
    phone: str = "",
    joined_on: date | None = None,
    actor: User | None = None,
) -> tuple[Member, bool]:
    """Create the member with this ID number, or update it (it may move units). Returns
    (member, created)."""
    value = idnumber.parse_id_number(id_number)
    name = names.parse_name(name)
    if unit.kind != "unit":
        raise DomainError(
            "invalid_unit", _("%(code)s 不是基层工会") % {"code": unit.code}, field="unit_code"
        )
    phone = rules.normalize_phone(phone) if phone else ""
    if phone and (problem := rules.phone_problem(phone)):
        raise DomainError("invalid_phone", problem, field="phone")
    if joined_on is not None:
        bounds.parse_date(joined_on, "joined_on")
    _check_actor_may_manage(actor, unit)
    v = vault()
    id_hash = v.lookup_hash(value)
    if actor is not None:
        held = Member.objects.select_related("unit").filter(id_hash=id_hash).first()
        if held is not None and not in_subtree(held.unit.path, staff_scope_path(actor)):
            _refuse_member_elsewhere(actor)
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(id_hash=id_hash).first()
        created = member is None
        if member is None:
            member = Member(
                id_hash=id_hash,
                id_cipher=v.encrypt(value),
                id_masked=mask_id_number(value),
                birth_date=idnumber.birth_date(value),
            )
        elif actor is not None and not in_subtree(member.unit.path, staff_scope_path(actor)):
            # moved out of the actor's subtree a moment ago
            raise NotFound(pgettext("未找到", "会员"))
        member.name = name
        member.unit = unit
        if phone:
            member.phone_cipher = v.encrypt(phone)
            member.phone_masked = mask_phone(phone)
            member.phone_hash = v.lookup_hash(phone)
        if joined_on:
            member.joined_on = joined_on
        member.save()
        audit_record(
            actor=actor,
            action=Action.MEMBER_CREATE if created else Action.MEMBER_UPDATE,
            obj=member,
            org_path=unit.path,
        )
    return member, created


def _refuse_member_elsewhere(actor: User) -> None:
    """A person who is a member outside the actor's subtree cannot be registered here, and the
    answer must not say that they are a member elsewhere (`POST /members` would otherwise tell
    anyone with a roster who is a union member): it is the 404 of anything outside the subtree.
    The attempt is in the audit log, for the admins above to see."""
    audit_denial(actor=actor, code="member_elsewhere", status=404, attempt="member.create")
    raise NotFound(pgettext("未找到", "会员"))


def member_find(id_number: str) -> Member | None:
    """The member with this ID number, in any spelling that normalises to it (core.idnumber)."""
    value = idnumber.normalize(id_number)
    return Member.objects.filter(id_hash=vault().lookup_hash(value)).first()


def member_reveal_id_number(*, member: Member, actor: User, reason: str) -> str:
    """The full ID number, for a role that needs it, with the reveal logged (who, when, why)."""
    if actor.role not in ID_REVEAL_ROLES:
        raise Forbidden("reveal_not_allowed", _("您的角色不能查看完整身份证号"))
    if not in_subtree(member.unit.path, staff_scope_path(actor)):
        raise NotFound(pgettext("未找到", "会员"))
    if not reason.strip():
        raise DomainError("reason_required", _("请填写查看完整身份证号的原因"), field="reason")
    audit_record(
        actor=actor,
        action=Action.MEMBER_REVEAL_ID,
        obj=member,
        org_path=member.unit.path,
        reason=reason.strip(),
    )
    return vault().decrypt(member.id_cipher)


def member_reveal_phone(*, member: Member, actor: User, reason: str) -> str:
    """The full phone number, on the same terms as an ID number: a role that needs it, a
    member of the actor's subtree, a reason, and the reveal logged."""
    if actor.role not in ID_REVEAL_ROLES:
        raise Forbidden("reveal_not_allowed", _("您的角色不能查看完整手机号"))
    if not in_subtree(member.unit.path, staff_scope_path(actor)):
        raise NotFound(pgettext("未找到", "会员"))
    if not reason.strip():
        raise DomainError("reason_required", _("请填写查看完整手机号的原因"), field="reason")
    if not member.phone_cipher:
        return ""
    audit_record(
        actor=actor,
        action=Action.MEMBER_REVEAL_PHONE,
        obj=member,
        org_path=member.unit.path,
        reason=reason.strip(),
    )
    return vault().decrypt(member.phone_cipher)


# -- cards ----------------------------------------------------------------------------------------


def _card_no_problem(card_no: str) -> str:
    return _("card_no 应为 4–32 位字母或数字：%(card)s") % {"card": card_no}


def _card_exists(card_no: str) -> str:
    return _("卡号 %(card)s 已存在") % {"card": card_no}


def _card_state(card: Card) -> str:
    return _("卡 %(card)s 的状态是“%(status)s”") % {
        "card": card.card_no,
        "status": CardStatus(card.status).label,
    }


def card_issue(*, member: Member, card_no: str, actor: User | None = None) -> Card:
    """Issue a card; the member must not already hold an active one (replace it instead)."""
    if not rules.CARD_RE.match(card_no):
        raise DomainError("invalid_card_no", _card_no_problem(card_no))
    _check_actor_may_manage(actor, member.unit)
    with transaction.atomic():
        if Card.objects.filter(card_no=card_no).exists():
            raise Conflict("duplicate_card_no", _card_exists(card_no), field="card_no")
        if Card.objects.filter(member=member, status=CardStatus.ACTIVE).exists():
            raise Conflict("card_active", _("该会员已有一张正常使用的卡；请办理补换卡"))
        card = Card.objects.create(member=member, card_no=card_no, issued_at=timezone.now())
        audit_record(actor=actor, action=Action.CARD_ISSUE, obj=card, org_path=member.unit.path)
    return card


def card_report_lost(*, card: Card, actor: User | None = None) -> Card:
    """挂失: the card stops working at once; the member keeps every benefit."""
    _check_actor_may_manage(actor, card.member.unit)
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if card.status != CardStatus.ACTIVE:
            raise Conflict("card_not_active", _card_state(card))
        card.status = CardStatus.LOST
        card.ended_at = timezone.now()
        card.save(update_fields=["status", "ended_at"])
        audit_record(
            actor=actor, action=Action.CARD_REPORT_LOST, obj=card, org_path=card.member.unit.path
        )
    return card


def card_replace(*, card: Card, new_card_no: str, actor: User | None = None) -> Card:
    """补换卡: a new card replaces an active or lost one; the old one is kept as history."""
    if not rules.CARD_RE.match(new_card_no):
        raise DomainError("invalid_card_no", _card_no_problem(new_card_no))
    _check_actor_may_manage(actor, card.member.unit)
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if card.status not in (CardStatus.ACTIVE, CardStatus.LOST):
            raise Conflict("card_not_replaceable", _card_state(card))
        if Card.objects.filter(card_no=new_card_no).exists():
            raise Conflict("duplicate_card_no", _card_exists(new_card_no), field="card_no")
        card.status = CardStatus.REPLACED
        card.ended_at = card.ended_at or timezone.now()
        card.save(update_fields=["status", "ended_at"])
        new = Card.objects.create(
            member=card.member, card_no=new_card_no, issued_at=timezone.now(), replaces=card
        )
        audit_record(
            actor=actor,
            action=Action.CARD_REPLACE,
            obj=new,
            org_path=card.member.unit.path,
            replaced=card.card_no,
        )
    return new


def active_card(member: Member) -> Card | None:
    return member.cards.filter(status=CardStatus.ACTIVE).first()
