"""Organisations, members and cards. Staff see their subtree only; ID numbers are masked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from huzhu.accounts.models import User
from huzhu.accounts.selectors import roster_scope_path
from huzhu.api.pagination import Keyset, Paged
from huzhu.core.bounds import Day
from huzhu.core.errors import DomainError, Forbidden, NotFound
from huzhu.members import services
from huzhu.members.models import Card, Member, Organisation
from huzhu.members.roster import members_import, orgs_import
from huzhu.members.selectors import members_visible_to, orgs_visible_to

router = Router(tags=["members"])


def actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


class OrgOut(Schema):
    code: str
    name: str
    kind: str
    parent_code: str | None
    depth: int

    @staticmethod
    def resolve_parent_code(obj: Organisation) -> str | None:
        return obj.parent.code if obj.parent else None


class OrgIn(Schema):
    code: str
    name: str  # core.names: members.services refuses a bad one (400 naming the field)
    kind: str
    parent_code: str


class OrgPatch(Schema):
    name: str | None = None
    parent_code: str | None = None


class CardOut(Schema):
    card_no: str
    status: str
    issued_at: datetime
    ended_at: datetime | None
    replaces: str | None

    @staticmethod
    def resolve_replaces(obj: Card) -> str | None:
        return obj.replaces.card_no if obj.replaces_id and obj.replaces else None


class MemberOut(Schema):
    id: int
    id_number: str
    name: str
    phone: str
    unit_code: str
    unit_name: str
    joined_on: date | None
    card_no: str | None
    is_active: bool

    @staticmethod
    def resolve_id_number(obj: Member) -> str:
        return obj.id_masked

    @staticmethod
    def resolve_phone(obj: Member) -> str:
        return obj.phone_masked

    @staticmethod
    def resolve_unit_code(obj: Member) -> str:
        return obj.unit.code

    @staticmethod
    def resolve_unit_name(obj: Member) -> str:
        return obj.unit.name

    @staticmethod
    def resolve_card_no(obj: Member) -> str | None:
        card = services.active_card(obj)
        return card.card_no if card else None


class MemberIn(Schema):
    # Any spelling NFKC reads as one number, and names as core.names allows them: checked by
    # members.services (400 `invalid_id_number` / `invalid_name` naming the field).
    id_number: str
    name: str
    unit_code: str
    phone: str = ""
    joined_on: Day | None = None
    card_no: str | None = None


class RevealIn(Schema):
    reason: str
    field: str = "id_number"


class RevealOut(Schema):
    field: str
    value: str


class CardIn(Schema):
    card_no: str


class ReplaceIn(Schema):
    new_card_no: str


class RowErrorOut(Schema):
    file: str
    row: int
    column: str
    reason: str


class CreatedOrgOut(Schema):
    code: str
    name: str
    kind: str
    parent_code: str | None


class ImportOut(Schema):
    file: str
    rows: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    orgs_created: int
    created_orgs: list[CreatedOrgOut]  # every organisation the import created
    errors: list[RowErrorOut]


def _org(request: HttpRequest, code: str) -> Organisation:
    org = orgs_visible_to(actor(request)).select_related("parent").filter(code=code).first()
    if org is None:
        raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": code})
    return org


def _member(request: HttpRequest, member_id: int) -> Member:
    member = members_visible_to(actor(request)).select_related("unit").filter(pk=member_id).first()
    if member is None:
        raise NotFound(pgettext("未找到", "会员"))
    return member


def _card(request: HttpRequest, card_no: str) -> Card:
    path = roster_scope_path(actor(request))
    card = (
        Card.objects.select_related("member__unit")
        .filter(card_no=card_no, member__unit__path__startswith=path)
        .first()
    )
    if card is None:
        raise NotFound(pgettext("未找到", "卡 %(card)s") % {"card": card_no})
    return card


@router.get("/orgs", response=list[OrgOut])
@paginate(Paged)
def list_orgs(
    request: HttpRequest, kind: str | None = None, parent: str | None = None, q: str | None = None
) -> QuerySet[Organisation]:
    qs = orgs_visible_to(actor(request)).select_related("parent")
    if kind:
        qs = qs.filter(kind=kind)
    if parent:
        qs = qs.filter(parent__code=parent)
    if q:
        qs = qs.filter(name__contains=q)
    return qs.order_by("path")


@router.get("/orgs/{code}", response=OrgOut)
def get_org(request: HttpRequest, code: str) -> Organisation:
    return _org(request, code)


@router.post("/orgs", response={201: OrgOut})
def create_org(request: HttpRequest, body: OrgIn) -> Status[Organisation]:
    parent = _org(request, body.parent_code)
    org = services.org_create(
        code=body.code, name=body.name, kind=body.kind, parent=parent, actor=actor(request)
    )
    return Status(201, org)


@router.patch("/orgs/{code}", response=OrgOut)
def update_org(request: HttpRequest, code: str, body: OrgPatch) -> Organisation:
    org = _org(request, code)
    parent = _org(request, body.parent_code) if body.parent_code else None
    return services.org_update(org=org, name=body.name, parent=parent, actor=actor(request))


@router.get("/members", response=list[MemberOut])
@paginate(Keyset)
def list_members(
    request: HttpRequest,
    q: str | None = None,
    unit: str | None = None,
    id_number: str | None = None,
) -> QuerySet[Member]:
    qs = members_visible_to(actor(request)).select_related("unit").prefetch_related("cards")
    if id_number:
        found = services.member_find(id_number)
        qs = qs.filter(pk=found.pk if found else -1)
    if unit:
        qs = qs.filter(unit__code=unit)
    if q:
        qs = qs.filter(name__contains=q)
    return qs.order_by("id")


@router.get("/members/{member_id}", response=MemberOut)
def get_member(request: HttpRequest, member_id: int) -> Member:
    return _member(request, member_id)


@router.post("/members", response={200: MemberOut, 201: MemberOut})
def upsert_member(request: HttpRequest, body: MemberIn) -> Status[Member]:
    roster_scope_path(actor(request))  # no roster, no roster writes: 403 before any lookup
    unit = _org(request, body.unit_code)
    member, created = services.member_create_or_update(
        id_number=body.id_number,
        name=body.name,
        unit=unit,
        phone=body.phone,
        joined_on=body.joined_on,
        actor=actor(request),
    )
    if body.card_no and services.active_card(member) is None:
        services.card_issue(member=member, card_no=body.card_no, actor=actor(request))
    return Status((201 if created else 200), member)


@router.post("/members/{member_id}/reveal", response=RevealOut)
def reveal(request: HttpRequest, member_id: int, body: RevealIn) -> dict[str, str]:
    """The full ID number (or phone) of a member, for roles that need it; every call is logged."""
    member = _member(request, member_id)
    if body.field == "id_number":
        value = services.member_reveal_id_number(
            member=member, actor=actor(request), reason=body.reason
        )
    elif body.field == "phone":
        value = services.member_reveal_phone(
            member=member, actor=actor(request), reason=body.reason
        )
    else:
        raise DomainError("invalid_field", _("field 只能是 id_number 或 phone"), field="field")
    return {"field": body.field, "value": value}


@router.get("/members/{member_id}/cards", response=list[CardOut])
def member_cards(request: HttpRequest, member_id: int) -> Any:
    return _member(request, member_id).cards.select_related("replaces").order_by("issued_at", "id")


@router.post("/members/{member_id}/cards", response={201: CardOut})
def issue_card(request: HttpRequest, member_id: int, body: CardIn) -> Status[Card]:
    member = _member(request, member_id)
    return Status(
        201, services.card_issue(member=member, card_no=body.card_no, actor=actor(request))
    )


@router.post("/cards/{card_no}/report-lost", response=CardOut)
def report_lost(request: HttpRequest, card_no: str) -> Card:
    return services.card_report_lost(card=_card(request, card_no), actor=actor(request))


@router.post("/cards/{card_no}/replace", response={201: CardOut})
def replace_card(request: HttpRequest, card_no: str, body: ReplaceIn) -> Status[Card]:
    new = services.card_replace(
        card=_card(request, card_no), new_card_no=body.new_card_no, actor=actor(request)
    )
    return Status(201, new)


@router.post("/imports/members", response=ImportOut)
def import_members(
    request: HttpRequest, file: File[UploadedFile], keep_valid: Form[bool] = False
) -> dict[str, object]:
    """Upload a roster (.csv or .xlsx). Bad rows: 400 with every row's problem, nothing written,
    unless keep_valid."""
    data = _upload_bytes(file)
    report = members_import(
        data, file=file.name or "upload.csv", actor=actor(request), keep_valid=keep_valid
    )
    return report.as_dict()


@router.post("/imports/orgs", response=ImportOut)
def import_orgs(
    request: HttpRequest, file: File[UploadedFile], keep_valid: Form[bool] = False
) -> dict[str, object]:
    data = _upload_bytes(file)
    report = orgs_import(
        data, file=file.name or "upload.csv", actor=actor(request), keep_valid=keep_valid
    )
    return report.as_dict()


def _upload_bytes(file: UploadedFile) -> bytes:
    from django.conf import settings

    if file.size and file.size > settings.HUZHU_MAX_UPLOAD_BYTES:
        raise DomainError(
            "file_too_large",
            _("文件超过 %(max)s 字节") % {"max": settings.HUZHU_MAX_UPLOAD_BYTES},
            status=413,
        )
    return file.read()


class MyMemberOut(Schema):
    name: str
    id_number: str
    unit_name: str
    card_no: str | None


@router.get("/me/member", response=MyMemberOut)
def my_member(request: HttpRequest) -> dict[str, object]:
    """A member's own record (masked, as on its card)."""
    user = actor(request)
    if user.member is None:
        raise Forbidden("not_member", _("当前登录的不是会员账号"))
    member = user.member
    card = services.active_card(member)
    return {
        "name": member.name,
        "id_number": member.id_masked,
        "unit_name": member.unit.name,
        "card_no": card.card_no if card else None,
    }


class EraseIn(Schema):
    reason: str


@router.post("/members/{member_id}/erase", response=MemberOut)
def erase_member(request: HttpRequest, member_id: int, body: EraseIn) -> Member:
    """PIPL erasure: anonymise the person, keep the money records (city federation only)."""
    from huzhu.privacy import member_erase

    return member_erase(
        member=_member(request, member_id), actor=actor(request), reason=body.reason
    )


@router.get("/me/data", response=dict)
def my_data(request: HttpRequest) -> dict[str, object]:
    """Everything held about the signed-in member (a download of its own personal data)."""
    from huzhu.privacy import member_data_export

    user = actor(request)
    if user.member is None:
        raise Forbidden("not_member", _("当前登录的不是会员账号"))
    return member_data_export(member=user.member, actor=user)
