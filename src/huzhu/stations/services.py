"""Writes for warm stations: create and update (operators only their own), operators, visit QR
codes and visit counts. Each takes the acting user and audits in the same transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import bounds
from huzhu.core.errors import DomainError, Forbidden, NotFound
from huzhu.members import rules as member_rules
from huzhu.members.models import Organisation
from huzhu.stations import geo, rules
from huzhu.stations.hours import BEIJING, parse_hours
from huzhu.stations.models import (
    SERVICE_FIELDS,
    Station,
    StationStatus,
    StationVisit,
    VisitSource,
)
from huzhu.stations.selectors import STATION_ADMIN_ROLES

# What an operator may change on a station it runs; the rest is its federation's to decide.
OPERATOR_FIELDS = frozenset({"name", "address", "note", *SERVICE_FIELDS})
_UNSET = object()


def _qr_key() -> bytes:
    return hashlib.sha256(b"huzhu-station-qr:" + settings.SECRET_KEY.encode()).digest()


def station_may_manage(user: User, station: Station) -> bool:
    """Admins of the station's subtree manage it all; its operators the OPERATOR_FIELDS."""
    try:
        scope = staff_scope_path(user)
    except Forbidden:
        return False
    if not in_subtree(station.org.path, scope):
        return False
    if user.role in STATION_ADMIN_ROLES:
        return True
    return user.role == Role.STATION_OPERATOR and station.operators.filter(pk=user.pk).exists()


def _check_admin(actor: User | None, org: Organisation) -> None:
    if actor is None:
        return
    if actor.role not in STATION_ADMIN_ROLES or not in_subtree(org.path, staff_scope_path(actor)):
        raise Forbidden("forbidden", _("只有本组织的管理员可以这样做"))


def _checked_hours(weekly: str, exceptions: str) -> tuple[str, str]:
    try:
        hours = parse_hours(weekly, exceptions)
    except ValueError as exc:
        raise DomainError("invalid_hours", str(exc), field="hours") from None
    return hours.weekly_text, hours.exceptions_text


def _checked_point(lat: float, lng: float, crs: str) -> tuple[float, float]:
    try:
        crs = geo.Crs(crs)
    except ValueError:
        raise DomainError("invalid_crs", _("crs 只能是 wgs84 或 gcj02"), field="crs") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise DomainError("invalid_coordinates", _("纬度或经度超出范围"), field="lat")
    return geo.to_wgs84(lat, lng, crs)


def _checked_services(services: Iterable[str]) -> int:
    try:
        return rules.services_mask(services)
    except ValueError as exc:
        raise DomainError("invalid_service", str(exc), field="services") from None


def _checked_capacity(capacity: object) -> int | None:
    """How many people a station holds: none given, or a count from 0 to 1,000,000."""
    return None if capacity is None else bounds.parse_quota(capacity, "capacity")


def _checked_status(status: str) -> str:
    if status not in StationStatus.values:
        raise DomainError(
            "invalid_status",
            _("status 只能是 %(values)s 之一") % {"values": ", ".join(StationStatus.values)},
            field="status",
        )
    return status


def station_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    org: Organisation,
    address: str,
    lat: float,
    lng: float,
    crs: str,
    hours: str,
    hours_exceptions: str = "",
    services: Iterable[str] = (),
    host: str = "",
    district: str = "",
    capacity: int | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    status: str = StationStatus.ACTIVE,
    note: str = "",
) -> Station:
    """A new station of `org`; (lat, lng) given in `crs` and stored in WGS-84."""
    _check_admin(actor, org)
    if problem := member_rules.code_problem(code):
        raise DomainError("invalid_code", problem, field="code")
    if not name.strip() or not address.strip():
        raise DomainError("required", _("请填写名称和地址"), field="name")
    if Station.objects.filter(code=code).exists():
        raise DomainError(
            "duplicate_code", _("驿站 %(code)s 已存在") % {"code": code}, status=409, field="code"
        )
    w_lat, w_lng = _checked_point(lat, lng, crs)
    weekly, exceptions = _checked_hours(hours, hours_exceptions)
    with transaction.atomic():
        station = Station.objects.create(
            code=code,
            name=name.strip(),
            org=org,
            address=address.strip(),
            lat=w_lat,
            lng=w_lng,
            hours=weekly,
            hours_exceptions=exceptions,
            services=_checked_services(services),
            host=host,
            district=district,
            capacity=_checked_capacity(capacity),
            contact_name=contact_name,
            contact_phone=contact_phone,
            status=_checked_status(status),
            note=note,
        )
        audit_record(actor=actor, action=Action.STATION_CREATE, obj=station, org_path=org.path)
    return station


def station_update(
    *,
    station: Station,
    actor: User | None,
    crs: str = geo.Crs.WGS84,
    name: str | None = None,
    host: str | None = None,
    org: Organisation | None = None,
    address: str | None = None,
    district: str | None = None,
    lat: float | None = None,
    lng: float | None = None,
    hours: str | None = None,
    hours_exceptions: str | None = None,
    services: Iterable[str] | None = None,
    capacity: int | object | None = _UNSET,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    status: str | None = None,
    note: str | None = None,
) -> Station:
    """Change the given fields (None = leave as is). Operators may change OPERATOR_FIELDS of
    their own stations, and may suspend or reopen but not close one."""
    given: dict[str, object] = {
        k: v
        for k, v in {
            "name": name,
            "host": host,
            "org": org,
            "address": address,
            "district": district,
            "lat": lat,
            "lng": lng,
            "hours": hours,
            "hours_exceptions": hours_exceptions,
            "services": services,
            "contact_name": contact_name,
            "contact_phone": contact_phone,
            "status": status,
            "note": note,
        }.items()
        if v is not None
    }
    if capacity is not _UNSET:
        given["capacity"] = _checked_capacity(capacity)
    _check_may_change(actor, station, given)
    if org is not None:
        _check_admin(actor, org)
    given.update(_checked_changes(station, given, crs=crs))
    changed = {k: v for k, v in given.items() if getattr(station, k) != v}
    with transaction.atomic():
        for key, value in changed.items():
            setattr(station, key, value)
        if changed:
            station.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action=Action.STATION_UPDATE,
            obj=station,
            org_path=station.org.path,
            fields=sorted(changed),
        )
    return station


def _check_may_change(actor: User | None, station: Station, given: dict[str, object]) -> None:
    """Operators may change OPERATOR_FIELDS of their own stations, and suspend or reopen one."""
    if actor is None:
        return
    if not station_may_manage(actor, station):
        raise Forbidden("forbidden", _("您不管理这个驿站"))
    if actor.role not in STATION_ADMIN_ROLES:
        refused = sorted(set(given) - OPERATOR_FIELDS)
        if refused:
            raise Forbidden(
                "forbidden", _("驿站运营人员不能修改 %(fields)s") % {"fields": ", ".join(refused)}
            )
        if given.get("status") == StationStatus.CLOSED:
            raise Forbidden("forbidden", _("驿站运营人员可以暂停驿站，但不能撤销驿站"))


def _checked_changes(station: Station, given: dict[str, Any], *, crs: str) -> dict[str, Any]:
    """The given values that need checking or converting, checked and converted."""
    out: dict[str, Any] = {}
    lat, lng = given.get("lat"), given.get("lng")
    if (lat is None) != (lng is None):
        raise DomainError("invalid_coordinates", _("lat 和 lng 要一起填写"), field="lat")
    if lat is not None and lng is not None:
        out["lat"], out["lng"] = _checked_point(lat, lng, crs)
    hours, exceptions = given.get("hours"), given.get("hours_exceptions")
    if hours is not None or exceptions is not None:
        out["hours"], out["hours_exceptions"] = _checked_hours(
            station.hours if hours is None else hours,
            station.hours_exceptions if exceptions is None else exceptions,
        )
    if given.get("services") is not None:
        out["services"] = _checked_services(given["services"])
    if given.get("status") is not None:
        _checked_status(given["status"])
    name = given.get("name")
    if name is not None and not str(name).strip():
        raise DomainError("required", _("请填写名称"), field="name")
    return out


def station_operator_add(*, station: Station, user: User, actor: User | None) -> None:
    """Let a station-operator login keep this station current."""
    _check_admin(actor, station.org)
    if user.role != Role.STATION_OPERATOR:
        raise DomainError(
            "invalid_role",
            _("%(username)s 不是驿站运营人员账号") % {"username": user.username},
        )
    if user.org is None or not station.org.path.startswith(user.org.path):
        raise DomainError("invalid_operator", _("运营人员所在的组织必须包含这个驿站"))
    with transaction.atomic():
        station.operators.add(user)
        audit_record(
            actor=actor,
            action=Action.STATION_OPERATOR_ADD,
            obj=station,
            org_path=station.org.path,
            operator=user.username,
        )


def station_qr_content(station: Station) -> str:
    return rules.visit_qr_content(station.code, station.qr_version, _qr_key())


def station_qr_rotate(*, station: Station, actor: User | None) -> str:
    """Retire the printed QR code (e.g. a photo of it circulates) and return the new one."""
    if actor is not None and not station_may_manage(actor, station):
        raise Forbidden("forbidden", _("您不管理这个驿站"))
    with transaction.atomic():
        station.qr_version += 1
        station.save(update_fields=["qr_version", "updated_at"])
        audit_record(
            actor=actor,
            action=Action.STATION_QR_ROTATE,
            obj=station,
            org_path=station.org.path,
            version=station.qr_version,
        )
    return station_qr_content(station)


def station_visit_record(
    *, content: str, user: User | None = None, visitor: str = "", at: datetime | None = None
) -> tuple[StationVisit, bool]:
    """Count a visit from a scanned station QR code. Returns (visit, counted): a login (or the
    app's device id `visitor`) counts once per station and day; a repeat returns the first."""
    parsed = rules.parse_visit_qr(content, _qr_key())
    if parsed is None:
        raise DomainError("invalid_code", _("不是驿站二维码"))
    code, version = parsed
    station = Station.objects.filter(code=code).first()
    if station is None:
        raise NotFound(pgettext("未找到", "驿站 %(code)s") % {"code": code})
    if version != station.qr_version:
        raise DomainError("invalid_code", _("这个二维码已被替换"))
    if station.status != StationStatus.ACTIVE:
        raise DomainError("station_not_active", _("驿站未开放"), status=409)
    at = at or timezone.now()
    day = at.astimezone(BEIJING).date()
    who = (
        f"user:{user.pk}"
        if user is not None and user.pk
        else (f"device:{visitor}" if visitor else "")
    )
    key = hashlib.sha256(who.encode()).hexdigest() if who else ""
    if key:
        existing = StationVisit.objects.filter(
            station=station, visited_on=day, visitor_key=key
        ).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            visit = StationVisit.objects.create(
                station=station,
                visited_at=at,
                visited_on=day,
                people=1,
                source=VisitSource.QR,
                user=user if user is not None and user.pk else None,
                visitor_key=key,
            )
    except IntegrityError:  # the same visitor scanned twice at once
        return StationVisit.objects.get(station=station, visited_on=day, visitor_key=key), False
    return visit, True


def station_visit_tally(
    *, station: Station, actor: User | None, on: date, people: int
) -> StationVisit:
    """An operator's count of people who used the station on a day without scanning."""
    if actor is not None and not station_may_manage(actor, station):
        raise Forbidden("forbidden", _("您不管理这个驿站"))
    if people < 1 or people > 100_000:
        raise DomainError("invalid_people", _("people 应在 1 到 100000 之间"), field="people")
    bounds.parse_date(on, "date")
    if on > timezone.localdate():
        raise DomainError("invalid_date", _("这一天还没到"), field="date")
    with transaction.atomic():
        visit = StationVisit.objects.create(
            station=station,
            visited_at=timezone.now(),
            visited_on=on,
            people=people,
            source=VisitSource.OPERATOR,
            user=actor,
        )
        audit_record(
            actor=actor,
            action=Action.STATION_VISIT_TALLY,
            obj=station,
            org_path=station.org.path,
            day=on.isoformat(),
            people=people,
        )
    return visit
