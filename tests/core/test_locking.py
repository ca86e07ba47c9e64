"""core.locking: one short timeout, set once per transaction, and a lock held too long is Busy
with the caller's message, never a hang or a 500."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy, override

from huzhu.core import locking
from huzhu.core.errors import Busy
from huzhu.members.models import Organisation
from tests.faults import second_connection


def test_a_locked_database_is_busy_with_the_message_in_the_callers_language(db):
    message = gettext_lazy("系统繁忙，请稍后重试")
    with override("en"), pytest.raises(Busy) as busy, locking.busy_on_lock_failure(message):
        raise OperationalError("database is locked")
    assert busy.value.code == "busy" and busy.value.message == "Busy, please try again shortly"


def test_another_database_error_is_not_busy(db):
    with pytest.raises(OperationalError), locking.short_locks():
        raise OperationalError("no such table: x")


@pytest.mark.postgres
def test_short_locks_sets_the_timeout_once_for_every_lock_inside(tree):
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), locking.short_locks():
        locking.locked_row(Organisation.objects.all(), tree.u1.pk)
        locking.locked_rows(Organisation.objects.filter(parent=tree.town))
    sent = [q["sql"] for q in queries.captured_queries]
    assert sum("lock_timeout" in s for s in sent) == 1, sent


@pytest.mark.postgres
def test_the_timeout_is_the_one_set_now(tree, monkeypatch):
    monkeypatch.setattr(locking, "LOCK_TIMEOUT", "150ms")
    with transaction.atomic(), locking.short_locks(), connection.cursor() as cur:
        cur.execute("SHOW lock_timeout")
        assert cur.fetchone()[0] == "150ms"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("inside_a_block", [True, False], ids=["short_locks", "alone"])
def test_a_row_held_past_the_timeout_is_busy(tree, monkeypatch, inside_a_block):
    monkeypatch.setattr(locking, "LOCK_TIMEOUT", "100ms")
    with second_connection(autocommit=False) as other:
        other.execute("SELECT FROM members_organisation WHERE id = %s FOR UPDATE", [tree.u1.pk])
        with pytest.raises(Busy) as busy, transaction.atomic():
            block = (
                locking.short_locks("占用中") if inside_a_block else locking.busy_on_lock_failure()
            )
            with block:
                locking.locked_row(Organisation.objects.all(), tree.u1.pk)
        other.rollback()
    assert busy.value.message == ("占用中" if inside_a_block else str(locking.BUSY))
