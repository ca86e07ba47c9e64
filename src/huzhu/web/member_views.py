"""Member pages (/m/…), phone first: sign in by SMS code, card, plans, payouts, benefits with
live quota, vouchers as big QR codes, warm stations nearby. Thin: services and selectors decide."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import segno
from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from huzhu.accounts.models import User
from huzhu.accounts.throttle import throttle_address
from huzhu.benefits import bookings as benefit_bookings
from huzhu.benefits import rules as benefit_rules
from huzhu.benefits import selectors as benefits
from huzhu.benefits import voucher_codes
from huzhu.benefits.models import HOLDING, LIVE, Booking, BookingStatus, Mode, Quota
from huzhu.benefits.vouchers import short_code_shown
from huzhu.core import bounds
from huzhu.core.errors import DomainError
from huzhu.members.logins import otp_request, otp_sign_in
from huzhu.members.models import Card, CardStatus, Member
from huzhu.protection.selectors import member_claims
from huzhu.stations import geo
from huzhu.stations import rules as station_rules
from huzhu.stations import selectors as stations
from huzhu.stations.hours import distance_in_words, hours_in_words, parse_hours
from huzhu.stations.models import Station
from huzhu.web import selectors
from huzhu.web.access import member_required


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def sign_in(request: HttpRequest) -> HttpResponse:
    """Phone and a code sent by SMS (step 1: send, step 2: verify); or a password (the form
    posts to /login/)."""
    context: dict[str, object] = {"next": _next_url(request, "")}
    if request.method == "POST":
        phone = request.POST.get("phone", "").strip()
        context["phone"] = phone
        try:
            if request.POST.get("action") == "verify":
                user = otp_sign_in(phone=phone, code=request.POST.get("code", ""))
                # The SMS code was the credential: sign in through the configured backend.
                login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
                return HttpResponseRedirect(_next_url(request, reverse("web:m_home")))
            otp_request(phone=phone, address=throttle_address(request))
            context["code_sent"] = True
        except DomainError as exc:
            context["error"] = exc.message
            context["code_sent"] = request.POST.get("action") == "verify" and exc.code in (
                "wrong_code",
            )
            return render(request, "web/m/login.html", context, status=exc.status)
    return render(request, "web/m/login.html", context)


@member_required
def home(request: HttpRequest, user: User) -> HttpResponse:
    member: Member = user.member  # type: ignore[assignment]
    card = Card.objects.filter(member=member, status=CardStatus.ACTIVE).first()
    upcoming = (
        Booking.objects.filter(member=member, status=BookingStatus.BOOKED)
        .select_related("activity")
        .order_by("activity__valid_to")[:3]
    )
    return render(
        request,
        "web/m/home.html",
        {"member": member, "card": card, "unit": member.unit, "upcoming": upcoming},
    )


@member_required
def plans(request: HttpRequest, user: User) -> HttpResponse:
    year = timezone.localdate().year
    lines = selectors.member_plans(user.member, year=year)  # type: ignore[arg-type]
    return render(request, "web/m/plans.html", {"plans": lines, "year": year})


@member_required
def payouts(request: HttpRequest, user: User) -> HttpResponse:
    """Claims with the reason for each amount in words, and the transfers to the card."""
    data = member_claims(user)
    total = sum((c["amount"] for c in data["claims"]), Decimal("0.00"))
    # A plan that does not cover a stay at all is not news to the member: no row for it.
    shown = [c for c in data["claims"] if c["applies"]]
    return render(
        request,
        "web/m/payouts.html",
        {"claims": shown, "transfers": data["payouts"], "total": total},
    )


def _activity_rows(user: User) -> list[dict[str, object]]:
    now = timezone.now()
    activities = list(
        benefits.with_total_quota(benefits.activities_visible_to(user, current_only=True)).order_by(
            "opens_at", "id"
        )
    )
    live = list(
        Booking.objects.filter(member=user.member, status__in=LIVE).select_related("activity")
    )
    mine = {b.activity_id: b for b in live}
    # 每人限选一项: the place held in each exclusive group, which closes the group's other cards.
    held_in_group = {b.group_id: b for b in live if b.group_id and b.status in HOLDING}
    days: dict[int, list[Quota]] = {}
    per_day = [a.pk for a in activities if a.per_day]
    for q in Quota.objects.filter(activity_id__in=per_day, day__isnull=False).order_by("day"):
        days.setdefault(q.activity_id, []).append(q)
    return [
        {
            "activity": a,
            "remaining": int(a.quota_size or 0) - int(a.quota_used or 0),  # type: ignore[attr-defined]
            "quota": int(a.quota_size or 0),  # type: ignore[attr-defined]
            "window": str(benefit_rules.window_state(now, a.opens_at, a.closes_at)),
            "mine": mine.get(a.pk),
            "group_held": held_in_group.get(a.group_id) if a.group_id else None,
            "fcfs": a.mode != Mode.LOTTERY,
            "opens_ms": _epoch_ms(a.opens_at),
            "closes_ms": _epoch_ms(a.closes_at),
            "days": [q for q in days.get(a.pk, []) if q.day and q.day >= timezone.localdate()],
        }
        for a in activities
    ]


def _epoch_ms(moment: datetime) -> int:
    """A moment as the milliseconds the browser's clock counts in."""
    return int(moment.timestamp() * 1000)


def _activity_ids(text: str) -> list[int]:
    """`ids` of the poll: comma-separated activity ids, at most 50; anything else is ignored."""
    parts = [p.strip() for p in text.split(",")[:50]]
    return [int(p) for p in parts if p.isascii() and p.isdigit() and len(p) <= 18]


@member_required
def benefit_list(request: HttpRequest, user: User) -> HttpResponse:
    """The activities with a live count of places; a card opens for booking at its opening time
    by the server's clock, without a reload (site.js, "opening")."""
    return render(request, "web/m/benefits.html", _benefits_page(user))


def _benefits_page(user: User, **extra: object) -> dict[str, object]:
    bookings = benefits.bookings_visible(user).exclude(status=BookingStatus.CANCELLED)
    return {
        "rows": _activity_rows(user),
        "bookings": bookings.order_by("-id")[:50],
        "holding": HOLDING,
        "server_now_ms": _epoch_ms(timezone.now()),
        **extra,
    }


@member_required
def benefit_remaining(request: HttpRequest, user: User) -> JsonResponse:
    """Polled by the benefits page: the places left of the activities it shows (`ids`, at most
    50) and the server's clock. The counts are the same for every member and are read at most
    once a second per app server (benefits.selectors.places_left), so that a flash crowd of waiting
    phones costs a session lookup each, not a count each."""
    wanted = _activity_ids(request.GET.get("ids", ""))
    places = benefits.places_left()
    return JsonResponse(
        {
            "now": _epoch_ms(timezone.now()),
            "activities": {str(i): places[i] for i in wanted if i in places},
        },
        headers={"Cache-Control": "no-store"},
    )


@require_POST
@member_required
def benefit_book(request: HttpRequest, user: User, activity_id: int) -> HttpResponse:
    day_text = request.POST.get("day", "").strip()
    try:
        day = bounds.parse_date(day_text, "day") if day_text else None
        member = benefits.member_for_booking(user)
        activity = benefits.activity_for_booking(user=user, activity_id=activity_id, member=member)
        booking = benefit_bookings.booking_create(
            activity=activity, member=member, actor=user, day=day
        )
    except DomainError as exc:
        context = _benefits_page(user, error=exc.message, error_activity=activity_id)
        response = render(request, "web/m/benefits.html", context, status=exc.status)
        response.error_code = exc.code  # type: ignore[attr-defined]  # not_eligible is no breach
        return response
    if booking.status in HOLDING:
        return HttpResponseRedirect(reverse("web:m_voucher", args=[booking.pk]))
    return HttpResponseRedirect(reverse("web:m_benefits") + "?registered=1")


@require_POST
@member_required
def booking_cancel(request: HttpRequest, user: User, booking_id: int) -> HttpResponse:
    try:
        booking = benefits.booking_visible(user=user, booking_id=booking_id)
        benefit_bookings.booking_cancel(booking=booking, actor=user)
    except DomainError as exc:
        return render(request, "web/m/message.html", {"error": exc.message}, status=exc.status)
    return HttpResponseRedirect(reverse("web:m_benefits") + "?cancelled=1")


@member_required
def voucher(request: HttpRequest, user: User, booking_id: int) -> HttpResponse:
    """The voucher as a QR code filling the screen's width (an inline SVG scales sharply)."""
    try:
        booking = benefits.booking_visible(user=user, booking_id=booking_id)
    except DomainError as exc:
        return render(request, "web/m/message.html", {"error": exc.message}, status=exc.status)
    activity = booking.activity
    context: dict[str, object] = {
        "booking": booking,
        "activity": activity,
        "holder": booking.member,
        "expired": activity.valid_to < timezone.localdate(),
    }
    if booking.status in HOLDING:
        code = voucher_codes.voucher_code(booking)
        context["code"] = code
        context["short_code"] = short_code_shown(voucher_codes.voucher_short_code(booking))
        if booking.status == BookingStatus.BOOKED and not context["expired"]:
            # Only a voucher that can still be used shows its QR and asks to be scanned.
            qr = segno.make(code, error="m")
            context["qr_svg"] = qr.svg_inline(
                scale=1, border=4, omitsize=True, dark="#000", light="#fff", title="QR"
            )
    return render(request, "web/m/voucher.html", context)


def station_page(request: HttpRequest) -> HttpResponse:
    """Warm stations near me: the browser's position is sent to `station_near` (public). Without
    a position, the worker chooses a district or types a place (`station_search`)."""
    context = _finder_context(
        districts=stations.station_districts(), district="", place="", services=[], open_now=True
    )
    return render(request, "web/m/stations.html", context)


def _finder_context(
    *, districts: list[str], district: str, place: str, services: list[str], open_now: bool
) -> dict[str, object]:
    return {
        "services": _service_labels(),
        "districts": districts,
        "max_place": station_rules.MAX_PLACE_CHARS,
        "chosen": {
            "district": district,
            "place": place,
            "services": services,
            "open_now": open_now,
        },
    }


def _service_labels() -> list[tuple[str, str]]:
    from django.utils.translation import gettext as _

    labels = {
        "rest": _("休息"),
        "hot_water": _("热水"),
        "wifi": _("无线网络"),
        "charging": _("手机充电"),
        "microwave": _("微波炉"),
        "first_aid": _("急救箱"),
        "toilet": _("卫生间"),
    }
    return [(name, labels.get(name, name)) for name in station_rules.SERVICES]


def _station_card(
    s: Station, *, now: datetime, labels: dict[str, str], distance_m: float | None = None
) -> dict[str, object]:
    """What a card of the finder shows: hours in words, open now, services, the map link."""
    try:
        opening = parse_hours(s.hours, s.hours_exceptions)
        is_open, hours = opening.is_open(now), hours_in_words(opening)
    except ValueError:
        is_open, hours = False, s.hours
    glat, glng = geo.from_wgs84(s.lat, s.lng, "gcj02")
    return {
        "station": s,
        "distance": "" if distance_m is None else distance_in_words(distance_m),
        "hours": hours,
        "open": is_open,
        "services": [labels[x] for x in station_rules.services_of(s.services)],
        "map": f"https://uri.amap.com/marker?position={glng:.6f},{glat:.6f}",
    }


def station_near(request: HttpRequest) -> HttpResponse:
    """The nearest stations to lat/lng (WGS-84, as phones report), as an HTML fragment."""
    try:
        lat, lng = float(request.GET["lat"]), float(request.GET["lng"])
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValueError
    except (KeyError, ValueError):
        return render(request, "web/m/_stations.html", {"bad_position": True}, status=400)
    wanted = [s for s in request.GET.getlist("service") if s in station_rules.SERVICES]
    open_now = request.GET.get("open_now") == "on"
    now = timezone.now()
    found = stations.stations_nearest(
        lat=lat,
        lng=lng,
        service_mask=station_rules.services_mask(wanted),
        open_at=now if open_now else None,
        limit=10,
        within_m=20_000,
    )
    by_id = Station.objects.in_bulk([n.station_id for n in found])
    labels = dict(_service_labels())
    items = [
        _station_card(by_id[n.station_id], now=now, labels=labels, distance_m=n.distance_m)
        for n in found
    ]
    return render(request, "web/m/_stations.html", {"items": items})


def station_search(request: HttpRequest) -> HttpResponse:
    """The stations of a chosen district or typed place, for a worker whose phone gives no
    position (public): the finder page with the list under it, a plain GET form that works
    without JavaScript. A choice that cannot be answered is said in words (400)."""
    if not request.GET:  # nothing asked yet: the page as /m/stations/ shows it
        return station_page(request)
    district = request.GET.get("district", "").strip()
    place = request.GET.get("place", "").strip()
    wanted = request.GET.getlist("service")
    open_now = request.GET.get("open_now") == "on"
    districts = stations.station_districts()
    context = _finder_context(
        districts=districts, district=district, place=place, services=wanted, open_now=open_now
    )
    problems = station_rules.place_choice_problems(
        district=district, place=place, services=wanted, districts=districts
    )
    if problems:
        context["problems"] = problems
        return render(request, "web/m/stations.html", context, status=400)
    now = timezone.now()
    result = stations.stations_search(
        at=now,
        district=district,
        place=place,
        service_mask=station_rules.services_mask(wanted),
        open_only=open_now,
    )
    labels = dict(_service_labels())
    context["items"] = [_station_card(f.station, now=now, labels=labels) for f in result.found]
    context["total"] = result.total
    context["searched"] = True
    return render(request, "web/m/stations.html", context)
