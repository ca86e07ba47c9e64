"""A worker process for the fault-injection tests, killed with SIGKILL at a chosen point.

`python -m tests.fault_worker [--die-at POINT[:N]] COMMAND ...` with the database in the
environment (DATABASE_URL, or HUZHU_HOME for an SQLite file):

- `huzhu ARGS...`: the `huzhu` command line;
- `setup-city`: plans, members with cards, enrolments and settlements (money to pay);
- `setup-benefits`: a card-holding member list, a staff login and an activity; prints their ids
  as JSON;
- `book STAFF_ID ACTIVITY_ID KEY_PREFIX MEMBER_ID...`: books each member with the Idempotency-Key
  KEY_PREFIX-MEMBER_ID (so that a rerun retries the same requests); prints the outcomes as JSON.

With `--die-at POINT:N` the process sends itself SIGKILL the N-th time (default the first) it
reaches POINT, as a machine losing power or an operator's `kill -9` would, with no chance to
clean up. Points:

- `payment-items`: a payment run has written its items, not yet their entry links (in its
  transaction);
- `payment-commit`: a payment run has written everything and its audit event, not yet committed;
- `payment-file`: the run is committed, its bank file not yet written;
- `file-rename`: a file is fully written under its temporary name, not yet renamed into place;
- `booking-claim`: a booking and its idempotency key are written, the quota not yet taken (in
  the booking's transaction); on PostgreSQL, where an FCFS booking is one statement, just
  before that statement is sent.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock


def _claim_point() -> tuple[Any, str]:
    """Where a booking takes its quota: the ORM transaction's claim, or on PostgreSQL the one
    statement that writes the booking, its key and the claim together."""
    from django.db import connection

    from huzhu.benefits import booking_statement, bookings

    if connection.vendor == "postgresql":
        return booking_statement, "_fcfs_statement"
    return bookings, "quota_claim"


def _die_at(point: str, nth: int) -> Any:
    """A patch that kills this process at the n-th arrival at `point`."""
    from huzhu.core import files
    from huzhu.protection import payments
    from huzhu.protection.models import PaymentItemEntry

    target, name = {
        "payment-items": (PaymentItemEntry.objects, "bulk_create"),
        "payment-commit": (payments, "audit_record"),
        "payment-file": (payments, "payment_run_csv"),
        "file-rename": (files.os, "replace"),
        "booking-claim": _claim_point(),
    }[point]
    real = getattr(target, name)
    arrivals = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal arrivals
        arrivals += 1
        if arrivals == nth:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    return mock.patch.object(target, name, wrapper)


def _setup_benefits(members: int, quota: int) -> dict[str, Any]:
    from huzhu.accounts.models import Role
    from huzhu.members.logins import staff_create
    from huzhu.members.models import Member
    from huzhu.members.roster import members_import
    from huzhu.members.services import org_root
    from tests.benefits.conftest import make_activity
    from tests.conftest import new_id_number
    from tests.faults import roster_csv

    members_import(roster_csv([new_id_number() for _ in range(members)]), file="roster.csv")
    city = org_root()
    assert city is not None
    staff = staff_create(
        username="fault-staff",
        password="fault-pass-2026!",
        org_code=city.code,
        role=Role.CITY_ADMIN,
    )
    activity = make_activity(city, quota=quota)
    return {
        "staff": staff.pk,
        "activity": activity.pk,
        "members": sorted(Member.objects.values_list("pk", flat=True)),
    }


def _book(staff_id: int, activity_id: int, prefix: str, member_ids: list[int]) -> Counter[str]:
    from huzhu.accounts.models import User
    from huzhu.benefits.bookings import booking_create
    from huzhu.benefits.models import Activity
    from huzhu.core.errors import DomainError
    from huzhu.members.models import Member

    actor = User.objects.select_related("org").get(pk=staff_id)
    members = {m.pk: m for m in Member.objects.select_related("unit")}
    outcomes: Counter[str] = Counter()
    for member_id in member_ids:
        # Read afresh, as each request would: its total quota decides "sold out" early.
        activity = Activity.objects.select_related("eligible_org").get(pk=activity_id)
        try:
            booking_create(
                activity=activity,
                member=members[member_id],
                actor=actor,
                idempotency_key=f"{prefix}-{member_id}",
            )
            outcomes["booked"] += 1
        except DomainError as exc:
            outcomes[exc.code] += 1
    return outcomes


def main(argv: list[str]) -> int:
    die_at: str | None = None
    if argv[:1] == ["--die-at"]:
        die_at, argv = argv[1], argv[2:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huzhu.settings")
    import django

    django.setup()
    from contextlib import ExitStack

    from huzhu import cli

    cli.ensure_migrated()
    with ExitStack() as stack:
        if die_at:
            point, _, nth = die_at.partition(":")
            stack.enter_context(_die_at(point, int(nth or 1)))
        command, args = argv[0], argv[1:]
        if command == "huzhu":
            return cli.main(args)
        if command == "setup-city":
            from tests.faults import small_city

            with tempfile.TemporaryDirectory() as folder:
                small_city(Path(folder), members=int(args[0]), settlements=int(args[1]))
            return 0
        if command == "setup-benefits":
            print(json.dumps(_setup_benefits(int(args[0]), int(args[1]))))
            return 0
        if command == "book":
            staff, activity, prefix = int(args[0]), int(args[1]), args[2]
            print(json.dumps(_book(staff, activity, prefix, [int(a) for a in args[3:]])))
            return 0
    raise SystemExit(f"unknown command {argv[0]}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
