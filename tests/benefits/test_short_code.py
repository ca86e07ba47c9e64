"""INTERFACES "Vouchers a person can read out": a 10-character Crockford base32 short code that
a gate may type instead of scanning the QR, redeemed exactly as the full code."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from huzhu.accounts.models import Role
from huzhu.benefits import vouchers
from huzhu.benefits.models import Booking, BookingStatus, Scan
from tests.benefits.conftest import make_activity

CROCKFORD_10 = re.compile(r"^[0-9A-HJKMNP-TV-Z]{10}$")


@pytest.fixture
def gate(tree, make_staff):
    return make_staff(Role.GATE, tree.huairou)


@pytest.fixture
def booked(tree, card_holder, member_api):
    ski = make_activity(tree.huairou, valid_from=timezone.localdate() - timedelta(days=1))
    api = member_api(card_holder(tree.u3))
    booking = api.post(f"/activities/{ski.pk}/bookings", {}).json()
    return booking["id"], api


def test_the_voucher_carries_a_short_code_that_stays_the_same(booked):
    booking_id, api = booked
    first = api.get(f"/bookings/{booking_id}/voucher").json()
    again = api.get(f"/bookings/{booking_id}/voucher").json()
    assert CROCKFORD_10.match(first["short_code"]), first["short_code"]
    assert again["short_code"] == first["short_code"]
    assert Booking.objects.get(pk=booking_id).short_code == first["short_code"]


def test_a_gate_redeems_a_short_code_typed_in_lower_case_with_spaces_and_dashes(
    booked, gate, api_as
):
    booking_id, api = booked
    short = api.get(f"/bookings/{booking_id}/voucher").json()["short_code"]
    typed = f" {short[:4].lower()} - {short[4:8].lower()}  {short[8:].lower()} "
    g = api_as(gate)
    r = g.post("/redemptions", {"code": typed, "gate": "东门1号"})
    assert r.status_code == 200, r.content
    assert r.json()["result"] == "redeemed" and r.json()["booking"] == booking_id
    assert Booking.objects.get(pk=booking_id).status == BookingStatus.REDEEMED
    # Used once: the short code and the QR's full code are the same voucher.
    full = api.get(f"/bookings/{booking_id}/voucher").json()["code"]
    for code in (short, full):
        again = g.post("/redemptions", {"code": code, "gate": "西门2号"})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_redeemed"
        assert again.json()["error"]["details"]["gate"] == "东门1号"


def test_letters_read_as_digits_are_the_digits(booked, gate, api_as):
    booking_id, api = booked
    short = api.get(f"/bookings/{booking_id}/voucher").json()["short_code"]
    misread = short.replace("1", "l").replace("0", "O")
    r = api_as(gate).post("/redemptions", {"code": vouchers.short_code_shown(misread), "gate": "g"})
    assert r.status_code == 200 and r.json()["booking"] == booking_id


def test_an_unknown_short_code_is_an_invalid_code_and_logged(booked, gate, api_as):
    booking_id, api = booked
    short = api.get(f"/bookings/{booking_id}/voucher").json()["short_code"]
    other = next(c for c in ("0000000000", "ZZZZZZZZZZ") if c != short)
    r = api_as(gate).post("/redemptions", {"code": other, "gate": "g"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_code"
    assert Booking.objects.get(pk=booking_id).status == BookingStatus.BOOKED
    assert list(Scan.objects.values_list("result", flat=True)) == ["invalid_code"]


def test_a_cancelled_bookings_short_code_is_refused(booked, gate, api_as):
    booking_id, api = booked
    short = api.get(f"/bookings/{booking_id}/voucher").json()["short_code"]
    api.delete(f"/bookings/{booking_id}")
    r = api_as(gate).post("/redemptions", {"code": short, "gate": "g"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "voucher_cancelled"
    assert api.get(f"/bookings/{booking_id}/voucher").status_code == 409


def test_another_organisers_gate_cannot_redeem_the_short_code(booked, tree, make_staff, api_as):
    booking_id, api = booked
    short = api.get(f"/bookings/{booking_id}/voucher").json()["short_code"]
    elsewhere = make_staff(Role.GATE, tree.xicheng)
    r = api_as(elsewhere).post("/redemptions", {"code": short, "gate": "g"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_code"
    assert Booking.objects.get(pk=booking_id).status == BookingStatus.BOOKED


@given(st.text(alphabet=vouchers.CROCKFORD, min_size=10, max_size=10), st.booleans())
def test_a_short_code_reads_back_however_it_is_written(code, lower):
    shown = vouchers.short_code_shown(code)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", shown)
    typed = shown.lower() if lower else shown
    assert vouchers.short_code_read(typed) == code
    assert vouchers.short_code_read(" ".join(typed)) == code


@given(st.text(max_size=60))
def test_text_that_is_not_a_short_code_is_not_read_as_one(text):
    read = vouchers.short_code_read(text)
    assert read is None or CROCKFORD_10.match(read)


def test_fresh_short_codes_are_crockford_and_differ():
    codes = {vouchers.short_code_new() for _ in range(1000)}
    assert len(codes) == 1000 and all(CROCKFORD_10.match(c) for c in codes)
