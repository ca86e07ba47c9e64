"""INTERFACES "Bounds" for activities: quotas from 0 to 1,000,000 and dates from 1900-01-01 to
2099-12-31, as ISO text. Anything else is a 400/422 naming the field, never a 500; no quota row
can hold more (a CHECK), so no sum over an activity's rows can overflow.

The attack this answers: a quota of 2**63 was accepted (8 shards of 2**60) and from then on
SQLite's SUM raised "integer overflow" on the benefits list, the member page and the console."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from huzhu import cli
from huzhu.accounts.models import Role
from huzhu.benefits.activities import activity_create, activity_update
from huzhu.benefits.models import Activity, Quota
from huzhu.benefits.selectors import total_quota
from huzhu.core.bounds import MAX_QUOTA
from huzhu.core.errors import DomainError
from tests.benefits.conftest import login_for, make_activity
from tests.conftest import refused_naming


@pytest.fixture
def huairou_admin(tree, make_staff):
    return make_staff(Role.DISTRICT_ADMIN, tree.huairou)


def _body(**changes: Any) -> dict[str, Any]:
    return {
        "title": "职工免费滑雪",
        "venue": "怀柔滑雪场",
        "quota": 100,
        "opens_at": "2026-01-13T12:00:00",
        "closes_at": "2026-02-28T23:59:59",
        "valid_from": "2026-01-13",
        "valid_to": "2026-03-15",
        "eligible_org": "BJ16",
        **changes,
    }


TOO_BIG = [MAX_QUOTA + 1, 2**31, 2**63 - 1, 2**63, 2**64, 99999999999999999999]


@pytest.mark.parametrize("quota", TOO_BIG)
def test_a_quota_above_a_million_is_refused_naming_the_field(tree, huairou_admin, api_as, quota):
    r = api_as(huairou_admin).post("/activities", _body(quota=quota))
    assert refused_naming(r, "quota"), r.content
    assert not Activity.objects.exists() and not Quota.objects.exists()


@pytest.mark.parametrize("quota", [-1, 0.5, 1e3, "1e3", "١٠٠", "９９", True, None])
def test_a_quota_that_is_not_a_whole_number_from_0_is_refused(tree, huairou_admin, api_as, quota):
    r = api_as(huairou_admin).post("/activities", _body(quota=quota))
    assert refused_naming(r, "quota"), r.content
    assert not Activity.objects.exists()


def test_a_quota_of_a_million_is_accepted(tree, huairou_admin, api_as):
    r = api_as(huairou_admin).post("/activities", _body(quota=MAX_QUOTA))
    assert r.status_code == 201, r.content
    assert r.json()["quota"] == MAX_QUOTA and r.json()["remaining"] == MAX_QUOTA


def test_a_quota_of_zero_is_refused_on_creation_and_allowed_as_a_change(
    tree, huairou_admin, api_as
):
    api = api_as(huairou_admin)
    assert refused_naming(api.post("/activities", _body(quota=0)), "quota")
    created = api.post("/activities", _body()).json()
    r = api.patch(f"/activities/{created['id']}", {"quota": 0})
    assert r.status_code == 200 and r.json()["quota"] == 0


@pytest.mark.parametrize("quota", [MAX_QUOTA + 1, 2**63, -1, "1e3"])
def test_a_changed_quota_above_a_million_is_refused_naming_the_field(
    tree, huairou_admin, api_as, quota
):
    api = api_as(huairou_admin)
    created = api.post("/activities", _body()).json()
    assert refused_naming(api.patch(f"/activities/{created['id']}", {"quota": quota}), "quota")
    r = api.patch(f"/activities/{created['id']}", {"quota": MAX_QUOTA})
    assert r.status_code == 200 and r.json()["quota"] == MAX_QUOTA


@pytest.mark.parametrize("quota", [MAX_QUOTA + 1, 2**63, 0, -5])
def test_a_day_quota_outside_1_to_a_million_is_refused_naming_the_field(
    tree, huairou_admin, api_as, quota
):
    body = _body(day_quotas=[{"day": "2026-01-20", "quota": quota}])
    r = api_as(huairou_admin).post("/activities", body)
    assert refused_naming(r, "quota") or refused_naming(r, "day_quotas"), r.content
    assert not Activity.objects.exists()


BAD_DAYS = ["0001-01-01", "1899-12-31", "2100-01-01", "9999-12-31", "٢٠٢٦-01-20", "２０２６-01-20"]


@pytest.mark.parametrize("field", ["valid_from", "valid_to"])
@pytest.mark.parametrize("value", [*BAD_DAYS, 1700000000, "1700000000", "2026-02-30"])
def test_a_validity_date_outside_1900_to_2099_is_refused_naming_the_field(
    tree, huairou_admin, api_as, field, value
):
    r = api_as(huairou_admin).post("/activities", _body(**{field: value}))
    assert refused_naming(r, field), r.content
    assert not Activity.objects.exists()


@pytest.mark.parametrize("field", ["opens_at", "closes_at"])
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00",
        "1899-12-31T23:59:59",
        "2100-01-01T00:00:00",
        "9999-12-31T23:59:59",
        1700000000,
        "1700000000",
        "٢٠٢٦-01-13T12:00:00",
    ],
)
def test_a_booking_window_outside_1900_to_2099_is_refused_naming_the_field(
    tree, huairou_admin, api_as, field, value
):
    r = api_as(huairou_admin).post("/activities", _body(**{field: value}))
    assert refused_naming(r, field), r.content
    assert not Activity.objects.exists()


@pytest.mark.parametrize("day", ["0001-01-01", "2100-01-01", 1700000000])
def test_a_day_quota_on_a_day_outside_1900_to_2099_is_refused(tree, huairou_admin, api_as, day):
    r = api_as(huairou_admin).post("/activities", _body(day_quotas=[{"day": day, "quota": 5}]))
    assert refused_naming(r, "day"), r.content


def test_dates_on_the_bounds_are_accepted(tree, huairou_admin, api_as):
    body = _body(
        opens_at="1900-01-01T00:00:00",
        closes_at="2099-12-31T23:59:59",
        valid_from="1900-01-01",
        valid_to="2099-12-31",
        day_quotas=[{"day": "1900-01-01", "quota": 1}, {"day": "2099-12-31", "quota": MAX_QUOTA}],
    )
    api = api_as(huairou_admin)
    r = api.post("/activities", body)
    assert r.status_code == 201, r.content
    out = r.json()
    assert (out["valid_from"], out["valid_to"]) == ("1900-01-01", "2099-12-31")
    assert out["opens_at"].startswith("1900-01-01") and out["closes_at"].startswith("2099-12-31")
    assert api.get(f"/activities/{out['id']}/stats").status_code == 200


@pytest.mark.parametrize("field", ["valid_from", "valid_to", "opens_at", "closes_at"])
def test_a_changed_date_outside_1900_to_2099_is_refused_naming_the_field(
    tree, huairou_admin, api_as, field
):
    api = api_as(huairou_admin)
    created = api.post("/activities", _body()).json()
    value = "2100-01-01" if field.startswith("valid") else "2100-01-01T00:00:00"
    assert refused_naming(api.patch(f"/activities/{created['id']}", {field: value}), field)


@pytest.mark.parametrize(("field", "limit"), [("title", 200), ("venue", 200), ("group", 100)])
def test_text_longer_than_its_column_is_refused_naming_the_field(
    tree, huairou_admin, api_as, field, limit
):
    api = api_as(huairou_admin)
    assert refused_naming(api.post("/activities", _body(**{field: "长" * (limit + 1)})), field)
    assert api.post("/activities", _body(**{field: "长" * limit})).status_code == 201


def test_the_services_refuse_what_the_api_refuses(tree):
    now = timezone.now()
    kwargs: dict[str, Any] = {
        "actor": None,
        "title": "t",
        "venue": "v",
        "opens_at": now,
        "closes_at": now + timedelta(days=1),
        "valid_from": date(2026, 1, 1),
        "valid_to": date(2026, 2, 1),
        "eligible_org": tree.huairou,
    }
    for quota in (2**63, MAX_QUOTA + 1, 0):
        with pytest.raises(DomainError) as exc:
            activity_create(quota=quota, **kwargs)
        assert exc.value.details["field"] == "quota"
    with pytest.raises(DomainError) as exc:
        activity_create(quota=5, **{**kwargs, "valid_from": date(1, 1, 1)})
    assert exc.value.details["field"] == "valid_from"
    with pytest.raises(DomainError) as exc:
        activity_create(quota=5, day_quotas={date(2026, 1, 5): 2**63}, **kwargs)
    assert exc.value.details["field"] == "day_quotas"
    activity = activity_create(quota=5, **kwargs)
    with pytest.raises(DomainError) as exc:
        activity_update(activity=activity, actor=None, quota=2**63)
    assert exc.value.details["field"] == "quota"
    assert total_quota(activity).size == 5


def test_no_quota_row_can_hold_more_than_a_million(tree):
    activity = make_activity(tree.huairou, quota=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Quota.objects.filter(activity=activity).update(size=MAX_QUOTA + 1)
    Quota.objects.filter(activity=activity).update(size=MAX_QUOTA)


def test_after_a_quota_of_2_63_is_refused_the_list_the_member_page_and_the_console_read_fine(
    tree, huairou_admin, api_as, card_holder
):
    api = api_as(huairou_admin)
    assert refused_naming(api.post("/activities", _body(quota=2**63)), "quota")
    for size in (MAX_QUOTA, MAX_QUOTA):  # two activities at the bound: sums stay far from 2**63
        assert api.post("/activities", _body(quota=size)).status_code == 201
    listed = api.get("/activities")
    assert listed.status_code == 200 and {a["quota"] for a in listed.json()["items"]} == {MAX_QUOTA}
    member_page = Client()
    member_page.force_login(login_for(card_holder(tree.u3)))
    assert member_page.get("/m/benefits/").status_code == 200
    console = Client()
    console.force_login(huairou_admin)
    assert console.get("/console/activities/").status_code == 200
    assert cli.main(["benefits", "list"]) == 0


@pytest.mark.parametrize("day", ["0001-01-01", "2100-01-01", "٢٠٢٦-01-20", 1700000000])
def test_a_booking_for_a_day_outside_1900_to_2099_is_refused_naming_the_day(
    tree, card_holder, member_api, day
):
    activity = make_activity(tree.huairou)
    r = member_api(card_holder(tree.u3)).post(f"/activities/{activity.pk}/bookings", {"day": day})
    assert refused_naming(r, "day"), r.content


@pytest.mark.parametrize("day", ["0001-01-01", "٢٠٢٦-01-20", "2026-02-30"])
def test_the_member_page_refuses_a_booking_day_that_is_no_date(tree, card_holder, day):
    today = timezone.localdate()
    activity = make_activity(tree.huairou, day_quotas={today + timedelta(days=1): 3})
    page = Client()
    page.force_login(login_for(card_holder(tree.u3)))
    r = page.post(f"/m/benefits/{activity.pk}/book/", {"day": day})
    assert r.status_code == 400 and "day：" in r.content.decode()
    assert not activity.bookings.exists()


@pytest.mark.parametrize("scanned_at", ["0001-01-01T00:00:00", "2100-01-01T00:00:00", 1700000000])
def test_an_offline_scan_outside_1900_to_2099_is_refused_naming_the_field(
    tree, make_staff, api_as, scanned_at
):
    gate = make_staff(Role.GATE, tree.huairou)
    body = {"gate": "g1", "scans": [{"code": "x", "scanned_at": scanned_at}]}
    assert refused_naming(api_as(gate).post("/redemptions/batch", body), "scanned_at")


def test_a_draw_seed_longer_than_its_column_is_refused(tree, huairou_admin, api_as):
    activity = make_activity(tree.huairou, mode="lottery", actor=huairou_admin)
    r = api_as(huairou_admin).post(f"/activities/{activity.pk}/draw", {"seed": "s" * 201})
    assert refused_naming(r, "seed"), r.content


def _migrate(target: list[tuple[str, str]] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(target or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_quotas_stored_above_a_million_are_brought_within_bounds_by_the_migration(
    tree, empty_append_only_tables
):
    big = make_activity(tree.huairou, quota=16_000, shards=8)
    Quota.objects.filter(activity=big, shard=3).update(used=7)
    daily = make_activity(tree.huairou, quota=10, day_quotas={timezone.localdate(): 4})
    fine = make_activity(tree.huairou, quota=30)
    _migrate([("benefits", "0004_split_existing_totals")])
    try:
        with connection.cursor() as cur:  # as an earlier release let them in
            cur.execute(
                "UPDATE benefits_quota SET size = 5000000 + used WHERE activity_id = %s", [big.pk]
            )
            cur.execute(
                "UPDATE benefits_quota SET size = 2000000 WHERE activity_id = %s "
                "AND day IS NOT NULL",
                [daily.pk],
            )
    finally:
        _migrate()
    assert total_quota(big).size == MAX_QUOTA and total_quota(big).used == 7
    shards = Quota.objects.filter(activity=big).order_by("shard")
    # the 7 places given out stay where they are; the free ones are shared again
    assert [q.size - q.used for q in shards] == [125_000] + [124_999] * 7
    assert Quota.objects.get(activity=daily, day__isnull=False).size == MAX_QUOTA
    assert total_quota(daily).size == 10 and total_quota(fine).size == 30
