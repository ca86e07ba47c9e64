"""Warm stations: the public nearest-station search, staff and operator management, visit QR
codes and counts. Coordinates go out in the `crs` the caller asks for (WGS-84 by default) and
every response names it; they are stored in WGS-84."""

import datetime as dt
from typing import Any, Literal

import segno
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import pgettext
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import Field

from huzhu.accounts.models import User
from huzhu.api.members import ImportOut, _upload_bytes
from huzhu.api.pagination import Paged
from huzhu.core.bounds import Day, Quota
from huzhu.core.errors import DomainError, NotFound
from huzhu.members.logins import token_user
from huzhu.members.selectors import orgs_visible_to
from huzhu.stations import geo, rules, selectors, services
from huzhu.stations.hours import parse_hours
from huzhu.stations.importer import stations_import
from huzhu.stations.models import Station

router = Router(tags=["stations"])

CrsName = Literal["wgs84", "gcj02"]


def actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _open_now(station: Station) -> bool:
    try:
        return parse_hours(station.hours, station.hours_exceptions).is_open(timezone.now())
    except ValueError:
        return False


def _station_out(station: Station, crs: str, **extra: Any) -> dict[str, Any]:
    lat, lng = geo.from_wgs84(station.lat, station.lng, crs)
    return {
        "code": station.code,
        "name": station.name,
        "host": station.host,
        "address": station.address,
        "district": station.district,
        "lat": lat,
        "lng": lng,
        "crs": crs,
        "hours": station.hours,
        "hours_exceptions": station.hours_exceptions,
        "services": rules.services_of(station.services),
        "capacity": station.capacity,
        "contact_phone": station.contact_phone,
        "status": station.status,
        "open_now": _open_now(station),
        **extra,
    }


class StationCardOut(Schema):
    """What a worker and the staff alike see of a station."""

    code: str
    name: str
    host: str
    address: str
    district: str
    lat: float
    lng: float
    crs: str
    hours: str
    hours_exceptions: str
    services: list[str]
    capacity: int | None
    contact_phone: str
    status: str
    open_now: bool


class PublicStationOut(StationCardOut):
    distance_m: float


class NearestOut(Schema):
    crs: str = Field(description="the datum of every lat/lng in this response")
    items: list[PublicStationOut]


class NearestQuery(Schema):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    crs: CrsName = Field(
        "wgs84", description="datum of lat/lng (phones: wgs84; Chinese maps: gcj02)"
    )
    service: list[str] = Field(default_factory=list, description="required services (repeatable)")
    open_now: bool = True
    limit: int = Field(10, ge=1, le=50)
    within_km: float = Field(20.0, gt=0, le=100)


@router.get("/stations/nearest", auth=None, response=NearestOut)
def nearest(request: HttpRequest, query: Query[NearestQuery]) -> dict[str, Any]:
    """The nearest active stations to a point, by great-circle distance, optionally only the
    ones open now and offering every `service` asked for. Public: no login needed."""
    try:
        mask = rules.services_mask(s for item in query.service for s in item.split(",") if s)
    except ValueError as exc:
        raise DomainError("invalid_service", str(exc), field="service") from None
    lat, lng = geo.to_wgs84(query.lat, query.lng, query.crs)
    found = selectors.stations_nearest(
        lat=lat,
        lng=lng,
        service_mask=mask,
        open_at=timezone.now() if query.open_now else None,
        limit=query.limit,
        within_m=query.within_km * 1000,
    )
    stations = Station.objects.in_bulk([n.station_id for n in found])
    return {
        "crs": query.crs,
        "items": [
            _station_out(stations[n.station_id], query.crs, distance_m=round(n.distance_m, 1))
            for n in found
        ],
    }


# Fixed paths before /stations/{code}, which would otherwise catch them.
class ScanIn(Schema):
    code: str = Field(description="the scanned QR content")
    visitor: str = Field("", max_length=64, description="the app's device id, to count once a day")


class ScanOut(Schema):
    station: str
    name: str
    visited_on: dt.date
    counted: bool


def _optional_user(request: HttpRequest) -> User | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return token_user(header[7:].strip())
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


@router.post("/stations/visits", auth=None, response={200: ScanOut, 201: ScanOut})
def scan_visit(request: HttpRequest, body: ScanIn) -> Status[dict[str, Any]]:
    """A worker scanned a station's poster: 201 counted, 200 already counted today."""
    visit, counted = services.station_visit_record(
        content=body.code, user=_optional_user(request), visitor=body.visitor
    )
    station = visit.station
    out = {
        "station": station.code,
        "name": station.name,
        "visited_on": visit.visited_on,
        "counted": counted,
    }
    return Status(201 if counted else 200, out)


class StationOut(StationCardOut):
    """The staff's view: the card, with who hosts and runs the station."""

    org_code: str
    contact_name: str
    note: str
    operators: list[str]


def _staff_out(station: Station, crs: str) -> dict[str, Any]:
    return _station_out(
        station,
        crs,
        org_code=station.org.code,
        contact_name=station.contact_name,
        note=station.note,
        operators=sorted(u.username for u in station.operators.all()),
    )


class StationIn(Schema):
    code: str
    name: str = Field(max_length=200)
    org_code: str
    address: str = Field(max_length=300)
    lat: float
    lng: float
    crs: CrsName = Field(description="datum of lat/lng")
    hours: str = Field(description="e.g. 'Mo-Fr 08:30-17:30; Sa 09:00-12:00' or '24/7'")
    hours_exceptions: str = Field(
        "", description="e.g. '2026-01-01 off; 2026-02-16..2026-02-22 10:00-14:00'"
    )
    services: list[str] = Field(default_factory=list)
    host: str = Field("", max_length=200)
    district: str = Field("", max_length=50)
    capacity: Quota | None = None
    contact_name: str = Field("", max_length=100)
    contact_phone: str = Field("", max_length=30)
    status: str = "active"
    note: str = ""


class StationPatch(Schema):
    name: str | None = Field(None, max_length=200)
    host: str | None = Field(None, max_length=200)
    org_code: str | None = None
    address: str | None = Field(None, max_length=300)
    district: str | None = Field(None, max_length=50)
    lat: float | None = None
    lng: float | None = None
    crs: CrsName = "wgs84"
    hours: str | None = None
    hours_exceptions: str | None = None
    services: list[str] | None = None
    capacity: Quota | None = None
    contact_name: str | None = Field(None, max_length=100)
    contact_phone: str | None = Field(None, max_length=30)
    status: str | None = None
    note: str | None = None


class CrsQuery(Schema):
    crs: CrsName = "wgs84"


class StationFilter(Schema):
    crs: CrsName = "wgs84"
    q: str | None = None
    status: str | None = None
    org: str | None = None


@router.get("/stations", response=list[StationOut])
@paginate(Paged)
def list_stations(request: HttpRequest, filters: Query[StationFilter]) -> list[dict[str, Any]]:
    """Stations of the caller's subtree (an operator: the ones it runs)."""
    qs: QuerySet[Station] = selectors.stations_visible_to(actor(request))
    if filters.q:
        qs = qs.filter(name__contains=filters.q)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.org:
        qs = qs.filter(org__code=filters.org)
    qs = qs.select_related("org").prefetch_related("operators").order_by("code")
    return _LazyOut(qs, filters.crs)  # type: ignore[return-value]


class _LazyOut:
    """A queryset seen through _staff_out, so pagination slices before converting."""

    def __init__(self, qs: QuerySet[Station], crs: str):
        self.qs, self.crs = qs, crs

    def __len__(self) -> int:
        return self.qs.count()

    def count(self) -> int:
        return self.qs.count()

    def __getitem__(self, key: slice) -> list[dict[str, Any]]:
        return [_staff_out(s, self.crs) for s in self.qs[key]]


@router.get("/stations/{code}", response=StationOut)
def get_station(request: HttpRequest, code: str, query: Query[CrsQuery]) -> dict[str, Any]:
    return _staff_out(selectors.station_get_visible(user=actor(request), code=code), query.crs)


def _org_for(request: HttpRequest, code: str) -> Any:
    org = orgs_visible_to(actor(request)).filter(code=code).first()
    if org is None:
        raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": code})
    return org


@router.post("/stations", response={201: StationOut})
def create_station(request: HttpRequest, body: StationIn) -> Status[dict[str, Any]]:
    station = services.station_create(
        actor=actor(request),
        code=body.code,
        name=body.name,
        org=_org_for(request, body.org_code),
        address=body.address,
        lat=body.lat,
        lng=body.lng,
        crs=body.crs,
        hours=body.hours,
        hours_exceptions=body.hours_exceptions,
        services=body.services,
        host=body.host,
        district=body.district,
        capacity=body.capacity,
        contact_name=body.contact_name,
        contact_phone=body.contact_phone,
        status=body.status,
        note=body.note,
    )
    return Status(201, _staff_out(station, body.crs))


@router.patch("/stations/{code}", response=StationOut)
def update_station(request: HttpRequest, code: str, body: StationPatch) -> dict[str, Any]:
    """Admins change any field; a station's operators its details, hours, services and status."""
    station = selectors.station_get_visible(user=actor(request), code=code)
    changes = body.dict(exclude_unset=True)
    changes.pop("crs", None)
    org_code = changes.pop("org_code", None)
    if org_code is not None:
        changes["org"] = _org_for(request, org_code)
    if "capacity" not in changes:
        changes["capacity"] = services._UNSET
    station = services.station_update(
        station=station, actor=actor(request), crs=body.crs, **changes
    )
    return _staff_out(station, body.crs)


class OperatorIn(Schema):
    username: str


@router.post("/stations/{code}/operators", response=StationOut)
def add_operator(request: HttpRequest, code: str, body: OperatorIn) -> dict[str, Any]:
    station = selectors.station_get_visible(user=actor(request), code=code)
    user = User.objects.select_related("org").filter(username=body.username).first()
    if user is None:
        raise NotFound(pgettext("未找到", "用户 %(username)s") % {"username": body.username})
    services.station_operator_add(station=station, user=user, actor=actor(request))
    return _staff_out(station, "wgs84")


class QrOut(Schema):
    content: str
    svg: str


def _qr(content: str) -> dict[str, str]:
    return {"content": content, "svg": segno.make(content, error="m").svg_inline(scale=4)}


@router.get("/stations/{code}/qr", response=QrOut)
def station_qr(request: HttpRequest, code: str) -> dict[str, str]:
    """The poster QR code that visitors scan to be counted."""
    station = selectors.station_get_visible(user=actor(request), code=code)
    return _qr(services.station_qr_content(station))


@router.post("/stations/{code}/qr/rotate", response=QrOut)
def rotate_qr(request: HttpRequest, code: str) -> dict[str, str]:
    station = selectors.station_get_visible(user=actor(request), code=code)
    return _qr(services.station_qr_rotate(station=station, actor=actor(request)))


class TallyIn(Schema):
    date: Day
    people: int = Field(ge=1, le=100_000)


class VisitDayOut(Schema):
    date: dt.date
    people: int


class VisitDaysQuery(Schema):
    first: Day | None = Field(None, alias="from")
    last: Day | None = Field(None, alias="to")


@router.post("/stations/{code}/visits", response={201: VisitDayOut})
def tally_visits(request: HttpRequest, code: str, body: TallyIn) -> Status[dict[str, Any]]:
    """An operator's count of a day's visitors who did not scan."""
    station = selectors.station_get_visible(user=actor(request), code=code)
    visit = services.station_visit_tally(
        station=station, actor=actor(request), on=body.date, people=body.people
    )
    return Status(201, {"date": visit.visited_on, "people": visit.people})


@router.get("/stations/{code}/visits", response=list[VisitDayOut])
def visit_days(
    request: HttpRequest, code: str, query: Query[VisitDaysQuery]
) -> list[dict[str, Any]]:
    station = selectors.station_get_visible(user=actor(request), code=code)
    return [
        {"date": day, "people": people}
        for day, people in selectors.station_visit_days(
            station=station, first=query.first, last=query.last
        )
    ]


@router.post("/imports/stations", response=ImportOut)
def import_stations(
    request: HttpRequest, file: File[UploadedFile], keep_valid: Form[bool] = False
) -> dict[str, object]:
    """Upload stations (.csv or .xlsx); same row report as rosters."""
    report = stations_import(
        _upload_bytes(file),
        file=file.name or "upload.csv",
        actor=actor(request),
        keep_valid=keep_valid,
    )
    return report.as_dict()
