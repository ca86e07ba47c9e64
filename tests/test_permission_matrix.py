"""The permission matrix: every API operation and every member or console page, asked by each
role and by nobody, about a target inside and a target outside the caller's subtree. The answer
expected in each cell is written down below (API_TABLE, PAGE_TABLE); it is not computed from the
code's permission functions, so a change of who may do what shows up here as a failing row.

Who is asking (the columns):
  anon      nobody signed in
  member    the member login of M_in, a member of U1 (西城) holding an active card
  city      city_admin at the root BJ
  district  district_admin at BJ02 (西城)
  unit      unit_admin at U1 (a workplace union in 西城)
  reviewer  reviewer at BJ02
  gate      gate staff at BJ02
  operator  station_operator at BJ02, running the station S_in only

The targets: "in" objects belong to U1 (or 西城), which is inside every column's subtree and is
the member's own; "out" objects belong to U3 (怀柔), outside every column's subtree but the city's
(so the city admin answers both alike), and are another member's. Where a row names the parent
of a new unit, which cannot be U1, "in" is the town BJ02T01 (西城, above U1, so outside the unit
admin's subtree too) and "out" is BJ16 (怀柔). A cell is `in/out`, or one status when both targets
give it; a row without a target is asked once. The two tables hold CELLS cells (1952); an API
answer of 4xx must also have the one error shape.

The rules the table follows. INTERFACES.md says who may file, book, draw and redeem, and
PRODUCT.md who uses what; where both are silent, these are the choices made here:
  - API: nobody signed in gets 401, except the three public operations (sign-in, the nearest
    stations, counting a station visit). Pages: nobody signed in is sent to the sign-in page
    (302: /m/login/ for member pages, /login/ for the console); the home page, the sign-in pages
    and the station finder are public, and so are the load balancer's health checks (/healthz, /readyz) and /metrics from the
    loopback address (the test client's).
  - A member login gets 403 from every staff operation and page; staff get 403 from the
    member's own operations (/me/...) and pages (/m/...).
  - Outside the caller's subtree an object does not exist: 404, never 403, so that nothing
    outside tells a caller what is there. A role that may not do something gets 403 for a target
    inside its subtree; outside it gets 404 when the target is looked up before the role is
    checked, and 403 when the role is refused before any lookup (both reveal nothing). Uploads
    answer a row outside the subtree with 400 and the row-by-row report, as for any bad row.
  - A role that may not see a target at all is refused before the lookup, so that 403 vs 404
    cannot tell it whether the target is in its subtree: staff who may not book for members
    (reviewers, gates, operators) get 403 from a booking whatever the activity and the member
    named by ID number in the body (a gate sees no roster; 403 for members inside and 404 for
    those outside told it who is a member of its district). Likewise `POST /members` with an ID
    number held outside the caller's subtree answers 404, as anything outside does, not 403
    (tests/security/test_leaks.py).
  - Personal data: the roster (members, cards, full ID numbers) is for the admins (city,
    district, unit) and reviewers; gate staff and station operators (who may work for the bank
    or shop hosting a station) get 403. Bookings and vouchers of members are for the member and
    for the staff who run activities (admins); a gate redeems a voucher shown to it but may not
    read other members' vouchers. The audit log is for the admins.
  - Claims: a workplace union (unit_admin) files; reviewers, district and city admins decide;
    all four read their subtree's claims. Corrections of what a decided claim pays are for the
    district and city admins; what waits for a second signature (双人复核) is shown to those
    who may give one (reviewers, district and city admins). Payment runs, their release, plan
    changes and settlement imports are for the city federation (city_admin) only. Care campaigns and labour models are for the
    admins; so is a unit's contribution statement, in the API as on the console page.
  - Activities are offers, not personal data: every staff role reads those organised in or open
    to its subtree; only admins create, change, draw and book for members. Stations: admins
    manage those of their subtree, an operator its own (not its operators or organisation);
    other staff read them. Statistics are aggregates: any staff role of the subtree, except the
    care figures, which follow care access. Plans are the same for the whole city: any login
    reads them.
  - A gate that scans a voucher of another district's activity gets 400 invalid_code
    (INTERFACES.md: a bad code is 400), not 404.
  - Member logins sign in by SMS code and have no password: POST /auth/token gives them 401.
Not in the matrix: Django's own admin site (/admin/, for the city root's superuser) and the
language switch (/i18n/); test_every_route_has_a_row checks that nothing else is mounted.

The data are built once for the module; every cell runs in a savepoint that is rolled back, so
each request sees the same world. test_every_route_has_a_row fails when an operation or page is
added without a row here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import HttpResponse
from django.test import Client, override_settings
from django.utils import timezone

from huzhu.accounts.models import Role, User
from huzhu.accounts.services import token_create
from huzhu.benefits.activities import activity_create
from huzhu.benefits.bookings import booking_create
from huzhu.benefits.lottery import lottery_draw
from huzhu.benefits.models import Activity
from huzhu.benefits.voucher_codes import voucher_code
from huzhu.care.services import (
    BeneficiaryIn,
    care_allocation_create,
    care_campaign_create,
    care_visit_record,
    labour_model_create,
)
from huzhu.members.logins import member_login, staff_create
from huzhu.members.services import card_issue, member_create_or_update
from huzhu.protection.corrections import claim_correct
from huzhu.protection.filing import claim_file
from huzhu.protection.models import Enrollment, PaymentItem
from huzhu.protection.payments import payment_run_create, payment_run_release
from huzhu.protection.plans import plan_load_toml
from huzhu.protection.services import claim_accept, claim_approve, claim_review
from huzhu.stations.services import station_create, station_operator_add, station_qr_content
from huzhu.web.models import JobStatus, SettlementJob
from tests.conftest import PASSWORD, Tree, new_id_number
from tests.protection.factories import a_stay

# The session's test database is set up only for modules that ask for it.
pytestmark = pytest.mark.django_db

ROLES = ("anon", "member", "city", "district", "unit", "reviewer", "gate", "operator")

# fmt: off
API_TABLE = """
# operation                                    anon member  city  district unit    reviewer gate    operator
POST   /auth/token                             401  401     200   200      200     200      200     200
DELETE /auth/token                             401  204     204   204      204     204      204     204
GET    /auth/me                                401  200     200   200      200     200      200     200
GET    /orgs                                   401  403     200   200      200     200      200     200
POST   /orgs                                   401  403     201   201/404  404     403/404  403/404 403/404
GET    /orgs/{code}                            401  403     200   200/404  200/404 200/404  200/404 200/404
PATCH  /orgs/{code}                            401  403     200   200/404  200/404 403/404  403/404 403/404
GET    /members                                401  403     200   200      200     200      403     403
POST   /members                                401  403     201   201/404  201/404 403/404  403     403
GET    /members/{member_id}                    401  403     200   200/404  200/404 200/404  403     403
POST   /members/{member_id}/reveal             401  403     200   200/404  200/404 200/404  403     403
GET    /members/{member_id}/cards              401  403     200   200/404  200/404 200/404  403     403
POST   /members/{member_id}/cards              401  403     201   201/404  201/404 403/404  403     403
POST   /cards/{card_no}/report-lost            401  403     200   200/404  200/404 403/404  403     403
POST   /cards/{card_no}/replace                401  403     201   201/404  201/404 403/404  403     403
POST   /imports/members                        401  403     200   200/400  200/400 403      403     403
POST   /imports/orgs                           401  403     200   200/400  400     403      403     403
GET    /me/member                              401  200     403   403      403     403      403     403
POST   /members/{member_id}/erase              401  403     200   403/404  403/404 403/404  403     403
GET    /me/data                                401  200     403   403      403     403      403     403
GET    /plans                                  401  200     200   200      200     200      200     200
GET    /plans/{code}                           401  200     200   200      200     200      200     200
GET    /plans/{code}/versions/{period_start}   401  200     200   200      200     200      200     200
PATCH  /plans/{code}/versions/{period_start}   401  403     200   403      403     403      403     403
POST   /units/{code}/enrollments               401  403     201   201/404  201/404 403/404  403/404 403/404
GET    /units/{code}/contributions             401  403     200   200/404  200/404 403      403     403
POST   /claims                                 401  403     403   403      201/404 403      403     403
GET    /claims                                 401  403     200   200      200     200      403     403
GET    /claims/{claim_id}                      401  403     200   200/404  200/404 200/404  403     403
POST   /claims/{claim_id}/documents            401  403     201   201/404  201/404 201/404  403     403
GET    /claims/{claim_id}/documents/{doc_id}   401  403     200   200/404  200/404 200/404  403     403
POST   /claims/{claim_id}/accept               401  403     200   200/404  403/404 200/404  403     403
POST   /claims/{claim_id}/review               401  403     200   200/404  403/404 200/404  403     403
POST   /claims/{claim_id}/approve              401  403     200   200/404  403/404 200/404  403     403
POST   /claims/{claim_id}/reject               401  403     200   200/404  403/404 200/404  403     403
POST   /payment-runs                           401  403     201   403      403     403      403     403
GET    /payment-runs                           401  403     200   403      403     403      403     403
GET    /payment-runs/{reference}               401  403     200   403      403     403      403     403
GET    /payment-runs/{reference}/file          401  403     200   403      403     403      403     403
POST   /payment-runs/{reference}/confirmations 401  403     200   403      403     403      403     403
POST   /payment-runs/{reference}/release       401  403     200   403      403     403      403     403
POST   /payment-runs/{reference}/cancel        401  403     200   403      403     403      403     403
POST   /claims/{claim_id}/corrections          401  403     201   201/404  403/404 403/404  403     403
POST   /claims/{claim_id}/corrections/{correction_id}/refuse 401 403 200 200/404 403/404 403/404 403 403
GET    /approvals                              401  403     200   200      403     200      403     403
POST   /payment-items/{reference}/confirm      401  403     200   403      403     403      403     403
POST   /payment-items/{reference}/fail         401  403     200   403      403     403      403     403
GET    /me/claims                              401  200     403   403      403     403      403     403
POST   /activities                             401  403     201   201/404  201/404 403/404  403/404 403/404
GET    /activities                             401  200     200   200      200     200      200     200
GET    /activities/{activity_id}               401  200/404 200   200/404  200/404 200/404  200/404 200/404
PATCH  /activities/{activity_id}               401  403     200   200/404  200/404 403      403     403
GET    /activities/{activity_id}/stats         401  403     200   200/404  200/404 200/404  200/404 200/404
GET    /activities/{activity_id}/bookings      401  403     200   200/404  200/404 403      403     403
POST   /activities/{activity_id}/bookings      401  201/404 201   201/404  201/404 403      403     403
POST   /activities/{activity_id}/draw          401  403     200   200/404  200/404 403      403     403
GET    /activities/{activity_id}/draw          401  200/404 200   200/404  200/404 200/404  200/404 200/404
GET    /activities/{activity_id}/public-key    401  200/404 200   200/404  200/404 200/404  200/404 200/404
GET    /activities/{activity_id}/revocations   401  403     200   200/404  200/404 200/404  200/404 200/404
GET    /bookings                               401  200     200   200      200     403      403     403
GET    /bookings/{booking_id}                  401  200/404 200   200/404  200/404 403      403     403
DELETE /bookings/{booking_id}                  401  200/404 200   200/404  200/404 403      403     403
GET    /bookings/{booking_id}/voucher          401  200/404 200   200/404  200/404 403      403     403
GET    /bookings/{booking_id}/voucher.{kind}   401  200/404 200   200/404  200/404 403      403     403
POST   /redemptions                            401  403     200   200/400  200/400 403      200/400 403
POST   /redemptions/batch                      401  403     200   200      200     403      200     403
GET    /stations/nearest                       200  200     200   200      200     200      200     200
POST   /stations/visits                        201  201     201   201      201     201      201     201
GET    /stations                               401  403     200   200      200     200      200     200
POST   /stations                               401  403     201   201/404  201/404 403/404  403/404 403/404
GET    /stations/{code}                        401  403     200   200/404  200/404 200/404  200/404 200/404
PATCH  /stations/{code}                        401  403     200   200/404  200/404 403/404  403/404 200/404
POST   /stations/{code}/operators              401  403     200   200/404  200/404 403/404  403/404 403/404
GET    /stations/{code}/qr                     401  403     200   200/404  200/404 200/404  200/404 200/404
POST   /stations/{code}/qr/rotate              401  403     200   200/404  200/404 403/404  403/404 200/404
POST   /stations/{code}/visits                 401  403     201   201/404  201/404 403/404  403/404 201/404
GET    /stations/{code}/visits                 401  403     200   200/404  200/404 200/404  200/404 200/404
POST   /imports/stations                       401  403     200   200/400  200/400 403      403     403
GET    /care/campaigns                         401  403     200   200      200     403      403     403
POST   /care/campaigns                         401  403     201   201/404  201/404 403      403     403
GET    /care/campaigns/{code}                  401  403     200   200/404  200/404 403      403     403
PUT    /care/campaigns/{code}/budget           401  403     200   200/404  200/404 403      403     403
POST   /care/campaigns/{code}/allocations      401  403     201   201/404  201/404 403      403     403
GET    /care/campaigns/{code}/entries          401  403     200   200/404  200/404 403      403     403
POST   /care/entries/{entry_id}/reverse        401  403     201   201/404  201/404 403      403     403
POST   /care/campaigns/{code}/visits           401  403     201   201/404  201/404 403      403     403
GET    /care/campaigns/{code}/visits           401  403     200   200/404  200/404 403      403     403
GET    /care/visits/{visit_id}                 401  403     200   200/404  200/404 403      403     403
POST   /care/visits/{visit_id}/cancel          401  403     200   200/404  200/404 403      403     403
GET    /care/labour-models                     401  403     200   200      200     403      403     403
POST   /care/labour-models                     401  403     201   201/404  201/404 403      403     403
GET    /care/labour-models/{lm_id}             401  403     200   200/404  200/404 403      403     403
GET    /stats/payouts                          401  403     200   200      200     200      200     200
GET    /stats/held                             401  403     200   200      200     200      200     200
GET    /stats/members                          401  403     200   200      200     200      200     200
GET    /stats/contributions                    401  403     200   200      200     200      200     200
GET    /stats/bookings                         401  403     200   200      200     200      200     200
GET    /stats/stations                         401  403     200   200      200     200      200     200
GET    /stats/care                             401  403     200   200      200     403      403     403
GET    /stats/{name}.xlsx                      401  403     200   200      200     200      200     200
"""

PAGE_TABLE = """
# page (URL name, #variant)                    anon member  city  district unit    reviewer gate    operator
GET    home                                    200  200     200   200      200     200      200     200
GET    healthz                                 200  200     200   200      200     200      200     200
GET    readyz                                  200  200     200   200      200     200      200     200
GET    metrics                                 200  200     200   200      200     200      200     200
GET    login                                   200  200     200   200      200     200      200     200
POST   logout                                  302  302     302   302      302     302      302     302
GET    m_login                                 200  200     200   200      200     200      200     200
GET    m_home                                  302  200     403   403      403     403      403     403
GET    m_plans                                 302  200     403   403      403     403      403     403
GET    m_payouts                               302  200     403   403      403     403      403     403
GET    m_benefits                              302  200     403   403      403     403      403     403
GET    m_benefits_remaining                    302  200     403   403      403     403      403     403
POST   m_book                                  302  302/404 403   403      403     403      403     403
POST   m_cancel                                302  302/404 403   403      403     403      403     403
GET    m_voucher                               302  200/404 403   403      403     403      403     403
GET    m_stations                              200  200     200   200      200     200      200     200
GET    m_stations_near                         200  200     200   200      200     200      200     200
GET    m_stations_search                       200  200     200   200      200     200      200     200
GET    console                                 302  403     200   200      200     200      200     200
GET    console_orgs                            302  403     200   200      200     200      200     200
GET    console_members                         302  403     200   200      200     200      403     403
POST   console_members_export                  302  403     200   200      200     403      403     403
GET    console_member                          302  403     200   200/404  200/404 200/404  403     403
POST   console_member#reveal                   302  403     200   200/404  200/404 200/404  403     403
POST   console_member_card                     302  403     409   409/404  409/404 403      403     403
GET    console_import_members                  302  403     200   200      200     403      403     403
GET    console_roster_template                 302  403     200   200      200     403      403     403
GET    console_activities                      302  403     200   200      200     200      200     200
GET    console_activity_new                    302  403     200   200      200     403      403     403
GET    console_labour_models                   302  403     200   200      200     403      403     403
GET    console_care                            302  403     200   200      200     403      403     403
GET    console_care_campaign                   302  403     200   200/404  200/404 403      403     403
POST   console_care_campaign#allocate          302  403     302   302/404  302/404 403      403     403
POST   console_care_campaign#visit             302  403     302   302/404  302/404 403      403     403
GET    console_activity                        302  403     200   200/404  200/404 200/404  200/404 200/404
GET    console_activity_counters               302  403     200   200/404  200/404 200/404  200/404 200/404
GET    console_gate                            302  403     200   200      200     403      200     403
GET    console_stations                        302  403     200   200      200     200      200     200
GET    console_station_new                     302  403     200   200      200     403      403     403
GET    console_station                         302  403     200   200/404  200/404 200/404  200/404 200/404
POST   console_station#edit                    302  403     302   302/404  302/404 403/404  403/404 302/404
GET    console_settlements                     302  403     200   403      403     403      403     403
GET    console_settlement_job                  302  403     200   403      403     403      403     403
GET    console_settlement_csv                  302  403     200   403      403     403      403     403
GET    console_audit                           302  403     200   200      200     403      403     403
GET    console_stats                           302  403     200   200      200     200      200     200
GET    console_plans                           302  403     200   200      200     200      200     200
GET    console_plan_version                    302  403     200   200      200     200      200     200
POST   console_plan_version#edit               302  403     200   403      403     403      403     403
POST   console_plan_version#enrol              302  403     200   200/404  200/404 403/404  403/404 403/404
GET    console_contributions                   302  403     200   200      200     403      403     403
GET    console_claims                          302  403     200   200      200     200      403     403
GET    console_claim_new                       302  403     403   403      200     403      403     403
GET    console_claim                           302  403     200   200/404  200/404 200/404  403     403
POST   console_claim#accept                    302  403     302   302/404  403/404 302/404  403     403
POST   console_claim#correct                   302  403     302   302/404  403/404 403/404  403     403
GET    console_approvals                       302  403     200   200      403     200      403     403
GET    console_claim_document                  302  403     200   200/404  200/404 200/404  403     403
GET    console_payments                        302  403     200   403      403     403      403     403
GET    console_payment_run                     302  403     200   403      403     403      403     403
POST   console_payment_run#confirm             302  403     302   403      403     403      403     403
POST   console_payment_run#release             302  403     302   403      403     403      403     403
GET    console_payment_file                    302  403     200   403      403     403      403     403
"""
# fmt: on

# The number of cells the two tables check; test_cell_count keeps it honest.
CELLS = 1952


# -- reading the tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str  # "METHOD /path/{template}" or "METHOD url_name[#variant]"
    cells: dict[str, tuple[int, int | None]]  # role → (in, out); out None when the same


def parse_table(text: str) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for line in text.strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        method, target, *values = line.split()
        assert len(values) == len(ROLES), f"{line!r}: {len(values)} cells for {len(ROLES)} roles"
        key = f"{method} {target}"
        assert key not in rows, f"{key} twice"
        cells: dict[str, tuple[int, int | None]] = {}
        for role, value in zip(ROLES, values, strict=True):
            inside, _, outside = value.partition("/")
            cells[role] = (int(inside), int(outside) if outside else None)
        rows[key] = Row(key, cells)
    return rows


API_ROWS = parse_table(API_TABLE)
PAGE_ROWS = parse_table(PAGE_TABLE)


# -- requests -------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    form: dict[str, Any] | None = None
    query: dict[str, Any] | None = None


@dataclass
class World:
    tree: Tree
    users: dict[str, User]
    tokens: dict[str, str]
    inside: SimpleNamespace
    outside: SimpleNamespace
    g: SimpleNamespace  # objects that belong to no subtree (plans, payment runs, jobs)
    sessions: dict[str, str] = field(default_factory=dict)  # role → session cookie
    # One client for every cell: a new one would load the middleware again (WhiteNoise scans
    # every static file, most of a cell's time).
    _client: Client = field(default_factory=lambda: Client(raise_request_exception=False))

    def client(self, role: str, *, page: bool) -> Client:
        """The client with no cookies but the role's session for pages (so signing out in one
        cell does not sign out the next)."""
        self._client.cookies = SimpleCookie()
        if page and role in self.sessions:
            self._client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        return self._client


Build = Callable[[World, SimpleNamespace, str], Call]


def csv_file(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def _book_body(w: World, s: SimpleNamespace, role: str) -> dict[str, Any]:
    return {} if role == "member" else {"member": s.member_id_number}


def _token_body(w: World, s: SimpleNamespace, role: str) -> dict[str, Any]:
    if role == "anon":
        return {"username": "nobody", "password": PASSWORD}
    return {"username": w.users[role].username, "password": PASSWORD}


def _station_csv(s: SimpleNamespace) -> str:
    return (
        "code,name,org_code,address,lat,lng,hours\n"
        f"STNEW1,新驿站,{s.org.code},北京市,39.91,116.37,24/7\n"
    )


def _visit_body(s: SimpleNamespace) -> dict[str, Any]:
    return {
        "org_code": s.org.code,
        "visited_on": str(timezone.localdate()),
        "place": "环卫站",
        "beneficiaries": [{"kind": "frontline", "name": "环卫工人", "headcount": 3}],
    }


def _visit_form(s: SimpleNamespace) -> dict[str, str]:
    """The console's visit form: one row, 50 yuan of the organisation's 100 allocated."""
    return {
        "org": s.org.code,
        "visited_on": str(timezone.localdate()),
        "place": "环卫站",
        "b0_kind": "frontline",
        "b0_name": "环卫工人",
        "b0_cash": "50.00",
    }


def _scan_batch(s: SimpleNamespace) -> dict[str, Any]:
    return {"gate": "G1", "scans": [{"code": s.voucher, "scanned_at": timezone.now().isoformat()}]}


# Rows with a target take the side ("in" or "out") they are asked about; the others (`once`)
# are asked once. Every builder also gets the role, for the few bodies that depend on it.
TARGETED = True
once = False

# fmt: off
API_CALLS: dict[str, tuple[bool, Build]] = {
    "POST /auth/token": (once, lambda w, s, r: Call("POST", "/auth/token", _token_body(w, s, r))),
    "DELETE /auth/token": (once, lambda w, s, r: Call("DELETE", "/auth/token")),
    "GET /auth/me": (once, lambda w, s, r: Call("GET", "/auth/me")),
    "GET /orgs": (once, lambda w, s, r: Call("GET", "/orgs")),
    "POST /orgs": (TARGETED, lambda w, s, r: Call("POST", "/orgs", {"code": "UNEW1", "name": "新工会", "kind": "unit", "parent_code": s.parent.code})),
    "GET /orgs/{code}": (TARGETED, lambda w, s, r: Call("GET", f"/orgs/{s.org.code}")),
    "PATCH /orgs/{code}": (TARGETED, lambda w, s, r: Call("PATCH", f"/orgs/{s.org.code}", {"name": "改名工会"})),
    "GET /members": (once, lambda w, s, r: Call("GET", "/members")),
    "POST /members": (TARGETED, lambda w, s, r: Call("POST", "/members", {"id_number": w.g.new_id_number, "name": "新会员", "unit_code": s.org.code})),
    "GET /members/{member_id}": (TARGETED, lambda w, s, r: Call("GET", f"/members/{s.member.pk}")),
    "POST /members/{member_id}/reveal": (TARGETED, lambda w, s, r: Call("POST", f"/members/{s.member.pk}/reveal", {"reason": "核对身份"})),
    "GET /members/{member_id}/cards": (TARGETED, lambda w, s, r: Call("GET", f"/members/{s.member.pk}/cards")),
    "POST /members/{member_id}/cards": (TARGETED, lambda w, s, r: Call("POST", f"/members/{s.no_card.pk}/cards", {"card_no": "CNEW0001"})),
    "POST /cards/{card_no}/report-lost": (TARGETED, lambda w, s, r: Call("POST", f"/cards/{s.card_no}/report-lost")),
    "POST /cards/{card_no}/replace": (TARGETED, lambda w, s, r: Call("POST", f"/cards/{s.card_no}/replace", {"new_card_no": "CNEW0002"})),
    "POST /imports/members": (TARGETED, lambda w, s, r: Call("POST", "/imports/members", form={"file": csv_file("members.csv", f"id_number,name,unit_code\n{w.g.new_id_number},新会员,{s.org.code}\n")})),
    "POST /imports/orgs": (TARGETED, lambda w, s, r: Call("POST", "/imports/orgs", form={"file": csv_file("orgs.csv", f"code,name,parent_code,kind\nUNEW2,新工会,{s.parent.code},unit\n")})),
    "GET /me/member": (once, lambda w, s, r: Call("GET", "/me/member")),
    "POST /members/{member_id}/erase": (TARGETED, lambda w, s, r: Call("POST", f"/members/{s.member.pk}/erase", {"reason": "本人申请删除"})),
    "GET /me/data": (once, lambda w, s, r: Call("GET", "/me/data")),
    "GET /plans": (once, lambda w, s, r: Call("GET", "/plans")),
    "GET /plans/{code}": (once, lambda w, s, r: Call("GET", "/plans/ZY")),
    "GET /plans/{code}/versions/{period_start}": (once, lambda w, s, r: Call("GET", "/plans/ZY/versions/2026-01-01")),
    "PATCH /plans/{code}/versions/{period_start}": (once, lambda w, s, r: Call("PATCH", "/plans/ZY/versions/2027-01-01", {"waiting_days": 60})),
    "POST /units/{code}/enrollments": (TARGETED, lambda w, s, r: Call("POST", f"/units/{s.org.code}/enrollments", {"plan_code": "ZY", "period_start": "2027-01-01"})),
    "GET /units/{code}/contributions": (TARGETED, lambda w, s, r: Call("GET", f"/units/{s.org.code}/contributions", query={"year": 2026})),
    "POST /claims": (TARGETED, lambda w, s, r: Call("POST", "/claims", form={"member_id": s.member.pk, "plan_code": "ZY", "event_date": "2026-06-01", "requested": "800.00"})),
    "GET /claims": (once, lambda w, s, r: Call("GET", "/claims")),
    "GET /claims/{claim_id}": (TARGETED, lambda w, s, r: Call("GET", f"/claims/{s.claim_submitted.pk}")),
    "POST /claims/{claim_id}/documents": (TARGETED, lambda w, s, r: Call("POST", f"/claims/{s.claim_submitted.pk}/documents", form={"file": SimpleUploadedFile("bill.pdf", b"%PDF-1.4 bill")})),
    "GET /claims/{claim_id}/documents/{doc_id}": (TARGETED, lambda w, s, r: Call("GET", f"/claims/{s.claim_submitted.pk}/documents/{s.document.pk}")),
    "POST /claims/{claim_id}/accept": (TARGETED, lambda w, s, r: Call("POST", f"/claims/{s.claim_submitted.pk}/accept", {})),
    "POST /claims/{claim_id}/review": (TARGETED, lambda w, s, r: Call("POST", f"/claims/{s.claim_accepted.pk}/review", {})),
    "POST /claims/{claim_id}/approve": (TARGETED, lambda w, s, r: Call("POST", f"/claims/{s.claim_under_review.pk}/approve", {"amount": "500.00"})),
    "POST /claims/{claim_id}/reject": (TARGETED, lambda w, s, r: Call("POST", f"/claims/{s.claim_submitted.pk}/reject", {"reason_code": "insufficient_documents"})),
    "POST /payment-runs": (once, lambda w, s, r: Call("POST", "/payment-runs")),
    "POST /payment-runs/{reference}/release": (once, lambda w, s, r: Call("POST", f"/payment-runs/{w.g.draft}/release")),
    "POST /payment-runs/{reference}/cancel": (once, lambda w, s, r: Call("POST", f"/payment-runs/{w.g.draft}/cancel", {"reason": "金额有误"})),
    "POST /claims/{claim_id}/corrections": (TARGETED, lambda w, s, r: Call("POST", f"/claims/{s.claim_approved.pk}/corrections", {"kind": "clawback", "amount": "20.00", "reason_code": "invoice_error", "note": "发票重复"})),
    "POST /claims/{claim_id}/corrections/{correction_id}/refuse": (TARGETED, lambda w, s, r: Call("POST", f"/claims/{s.claim_corrected.pk}/corrections/{s.correction.pk}/refuse", {"note": "不予更正"})),
    "GET /approvals": (once, lambda w, s, r: Call("GET", "/approvals")),
    "GET /payment-runs": (once, lambda w, s, r: Call("GET", "/payment-runs")),
    "GET /payment-runs/{reference}": (once, lambda w, s, r: Call("GET", f"/payment-runs/{w.g.run}")),
    "GET /payment-runs/{reference}/file": (once, lambda w, s, r: Call("GET", f"/payment-runs/{w.g.run}/file")),
    "POST /payment-runs/{reference}/confirmations": (once, lambda w, s, r: Call("POST", f"/payment-runs/{w.g.run}/confirmations", form={"file": csv_file("bank.csv", f"reference,status\n{w.g.item},paid\n")})),
    "POST /payment-items/{reference}/confirm": (once, lambda w, s, r: Call("POST", f"/payment-items/{w.g.item}/confirm")),
    "POST /payment-items/{reference}/fail": (once, lambda w, s, r: Call("POST", f"/payment-items/{w.g.item}/fail", {"reason": "卡号错误"})),
    "GET /me/claims": (once, lambda w, s, r: Call("GET", "/me/claims")),
    "POST /activities": (TARGETED, lambda w, s, r: Call("POST", "/activities", {"title": "公园年票", "venue": "公园", "quota": 5, "opens_at": timezone.now().isoformat(), "closes_at": (timezone.now() + timedelta(days=3)).isoformat(), "valid_from": str(timezone.localdate()), "valid_to": str(timezone.localdate() + timedelta(days=30)), "eligible_org": s.org.code})),
    "GET /activities": (once, lambda w, s, r: Call("GET", "/activities")),
    "GET /activities/{activity_id}": (TARGETED, lambda w, s, r: Call("GET", f"/activities/{s.activity.pk}")),
    "PATCH /activities/{activity_id}": (TARGETED, lambda w, s, r: Call("PATCH", f"/activities/{s.activity.pk}", {"title": "改名活动"})),
    "GET /activities/{activity_id}/stats": (TARGETED, lambda w, s, r: Call("GET", f"/activities/{s.activity.pk}/stats")),
    "GET /activities/{activity_id}/bookings": (TARGETED, lambda w, s, r: Call("GET", f"/activities/{s.booked_activity.pk}/bookings")),
    "POST /activities/{activity_id}/bookings": (TARGETED, lambda w, s, r: Call("POST", f"/activities/{s.activity.pk}/bookings", _book_body(w, s, r))),
    "POST /activities/{activity_id}/draw": (TARGETED, lambda w, s, r: Call("POST", f"/activities/{s.lottery.pk}/draw", {"seed": "seed-2026"})),
    "GET /activities/{activity_id}/draw": (TARGETED, lambda w, s, r: Call("GET", f"/activities/{s.lottery.pk}/draw")),
    "GET /activities/{activity_id}/public-key": (TARGETED, lambda w, s, r: Call("GET", f"/activities/{s.activity.pk}/public-key")),
    "GET /activities/{activity_id}/revocations": (TARGETED, lambda w, s, r: Call("GET", f"/activities/{s.activity.pk}/revocations")),
    "GET /bookings": (once, lambda w, s, r: Call("GET", "/bookings")),
    "GET /bookings/{booking_id}": (TARGETED, lambda w, s, r: Call("GET", f"/bookings/{s.booking.pk}")),
    "DELETE /bookings/{booking_id}": (TARGETED, lambda w, s, r: Call("DELETE", f"/bookings/{s.booking.pk}")),
    "GET /bookings/{booking_id}/voucher": (TARGETED, lambda w, s, r: Call("GET", f"/bookings/{s.booking.pk}/voucher")),
    "GET /bookings/{booking_id}/voucher.{kind}": (TARGETED, lambda w, s, r: Call("GET", f"/bookings/{s.booking.pk}/voucher.svg")),
    "POST /redemptions": (TARGETED, lambda w, s, r: Call("POST", "/redemptions", {"code": s.voucher, "gate": "G1"})),
    "POST /redemptions/batch": (TARGETED, lambda w, s, r: Call("POST", "/redemptions/batch", _scan_batch(s))),
    "GET /stations/nearest": (once, lambda w, s, r: Call("GET", "/stations/nearest", query={"lat": 39.91, "lng": 116.37, "open_now": "false"})),
    "POST /stations/visits": (TARGETED, lambda w, s, r: Call("POST", "/stations/visits", {"code": s.station_qr, "visitor": "device-1"})),
    "GET /stations": (once, lambda w, s, r: Call("GET", "/stations")),
    "POST /stations": (TARGETED, lambda w, s, r: Call("POST", "/stations", {"code": "STNEW2", "name": "新驿站", "org_code": s.org.code, "address": "北京市", "lat": 39.91, "lng": 116.37, "crs": "wgs84", "hours": "24/7"})),
    "GET /stations/{code}": (TARGETED, lambda w, s, r: Call("GET", f"/stations/{s.station.code}")),
    "PATCH /stations/{code}": (TARGETED, lambda w, s, r: Call("PATCH", f"/stations/{s.station.code}", {"hours": "Mo-Su 08:00-20:00"})),
    "POST /stations/{code}/operators": (TARGETED, lambda w, s, r: Call("POST", f"/stations/{s.station.code}/operators", {"username": w.g.spare_operator})),
    "GET /stations/{code}/qr": (TARGETED, lambda w, s, r: Call("GET", f"/stations/{s.station.code}/qr")),
    "POST /stations/{code}/qr/rotate": (TARGETED, lambda w, s, r: Call("POST", f"/stations/{s.station.code}/qr/rotate")),
    "POST /stations/{code}/visits": (TARGETED, lambda w, s, r: Call("POST", f"/stations/{s.station.code}/visits", {"date": str(timezone.localdate()), "people": 3})),
    "GET /stations/{code}/visits": (TARGETED, lambda w, s, r: Call("GET", f"/stations/{s.station.code}/visits")),
    "POST /imports/stations": (TARGETED, lambda w, s, r: Call("POST", "/imports/stations", form={"file": csv_file("stations.csv", _station_csv(s))})),
    "GET /care/campaigns": (once, lambda w, s, r: Call("GET", "/care/campaigns")),
    "POST /care/campaigns": (TARGETED, lambda w, s, r: Call("POST", "/care/campaigns", {"code": "CNEW1", "title": "两节慰问", "org_code": s.org.code, "budget": "1000.00", "starts_on": "2026-11-01"})),
    "GET /care/campaigns/{code}": (TARGETED, lambda w, s, r: Call("GET", f"/care/campaigns/{s.campaign.code}")),
    "PUT /care/campaigns/{code}/budget": (TARGETED, lambda w, s, r: Call("PUT", f"/care/campaigns/{s.campaign.code}/budget", {"budget": "2000.00", "reason": "追加预算"})),
    "POST /care/campaigns/{code}/allocations": (TARGETED, lambda w, s, r: Call("POST", f"/care/campaigns/{s.campaign.code}/allocations", {"org_code": s.org.code, "amount": "50.00", "date": str(timezone.localdate())})),
    "GET /care/campaigns/{code}/entries": (TARGETED, lambda w, s, r: Call("GET", f"/care/campaigns/{s.campaign.code}/entries")),
    "POST /care/entries/{entry_id}/reverse": (TARGETED, lambda w, s, r: Call("POST", f"/care/entries/{s.allocation.pk}/reverse", {"reason": "拨错了"})),
    "POST /care/campaigns/{code}/visits": (TARGETED, lambda w, s, r: Call("POST", f"/care/campaigns/{s.campaign.code}/visits", _visit_body(s))),
    "GET /care/campaigns/{code}/visits": (TARGETED, lambda w, s, r: Call("GET", f"/care/campaigns/{s.campaign.code}/visits")),
    "GET /care/visits/{visit_id}": (TARGETED, lambda w, s, r: Call("GET", f"/care/visits/{s.visit.pk}")),
    "POST /care/visits/{visit_id}/cancel": (TARGETED, lambda w, s, r: Call("POST", f"/care/visits/{s.visit.pk}/cancel", {"reason": "重复登记"})),
    "GET /care/labour-models": (once, lambda w, s, r: Call("GET", "/care/labour-models")),
    "POST /care/labour-models": (TARGETED, lambda w, s, r: Call("POST", "/care/labour-models", {"name": "王劳模", "level": "national", "unit_name": "环卫", "org_code": s.org.code})),
    "GET /care/labour-models/{lm_id}": (TARGETED, lambda w, s, r: Call("GET", f"/care/labour-models/{s.labour_model.pk}")),
    "GET /stats/payouts": (once, lambda w, s, r: Call("GET", "/stats/payouts", query={"year": 2026})),
    "GET /stats/held": (once, lambda w, s, r: Call("GET", "/stats/held")),
    "GET /stats/members": (once, lambda w, s, r: Call("GET", "/stats/members", query={"year": 2026})),
    "GET /stats/contributions": (once, lambda w, s, r: Call("GET", "/stats/contributions", query={"year": 2026})),
    "GET /stats/bookings": (once, lambda w, s, r: Call("GET", "/stats/bookings", query={"year": 2026})),
    "GET /stats/stations": (once, lambda w, s, r: Call("GET", "/stats/stations", query={"year": 2026})),
    "GET /stats/care": (once, lambda w, s, r: Call("GET", "/stats/care", query={"year": 2026})),
    "GET /stats/{name}.xlsx": (once, lambda w, s, r: Call("GET", "/stats/payouts.xlsx", query={"year": 2026})),
}

PAGE_CALLS: dict[str, tuple[bool, Build]] = {
    "GET home": (once, lambda w, s, r: Call("GET", "/")),
    "GET healthz": (once, lambda w, s, r: Call("GET", "/healthz")),
    "GET readyz": (once, lambda w, s, r: Call("GET", "/readyz")),
    "GET metrics": (once, lambda w, s, r: Call("GET", "/metrics")),
    "GET login": (once, lambda w, s, r: Call("GET", "/login/")),
    "POST logout": (once, lambda w, s, r: Call("POST", "/logout/", form={})),
    "GET m_login": (once, lambda w, s, r: Call("GET", "/m/login/")),
    "GET m_home": (once, lambda w, s, r: Call("GET", "/m/")),
    "GET m_plans": (once, lambda w, s, r: Call("GET", "/m/plans/")),
    "GET m_payouts": (once, lambda w, s, r: Call("GET", "/m/payouts/")),
    "GET m_benefits": (once, lambda w, s, r: Call("GET", "/m/benefits/")),
    "GET m_benefits_remaining": (once, lambda w, s, r: Call("GET", "/m/benefits/remaining/")),
    "POST m_book": (TARGETED, lambda w, s, r: Call("POST", f"/m/benefits/{s.activity.pk}/book/", form={})),
    "POST m_cancel": (TARGETED, lambda w, s, r: Call("POST", f"/m/bookings/{s.booking.pk}/cancel/", form={})),
    "GET m_voucher": (TARGETED, lambda w, s, r: Call("GET", f"/m/bookings/{s.booking.pk}/voucher/")),
    "GET m_stations": (once, lambda w, s, r: Call("GET", "/m/stations/")),
    "GET m_stations_near": (once, lambda w, s, r: Call("GET", "/m/stations/near/", query={"lat": 39.91, "lng": 116.37})),
    "GET m_stations_search": (once, lambda w, s, r: Call("GET", "/m/stations/search/", query={"place": "驿站"})),
    "GET console": (once, lambda w, s, r: Call("GET", "/console/")),
    "GET console_orgs": (once, lambda w, s, r: Call("GET", "/console/orgs/")),
    "GET console_members": (once, lambda w, s, r: Call("GET", "/console/members/")),
    "POST console_members_export": (once, lambda w, s, r: Call("POST", "/console/members/export/", form={"reason": "年度核对"})),
    "GET console_member": (TARGETED, lambda w, s, r: Call("GET", f"/console/members/{s.member.pk}/")),
    "POST console_member#reveal": (TARGETED, lambda w, s, r: Call("POST", f"/console/members/{s.member.pk}/", form={"reason": "核对身份"})),
    # The member holds an active card already: 409 card_active shows the login got through.
    "POST console_member_card": (TARGETED, lambda w, s, r: Call("POST", f"/console/members/{s.member.pk}/cards/", form={"action": "issue", "card_no": "HZ99990001"})),
    "GET console_import_members": (once, lambda w, s, r: Call("GET", "/console/import/members/")),
    "GET console_roster_template": (once, lambda w, s, r: Call("GET", "/console/import/members/template.xlsx")),
    "GET console_activities": (once, lambda w, s, r: Call("GET", "/console/activities/")),
    "GET console_activity_new": (once, lambda w, s, r: Call("GET", "/console/activities/new/")),
    "GET console_labour_models": (once, lambda w, s, r: Call("GET", "/console/labour-models/")),
    "GET console_care": (once, lambda w, s, r: Call("GET", "/console/care/")),
    "GET console_care_campaign": (TARGETED, lambda w, s, r: Call("GET", f"/console/care/{s.campaign.code}/")),
    "POST console_care_campaign#allocate": (TARGETED, lambda w, s, r: Call("POST", f"/console/care/{s.campaign.code}/", form={"action": "allocate", "org": s.org.code, "amount": "10.00", "date": str(timezone.localdate())})),
    "POST console_care_campaign#visit": (TARGETED, lambda w, s, r: Call("POST", f"/console/care/{s.campaign.code}/", form={"action": "visit", **_visit_form(s)})),
    "GET console_activity": (TARGETED, lambda w, s, r: Call("GET", f"/console/activities/{s.activity.pk}/")),
    "GET console_activity_counters": (TARGETED, lambda w, s, r: Call("GET", f"/console/activities/{s.activity.pk}/counters/")),
    "GET console_gate": (once, lambda w, s, r: Call("GET", "/console/gate/")),
    "GET console_stations": (once, lambda w, s, r: Call("GET", "/console/stations/")),
    "GET console_station_new": (once, lambda w, s, r: Call("GET", "/console/stations/new/")),
    "GET console_station": (TARGETED, lambda w, s, r: Call("GET", f"/console/stations/{s.station.code}/")),
    "POST console_station#edit": (TARGETED, lambda w, s, r: Call("POST", f"/console/stations/{s.station.code}/", form={"name": "新名称驿站", "day0": "allday", "day1": "off", "day2": "off", "day3": "off", "day4": "off", "day5": "off", "day6": "off"})),
    "GET console_settlements": (once, lambda w, s, r: Call("GET", "/console/settlements/")),
    "GET console_settlement_job": (once, lambda w, s, r: Call("GET", f"/console/settlements/{w.g.job.pk}/")),
    "GET console_settlement_csv": (once, lambda w, s, r: Call("GET", f"/console/settlements/{w.g.job.pk}/report.csv")),
    "GET console_audit": (once, lambda w, s, r: Call("GET", "/console/audit/")),
    "GET console_stats": (once, lambda w, s, r: Call("GET", "/console/stats/")),
    "GET console_plans": (once, lambda w, s, r: Call("GET", "/console/plans/")),
    "GET console_plan_version": (once, lambda w, s, r: Call("GET", f"/console/plans/{w.g.open_version.pk}/")),
    "POST console_plan_version#edit": (once, lambda w, s, r: Call("POST", f"/console/plans/{w.g.open_version.pk}/", form={"action": "edit", "contribution": "70.00", "waiting_days": "60", "period_end": "2027-12-31"})),
    "POST console_plan_version#enrol": (TARGETED, lambda w, s, r: Call("POST", f"/console/plans/{w.g.open_version.pk}/", form={"action": "enrol", "unit_code": s.org.code})),
    "GET console_contributions": (once, lambda w, s, r: Call("GET", "/console/contributions/", query={"unit": "U1", "year": "2026"})),
    "GET console_claims": (once, lambda w, s, r: Call("GET", "/console/claims/")),
    "GET console_claim_new": (once, lambda w, s, r: Call("GET", "/console/claims/new/")),
    "GET console_claim": (TARGETED, lambda w, s, r: Call("GET", f"/console/claims/{s.claim_submitted.pk}/")),
    "POST console_claim#accept": (TARGETED, lambda w, s, r: Call("POST", f"/console/claims/{s.claim_submitted.pk}/", form={"action": "accept"})),
    "GET console_claim_document": (TARGETED, lambda w, s, r: Call("GET", f"/console/claims/{s.claim_submitted.pk}/documents/{s.document.pk}/")),
    "GET console_payments": (once, lambda w, s, r: Call("GET", "/console/payments/")),
    "POST console_claim#correct": (TARGETED, lambda w, s, r: Call("POST", f"/console/claims/{s.claim_approved.pk}/", form={"action": "correct", "kind": "clawback", "amount": "20.00", "reason_code": "invoice_error", "note": "发票重复"})),
    "GET console_approvals": (once, lambda w, s, r: Call("GET", "/console/approvals/")),
    "POST console_payment_run#release": (once, lambda w, s, r: Call("POST", f"/console/payments/{w.g.draft}/", form={"action": "release"})),
    "GET console_payment_run": (once, lambda w, s, r: Call("GET", f"/console/payments/{w.g.run}/")),
    "POST console_payment_run#confirm": (once, lambda w, s, r: Call("POST", f"/console/payments/{w.g.run}/", form={"action": "confirm", "reference": w.g.item})),
    "GET console_payment_file": (once, lambda w, s, r: Call("GET", f"/console/payments/{w.g.run}/bank.csv")),
}
# fmt: on


# -- the world ------------------------------------------------------------------------------------

ZY_TOML = """
code = "ZY"
name = "住院医疗"
benefit = "inpatient"
period_start = {year}-01-01
period_end = {year}-12-31
contribution = "60.00"
waiting_days = 90
[inpatient]
deductible = "1000.00"
cap = "50000.00"
bands = [ {{ upto = "10000.00", ratio = "0.50" }}, {{ ratio = "0.60" }} ]
"""


def _token(user: User) -> str:
    return token_create(user=user)


def _staff(role: str, org: Any, username: str) -> User:
    return staff_create(
        username=username, password=PASSWORD, org_code=org.code, role=role, check_password=False
    )


def _side(name: str, unit: Any, parent: Any, card_no: str, phone: str) -> SimpleNamespace:
    """One side of the tree: a card-holding member enrolled in ZY 2026 with claims in each open
    state, a member without a card, activities, a booking, a station, a care campaign."""
    s = SimpleNamespace(org=unit, parent=parent)
    s.member_id_number = new_id_number()
    s.member, _ = member_create_or_update(
        id_number=s.member_id_number, name=f"{name}会员", unit=unit, phone=phone
    )
    card_issue(member=s.member, card_no=card_no)
    s.card_no = card_no
    s.no_card, _ = member_create_or_update(id_number=new_id_number(), name=f"{name}无卡", unit=unit)
    return s


def _claims(s: SimpleNamespace, version: Any, filer: User, decider: User) -> None:
    Enrollment.objects.create(
        member=s.member, version=version, unit=s.org, amount=version.contribution, payer="unit"
    )

    def file() -> Any:
        return claim_file(
            actor=filer,
            member=s.member,
            version=version,
            stay=a_stay(),
            requested="3000.00",
            documents=[("bill.pdf", SimpleUploadedFile("bill.pdf", b"%PDF-1.4"))],
        )

    s.claim_submitted = file()
    s.document = s.claim_submitted.documents.get()
    s.claim_accepted = claim_accept(actor=decider, claim=file())
    s.claim_under_review = claim_review(
        actor=decider, claim=claim_accept(actor=decider, claim=file())
    )
    s.claim_approved = claim_approve(actor=decider, claim=file(), amount="500.00", fast_track=True)
    # A correction waiting for its second signature (the threshold lowered for the purpose).
    s.claim_corrected = claim_approve(actor=decider, claim=file(), amount="400.00", fast_track=True)
    with override_settings(HUZHU_SECOND_APPROVAL_ABOVE="50.00"):
        s.correction = claim_correct(
            actor=decider,
            claim=s.claim_corrected,
            kind="clawback",
            amount="100.00",
            reason_code="fraud",
            note="虚假发票",
        )


def _activities(s: SimpleNamespace, booker: User) -> None:
    now, today = timezone.now(), timezone.localdate()

    def make(title: str, mode: str = "fcfs") -> Activity:
        return activity_create(
            actor=None,
            title=title,
            venue="场馆",
            quota=5,
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=10),
            valid_from=today,
            valid_to=today + timedelta(days=30),
            eligible_org=s.org,
            mode=mode,
        )

    s.activity = make("滑雪票")
    s.booked_activity = make("公园票")
    s.booking = booking_create(activity=s.booked_activity, member=s.member, actor=booker)
    s.voucher = voucher_code(s.booking)
    s.lottery = make("温泉票", mode="lottery")
    booking_create(activity=s.lottery, member=s.member, actor=booker)
    Activity.objects.filter(pk=s.lottery.pk).update(
        opens_at=now - timedelta(days=2), closes_at=now - timedelta(days=1)
    )
    s.lottery.refresh_from_db()
    lottery_draw(activity=s.lottery, seed="seed-2026", actor=None)


def _station_and_care(s: SimpleNamespace, code: str) -> None:
    s.station = station_create(
        actor=None,
        code=f"ST{code}",
        name=f"驿站{code}",
        org=s.org,
        address="北京市",
        lat=39.91,
        lng=116.37,
        crs="wgs84",
        hours="24/7",
        services=("rest",),
    )
    s.station_qr = station_qr_content(s.station)
    today = timezone.localdate()
    s.campaign = care_campaign_create(
        actor=None,
        code=f"CC{code}",
        title="寒冬送暖",
        org=s.org,
        budget=Decimal("1000.00"),
        starts_on=today.replace(day=1),
    )
    s.allocation = care_allocation_create(
        campaign=s.campaign, org=s.org, amount=Decimal("100.00"), on=today, actor=None
    )
    s.visit = care_visit_record(
        campaign=s.campaign,
        org=s.org,
        visited_on=today,
        place="环卫站",
        beneficiaries=[BeneficiaryIn(kind="frontline", name="环卫工人", headcount=2)],
        actor=None,
    )
    s.labour_model = labour_model_create(
        actor=None, name=f"{code}劳模", level="national", unit_name="环卫", org=s.org
    )


def build_world() -> World:
    tree = Tree()
    users = {
        "city": _staff(Role.CITY_ADMIN, tree.city, "city"),
        "district": _staff(Role.DISTRICT_ADMIN, tree.xicheng, "district"),
        "unit": _staff(Role.UNIT_ADMIN, tree.u1, "unit"),
        "reviewer": _staff(Role.REVIEWER, tree.xicheng, "reviewer"),
        "gate": _staff(Role.GATE, tree.xicheng, "gate"),
        "operator": _staff(Role.STATION_OPERATOR, tree.xicheng, "operator"),
    }
    outside_filer = _staff(Role.UNIT_ADMIN, tree.u3, "unit-u3")
    spare_operator = _staff(Role.STATION_OPERATOR, tree.city, "spare-operator")

    g = SimpleNamespace(new_id_number=new_id_number(), spare_operator=spare_operator.username)
    version, _ = plan_load_toml(ZY_TOML.format(year=2026).encode(), file="zy2026.toml")
    g.open_version, _ = plan_load_toml(ZY_TOML.format(year=2027).encode(), file="zy2027.toml")

    inside = _side("西城", tree.u1, tree.town, "C0000001", "13812345678")
    outside = _side("怀柔", tree.u3, tree.huairou, "C0000002", "13912345678")
    users["member"] = member_login(member=inside.member)
    for s, filer in ((inside, users["unit"]), (outside, outside_filer)):
        _claims(s, version, filer, users["city"])
        _activities(s, users["city"])
    _station_and_care(inside, "IN")
    _station_and_care(outside, "OUT")
    station_operator_add(station=inside.station, user=users["operator"], actor=None)

    # A payment run with a pending transfer, and one more approved claim left to pay.
    def approved(amount: str) -> None:
        claim = claim_file(
            actor=users["unit"],
            member=inside.member,
            version=version,
            stay=a_stay(),
            requested=amount,
        )
        claim_approve(actor=users["city"], claim=claim, amount=amount, fast_track=True)

    approved("100.00")
    run = payment_run_create(actor=None).run
    payment_run_release(actor=None, run=run)
    g.run = run.reference
    g.item = PaymentItem.objects.get(run=run, member=inside.member).reference
    approved("200.00")
    g.draft = payment_run_create(actor=None).run.reference  # waiting for its release
    approved("300.00")
    g.job = SettlementJob.objects.create(
        file_path="settlements/matrix.csv",
        file_name="matrix.csv",
        status=JobStatus.DONE,
        report={"rows": 0},
    )

    world = World(
        tree=tree,
        users=users,
        tokens={role: _token(user) for role, user in users.items()},
        inside=inside,
        outside=outside,
        g=g,
    )
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        world.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return world


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[World]:
    """Built once, in a transaction rolled back after the module; each cell runs in a savepoint."""
    media = tmp_path_factory.mktemp("matrix-media")
    with (
        override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            MEDIA_ROOT=str(media),
            HUZHU_SMS_BACKEND="huzhu.core.sms.MemoryBackend",
        ),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield build_world()
        transaction.set_rollback(True)


# -- asking ---------------------------------------------------------------------------------------


def send(client: Client, call: Call, prefix: str, headers: dict[str, str]) -> HttpResponse:
    """One request in a savepoint that is rolled back, so no cell sees another's writes."""
    fn = getattr(client, call.method.lower())
    kwargs: dict[str, Any] = dict(headers)
    if call.json is not None:
        kwargs["data"] = json.dumps(call.json)
        kwargs["content_type"] = "application/json"
    elif call.form is not None:
        kwargs["data"] = call.form
    elif call.query is not None:
        kwargs["data"] = call.query
    with transaction.atomic():
        response: HttpResponse = fn(prefix + call.path, **kwargs)
        if getattr(response, "streaming", False):
            # Reading a streamed file to its end lets the test client close it; closing it here
            # would send request_finished, which closes the database connection (PostgreSQL).
            b"".join(response.streaming_content)  # type: ignore[attr-defined]
        transaction.set_rollback(True)
    return response


def _template_re(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def _sides(targeted: bool, cell: tuple[int, int | None]) -> list[tuple[str, int]]:
    inside, outside = cell
    if not targeted:
        assert outside is None, "a row without a target has one status per role"
        return [("in", inside)]
    return [("in", inside), ("out", inside if outside is None else outside)]


def check_row(world: World, row: Row, targeted: bool, build: Build, *, api: bool) -> None:
    failures = []
    for role in ROLES:
        for side, expected in _sides(targeted, row.cells[role]):
            target = world.inside if side == "in" else world.outside
            call = build(world, target, role)
            method, template = row.key.split()
            assert call.method == method, f"{row.key}: the request is a {call.method}"
            if api:
                assert _template_re(template).match(call.path), f"{call.path} is not {template}"
                headers = (
                    {"HTTP_AUTHORIZATION": f"Bearer {world.tokens[role]}"} if role != "anon" else {}
                )
                response = send(world.client(role, page=False), call, "/api/v1", headers)
            else:
                response = send(world.client(role, page=True), call, "", {})
            got = response.status_code
            if got != expected:
                body = b"" if getattr(response, "streaming", False) else response.content[:300]
                failures.append(f"{role:9} {side:3} expected {expected}, got {got}: {body!r}")
            elif api and 400 <= got < 500:
                assert "error" in response.json(), f"{row.key} {role} {side}: not the error shape"
    assert not failures, f"{row.key}\n" + "\n".join(failures)


@pytest.mark.parametrize("key", list(API_ROWS))
def test_api_operation(world: World, key: str) -> None:
    targeted, build = API_CALLS[key]
    check_row(world, API_ROWS[key], targeted, build, api=True)


@pytest.mark.parametrize("key", list(PAGE_ROWS))
def test_page(world: World, key: str) -> None:
    targeted, build = PAGE_CALLS[key]
    check_row(world, PAGE_ROWS[key], targeted, build, api=False)


# -- coverage -------------------------------------------------------------------------------------


def registered_operations() -> set[str]:
    from huzhu.api.main import api

    schema = api.get_openapi_schema(path_prefix="")
    operations = {
        f"{method.upper()} {path}"
        for path, methods in schema["paths"].items()
        for method in methods
    }
    # Ninja mounts one URL pattern per operation, besides its root, schema and docs: an
    # operation left out of the schema would show here as one pattern too many.
    own = {"api-root", "openapi-json", "openapi-view"}
    assert len([p for p in api.urls[0] if p.name not in own]) == len(operations)
    return operations


def registered_pages() -> set[str]:
    from huzhu.web import urls

    names = [p.name for p in urls.urlpatterns]
    assert all(names), "every page has a URL name (the matrix is keyed by it)"
    return set(names)  # type: ignore[arg-type]


def test_every_route_has_a_row() -> None:
    """A new operation or page needs a row (and a request) before this passes."""
    from huzhu import urls

    assert registered_operations() == {k for k in API_ROWS} == set(API_CALLS)
    assert {k.split()[1].split("#")[0] for k in PAGE_ROWS} == registered_pages()
    assert set(PAGE_ROWS) == set(PAGE_CALLS)
    # The project's other routes are Django's own (admin, language switch) and the two above.
    assert [str(p.pattern) for p in urls.urlpatterns] == ["api/v1/", "admin/", "i18n/", ""]


def test_cell_count() -> None:
    cells = 0
    for rows, calls in ((API_ROWS, API_CALLS), (PAGE_ROWS, PAGE_CALLS)):
        for key, row in rows.items():
            targeted = calls[key][0]
            cells += sum(len(_sides(targeted, row.cells[role])) for role in ROLES)
    print(f"permission matrix: {cells} cells")
    assert cells == CELLS
