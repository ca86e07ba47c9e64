"""Member sign-in with a one-time SMS code: five minutes, five tries, once; a login is made for a
phone that names exactly one member."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from huzhu.accounts.models import LoginThrottle, OneTimeCode, Role, User
from huzhu.core import sms
from huzhu.core.errors import DomainError
from huzhu.members.logins import otp_request, otp_sign_in

PHONE = "13812345678"


@pytest.fixture
def outbox(settings: Any) -> list[sms.Sms]:
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.MemoryBackend"
    sms.outbox.clear()
    return sms.outbox


def _send(capture: Any, phone: str = PHONE) -> bool:
    with capture(execute=True):
        return otp_request(phone=phone)


def _code(outbox: list[sms.Sms]) -> str:
    match = re.search(r"\b(\d{6})\b", outbox[-1].text)
    assert match, outbox[-1].text
    return match.group(1)


def test_first_sign_in_creates_the_member_login(
    tree, make_member, outbox, django_capture_on_commit_callbacks
):
    member = make_member(tree.u1, phone="+86 138-1234-5678")
    assert _send(django_capture_on_commit_callbacks) is True
    assert outbox[-1].phone == PHONE
    user = otp_sign_in(phone=PHONE, code=_code(outbox))
    assert (user.role, user.member_id) == (Role.MEMBER, member.pk)
    assert not user.has_usable_password()
    # The code is kept only as a keyed hash.
    stored = OneTimeCode.objects.get()
    assert _code(outbox) not in stored.code_hash and stored.used_at is not None


def test_a_code_works_once(tree, make_member, outbox, django_capture_on_commit_callbacks):
    make_member(tree.u1, phone=PHONE)
    _send(django_capture_on_commit_callbacks)
    code = _code(outbox)
    first = otp_sign_in(phone=PHONE, code=code)
    with pytest.raises(DomainError) as exc:
        otp_sign_in(phone=PHONE, code=code)
    assert exc.value.code == "code_expired"
    assert User.objects.filter(member=first.member).count() == 1


def test_code_expires_after_five_minutes(
    tree, make_member, outbox, django_capture_on_commit_callbacks
):
    make_member(tree.u1, phone=PHONE)
    _send(django_capture_on_commit_callbacks)
    OneTimeCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DomainError) as exc:
        otp_sign_in(phone=PHONE, code=_code(outbox))
    assert exc.value.code == "code_expired"


def test_sixth_try_is_refused_even_with_the_right_code(
    tree, make_member, outbox, django_capture_on_commit_callbacks
):
    make_member(tree.u1, phone=PHONE)
    _send(django_capture_on_commit_callbacks)
    good = _code(outbox)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(DomainError) as exc:
            otp_sign_in(phone=PHONE, code=wrong)
        assert exc.value.code == "wrong_code"
    assert OneTimeCode.objects.get().attempts == 5
    with pytest.raises(DomainError) as exc:
        otp_sign_in(phone=PHONE, code=good)
    assert exc.value.code == "too_many_attempts"


def test_unknown_or_shared_phone_gets_no_code(
    tree, make_member, outbox, django_capture_on_commit_callbacks
):
    assert _send(django_capture_on_commit_callbacks, "13900000000") is False
    make_member(tree.u1, phone="13911112222")
    make_member(tree.u2, phone="13911112222")
    assert _send(django_capture_on_commit_callbacks, "13911112222") is False
    assert outbox == []


def test_resend_waits_a_minute(tree, make_member, outbox, django_capture_on_commit_callbacks):
    make_member(tree.u1, phone=PHONE)
    _send(django_capture_on_commit_callbacks)
    with pytest.raises(DomainError) as exc:
        _send(django_capture_on_commit_callbacks)
    assert exc.value.status == 429
    # A minute later (the limits count in the database, as every app server must see them).
    LoginThrottle.objects.update(window_started_at=F("window_started_at") - timedelta(seconds=61))
    assert _send(django_capture_on_commit_callbacks) is True
    assert len(outbox) == 2


def test_invalid_phone_is_refused(db):
    with pytest.raises(DomainError) as exc:
        otp_request(phone="12345")
    assert exc.value.code == "invalid_phone"


def test_roster_import_and_phone_change_keep_the_phone_hash(tree, city_admin, outbox):
    from huzhu.core.pii import vault
    from huzhu.members.models import Member
    from huzhu.members.roster import members_import
    from tests.conftest import new_id_number

    number = new_id_number()
    members_import(
        f"id_number,name,unit_code,phone\n{number},王五,U1,13800005678\n".encode(),
        file="r.csv",
        actor=city_admin,
    )
    member = Member.objects.get(name="王五")
    assert member.phone_hash == vault().lookup_hash("13800005678")
    # Same mask (138****5678), another number: the change must still be stored.
    members_import(
        f"id_number,name,unit_code,phone\n{number},王五,U1,13899995678\n".encode(),
        file="r.csv",
        actor=city_admin,
    )
    member.refresh_from_db()
    assert member.phone_hash == vault().lookup_hash("13899995678")


def test_data_migration_fills_phone_hashes_of_existing_members(tree, make_member):
    import importlib

    from django.apps import apps

    from huzhu.core.pii import vault
    from huzhu.members.models import Member

    member = make_member(tree.u1, phone="13712340000")
    no_phone = make_member(tree.u1)
    Member.objects.update(phone_hash="")
    migration = importlib.import_module("huzhu.members.migrations.0002_member_phone_hash")
    migration.fill_phone_hashes(apps, None)
    member.refresh_from_db()
    no_phone.refresh_from_db()
    assert member.phone_hash == vault().lookup_hash("13712340000")
    assert no_phone.phone_hash == ""


def test_an_erased_member_can_no_longer_sign_in_by_phone(
    tree, make_member, make_staff, outbox, django_capture_on_commit_callbacks
):
    from huzhu.privacy import member_erase

    member = make_member(tree.u1, phone=PHONE)
    member_erase(member=member, actor=make_staff(Role.CITY_ADMIN, tree.city), reason="本人申请")
    member.refresh_from_db()
    assert member.phone_hash == ""
    assert _send(django_capture_on_commit_callbacks) is False


def test_pii_rotation_recomputes_phone_hashes(tree, make_member, settings, monkeypatch):
    from huzhu.audit.pii_rotate import pii_rotate
    from huzhu.core.pii import vault
    from huzhu.members.models import Member

    member = make_member(tree.u1, phone=PHONE)
    settings.HUZHU_PII_KEY = settings.HUZHU_PII_KEY  # restored by the fixture afterwards
    monkeypatch.setenv("HUZHU_PII_KEY", settings.HUZHU_PII_KEY)  # no key file is written
    pii_rotate("a-new-key-for-this-test-only-0123456789")
    member = Member.objects.get(pk=member.pk)
    assert member.phone_hash == vault().lookup_hash(PHONE)
