"""The lean FCFS booking path (one statement on PostgreSQL, the ORM transaction elsewhere) keeps
every rule: audit in the same transaction, first answers replayed, per-process activity cache
that an edit invalidates, two round trips per booking on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from huzhu.accounts.models import ApiToken, Role
from huzhu.audit.models import AuditEvent
from huzhu.benefits.models import Booking, IdempotencyKey, Quota
from huzhu.members.logins import _token_lookup
from tests.benefits.conftest import make_activity


def _book(api, activity, **extra):
    return api.post(f"/activities/{activity.pk}/bookings", {}, **extra)


def test_a_booking_is_audited_with_its_actor_and_organisation(tree, card_holder, member_api):
    ski = make_activity(tree.huairou, quota=3)
    member = card_holder(tree.u3)
    r = _book(member_api(member), ski)
    assert r.status_code == 201
    event = AuditEvent.objects.get(action="booking.create")
    assert event.object_type == "benefits.booking" and event.object_id == str(r.json()["id"])
    assert event.actor is not None and event.actor.member_id == member.pk
    assert event.org_path == tree.u3.path and event.data == {"activity": ski.pk}


def test_a_refusal_leaves_no_booking_no_quota_and_no_audit(tree, card_holder, member_api):
    ski = make_activity(tree.huairou, quota=1)
    _book(member_api(card_holder(tree.u3)), ski)
    late = member_api(card_holder(tree.u3))
    assert _book(late, ski).json()["error"]["code"] == "sold_out"
    assert Booking.objects.count() == 1 and Quota.objects.get(activity=ski).used == 1
    assert AuditEvent.objects.filter(action="booking.create").count() == 1
    assert not IdempotencyKey.objects.exists()  # nothing to remember without a key


def test_sold_out_with_a_key_is_remembered_without_one_it_is_not(tree, card_holder, member_api):
    ski = make_activity(tree.huairou, quota=1)
    first = member_api(card_holder(tree.u3))
    booking = _book(first, ski).json()
    keyed, plain = member_api(card_holder(tree.u3)), member_api(card_holder(tree.u3))
    assert _book(keyed, ski, HTTP_IDEMPOTENCY_KEY="k").json()["error"]["code"] == "sold_out"
    assert _book(plain, ski).json()["error"]["code"] == "sold_out"
    first.delete(f"/bookings/{booking['id']}")
    assert _book(keyed, ski, HTTP_IDEMPOTENCY_KEY="k").json()["error"]["code"] == "sold_out"
    assert _book(plain, ski).status_code == 201


def test_a_key_first_used_for_another_activity_is_refused(tree, card_holder, member_api):
    ski, park = make_activity(tree.huairou), make_activity(tree.huairou, title="游园")
    api = member_api(card_holder(tree.u3))
    assert _book(api, ski, HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    r = _book(api, park, HTTP_IDEMPOTENCY_KEY="same")
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"


def test_a_second_booking_in_the_group_is_refused_and_replayed_with_its_key(
    tree, card_holder, member_api
):
    ski = make_activity(tree.huairou, group="冰雪")
    park = make_activity(tree.huairou, group="冰雪", title="游园")
    api = member_api(card_holder(tree.u3))
    assert _book(api, ski).status_code == 201
    for _ in range(2):
        r = _book(api, park, HTTP_IDEMPOTENCY_KEY="g")
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_booked_in_group"
    assert Quota.objects.get(activity=park).used == 0


def test_a_window_edit_is_seen_at_once(tree, card_holder, member_api, api_as, make_staff):
    admin = api_as(make_staff(Role.DISTRICT_ADMIN, tree.huairou))
    ski = make_activity(tree.huairou, quota=5)
    assert _book(member_api(card_holder(tree.u3)), ski).status_code == 201  # now cached
    closed = (timezone.now() - timedelta(minutes=1)).isoformat()
    opened = (timezone.now() - timedelta(hours=2)).isoformat()
    assert (
        admin.patch(f"/activities/{ski.pk}", {"opens_at": opened, "closes_at": closed}).status_code
        == 200
    )
    r = _book(member_api(card_holder(tree.u3)), ski)
    assert r.status_code == 409 and r.json()["error"]["code"] == "window_closed"


def test_a_cached_activity_is_still_hidden_from_members_outside(tree, card_holder, member_api):
    ski = make_activity(tree.huairou)
    assert _book(member_api(card_holder(tree.u3)), ski).status_code == 201
    assert _book(member_api(card_holder(tree.u1)), ski).status_code == 404


def test_a_revoked_token_books_nothing(tree, card_holder, member_api):
    ski = make_activity(tree.huairou)
    api = member_api(card_holder(tree.u3))
    ApiToken.objects.update(revoked_at=timezone.now())
    assert _book(api, ski).status_code == 401
    assert not Booking.objects.exists()


@pytest.mark.postgres
def test_a_member_books_in_two_round_trips(tree, card_holder, member_api):
    ski = make_activity(tree.huairou)
    apis = [member_api(card_holder(tree.u3)) for _ in range(2)]
    _book(apis[0], ski, HTTP_IDEMPOTENCY_KEY="a")  # reads the activity into the cache
    with CaptureQueriesContext(connection) as queries:
        r = _book(apis[1], ski, HTTP_IDEMPOTENCY_KEY="b")
    assert r.status_code == 201
    # the token lookup (login, member, unit, card) and the booking statement; the savepoint
    # is the test's transaction (a request runs the statement in autocommit)
    sent = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(sent) == 2, sent


@pytest.mark.postgres
def test_a_refusal_inside_a_callers_transaction_leaves_its_commit_durable(
    tree, card_holder, member_api
):
    ski = make_activity(tree.huairou, quota=1)
    _book(member_api(card_holder(tree.u3)), ski)
    # the test runs in a transaction, as a caller's atomic block would
    refused = _book(member_api(card_holder(tree.u3)), ski, HTTP_IDEMPOTENCY_KEY="late")
    assert refused.json()["error"]["code"] == "sold_out"
    with connection.cursor() as cur:
        cur.execute("SHOW synchronous_commit")
        assert cur.fetchone()[0] == "on"


@pytest.mark.postgres
def test_the_hot_statements_are_planned_once_per_connection(tree, card_holder, member_api):
    """PostgreSQL plans a prepared statement afresh on every run (a custom plan) when it judges
    the generic plan worse; for the token lookup that planning cost more than the lookup. With
    the card status as a parameter it did so on a city's data (not on a test's few rows): the
    token hash is its only parameter."""
    assert _token_lookup().count("%s") == 1
    ski = make_activity(tree.huairou, quota=20)
    for i in range(8):
        _book(member_api(card_holder(tree.u3)), ski, HTTP_IDEMPOTENCY_KEY=f"k{i}")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT statement, generic_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%%key_hash%%' OR statement LIKE '%%benefits_quota%%'"
        )
        plans = {("token" if "key_hash" in s else "booking"): n for s, n in cur.fetchall()}
    assert plans.get("token", 0) > 0 and plans.get("booking", 0) > 0, plans
