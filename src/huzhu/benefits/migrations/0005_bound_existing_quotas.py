"""Quotas above INTERFACES' bound (1,000,000 places) that an earlier release let in, e.g. 2**63,
made every list summing an activity's rows fail (SQLite: "integer overflow"). Before 0006 adds
the CHECK, such totals become 1,000,000 (or what is already given out, when that is more): each
shard keeps its places given out and the free ones are shared again; a day's quota likewise.
Going back leaves the rows as they are. (Its own migration: on PostgreSQL a table whose rows
changed cannot be altered in the same transaction.)
"""

from typing import Any

from django.db import migrations

MAX_QUOTA = 1_000_000  # as huzhu.core.bounds at this release


def bound_quotas(apps: Any, schema_editor: Any) -> None:
    Quota = apps.get_model("benefits", "Quota")
    # Summed here, not in SQL: the database's SUM is what overflows.
    over = set(
        Quota.objects.filter(size__gt=MAX_QUOTA).values_list("activity_id", flat=True).distinct()
    )
    for activity_id in sorted(over):
        rows = list(Quota.objects.filter(activity_id=activity_id).order_by("day", "shard"))
        shards = [q for q in rows if q.day is None]
        used = sum(q.used for q in shards)
        if sum(q.size for q in shards) > MAX_QUOTA:
            free = max(MAX_QUOTA, used) - used
            each, rest = divmod(free, len(shards))
            for i, shard in enumerate(shards):
                shard.size = shard.used + each + (1 if i < rest else 0)
        for day in (q for q in rows if q.day is not None):
            day.size = max(min(day.size, MAX_QUOTA), day.used)
        Quota.objects.bulk_update(rows, ["size"])


class Migration(migrations.Migration):
    dependencies = [("benefits", "0004_split_existing_totals")]

    operations = [migrations.RunPython(bound_quotas, migrations.RunPython.noop)]
