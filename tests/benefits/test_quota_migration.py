"""Migration benefits 0003: totals that existed before quota shards are split as new ones are,
and going back merges them into one row again, keeping every place given out."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from huzhu.benefits import rules
from huzhu.benefits.models import Quota
from huzhu.benefits.selectors import total_quota
from tests.benefits.conftest import make_activity

BEFORE = ("benefits", "0002_drop_covered_indexes")


def _migrate(target: list[tuple[str, str]] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(target or executor.loader.graph.leaf_nodes())


def _rows(activity: object) -> list[tuple[int, int, int]]:
    return list(
        Quota.objects.filter(activity=activity, day__isnull=True)
        .order_by("shard")
        .values_list("shard", "size", "used")
    )


@pytest.mark.django_db(transaction=True)
def test_totals_are_merged_going_back_and_split_going_forward(tree, empty_append_only_tables):
    rush = make_activity(tree.huairou, quota=16_000, shards=8)
    Quota.objects.filter(activity=rush, shard__in=(2, 5)).update(used=7)  # 14 given out
    small = make_activity(tree.huairou, quota=30)
    Quota.objects.filter(activity=small).update(used=3)
    _migrate([BEFORE])
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT activity_id, size, used FROM benefits_quota WHERE day IS NULL "
                "ORDER BY activity_id"
            )
            assert cur.fetchall() == [(rush.pk, 16_000, 14), (small.pk, 30, 3)]
    finally:
        _migrate()
    # As a new activity of that size: 8 shards, the places given out on shard 0.
    free = rules.shard_sizes(16_000 - 14, rules.shard_count(16_000))
    assert _rows(rush) == [(0, 14 + free[0], 14)] + [(i, free[i], 0) for i in range(1, 8)]
    assert total_quota(rush).size == 16_000 and total_quota(rush).used == 14
    assert _rows(small) == [(0, 30, 3)]
