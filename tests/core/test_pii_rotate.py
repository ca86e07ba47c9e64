"""Rotating HUZHU_PII_KEY re-encrypts everything and keeps every lookup working."""

from __future__ import annotations

import pytest
from django.conf import settings

from huzhu.audit.pii_rotate import pii_rotate
from huzhu.members.models import Member
from huzhu.members.services import member_find, member_reveal_id_number
from tests.conftest import new_id_number


@pytest.fixture
def restore_key():
    from huzhu.core.pii import _vault_for

    before = settings.HUZHU_PII_KEY
    yield
    settings.HUZHU_PII_KEY = before
    _vault_for.cache_clear()


def test_rotation_keeps_members_findable_and_readable(
    tree, make_member, xicheng_admin, restore_key, monkeypatch
):
    monkeypatch.setenv("HUZHU_PII_KEY", settings.HUZHU_PII_KEY)  # do not touch the key file
    number = new_id_number()
    member = make_member(tree.u1, id_number=number, phone="13800138000")
    before = Member.objects.values_list("id_cipher", "id_hash", "phone_cipher").get()
    counts = pii_rotate("a-brand-new-key-for-this-test")
    assert counts["members_member.id_cipher"] == 1
    after = Member.objects.values_list("id_cipher", "id_hash", "phone_cipher").get()
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert member_find(number) == member
    member.refresh_from_db()
    assert member_reveal_id_number(member=member, actor=xicheng_admin, reason="核对") == number


def test_rotating_to_the_same_key_is_refused(db, restore_key):
    with pytest.raises(ValueError):
        pii_rotate(settings.HUZHU_PII_KEY)
