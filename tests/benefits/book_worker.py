"""A separate process that books through the services, for the multi-process concurrency tests.

`python -m tests.benefits.book_worker START_AT STAFF_ID JSON_PAIRS` with DATABASE_URL set:
waits until START_AT (epoch seconds), books each (member id, activity id) pair, prints a JSON
count of the outcomes by code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huzhu.settings")
    import django

    django.setup()
    from django.db import connection

    from huzhu.accounts.models import User
    from huzhu.benefits.bookings import booking_create
    from huzhu.benefits.models import Activity
    from huzhu.core.errors import DomainError
    from huzhu.members.models import Member

    start_at, staff_id, pairs = float(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    actor = User.objects.select_related("org").get(pk=staff_id)
    activities = {a.pk: a for a in Activity.objects.select_related("eligible_org")}
    members = {m.pk: m for m in Member.objects.select_related("unit")}
    outcomes: Counter[str] = Counter()
    time.sleep(max(0.0, start_at - time.time()))
    for member_id, activity_id in pairs:
        try:
            booking_create(activity=activities[activity_id], member=members[member_id], actor=actor)
            outcomes["booked"] += 1
        except DomainError as exc:
            outcomes[exc.code] += 1
    connection.close()
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
