"""Quota shards (0003): an activity's total quota over several rows (rules.shard_count).

Totals that exist already are split as new ones would be: the places given out stay on shard 0
and the free ones are shared evenly, so that an activity created before this release is sharded
for its rush too. Going back merges the shards into one row again. (Its own migration: on
PostgreSQL a table whose rows changed cannot be altered in the same transaction.)
"""

from typing import Any

from django.db import migrations

# As huzhu.benefits.rules at this release (a migration must not change with later code).
SHARDS_MAX, PLACES_PER_SHARD = 8, 500


def split_totals(apps: Any, schema_editor: Any) -> None:
    Quota = apps.get_model("benefits", "Quota")
    for total in Quota.objects.filter(day__isnull=True, shard=0).order_by("pk"):
        count = max(1, min(SHARDS_MAX, total.size // PLACES_PER_SHARD))
        if count == 1:
            continue
        each, rest = divmod(total.size - total.used, count)
        free = [each + (1 if i < rest else 0) for i in range(count)]
        total.size = total.used + free[0]
        total.save(update_fields=["size"])
        Quota.objects.bulk_create(
            Quota(activity_id=total.activity_id, day=None, shard=i, size=free[i], used=0)
            for i in range(1, count)
        )


def merge_totals(apps: Any, schema_editor: Any) -> None:
    Quota = apps.get_model("benefits", "Quota")
    for total in Quota.objects.filter(day__isnull=True, shard=0).order_by("pk"):
        others = Quota.objects.filter(activity_id=total.activity_id, day__isnull=True, shard__gt=0)
        for shard in others:
            total.size += shard.size
            total.used += shard.used
        total.save(update_fields=["size", "used"])
        others.delete()


class Migration(migrations.Migration):
    dependencies = [("benefits", "0003_quota_shards")]

    operations = [migrations.RunPython(split_totals, merge_totals)]
