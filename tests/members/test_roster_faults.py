"""The database connection dropped in the middle of a roster import (PostgreSQL, the backend
terminated from a second connection after the new members were written): the import raises,
nothing of it is visible (no member, card, unit or audit event), and importing the file again
ends as one clean import would."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from huzhu.audit.models import AuditEvent
from huzhu.members.models import Card, CardStatus, Member, Organisation
from huzhu.members.roster import members_import
from tests.conftest import new_id_number
from tests.faults import ROSTER_HEADER, cut_connection, roster_csv

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def roster_state() -> list[tuple[str, str, str, str, str]]:
    cards = dict(Card.objects.filter(status=CardStatus.ACTIVE).values_list("member", "card_no"))
    return sorted(
        (m.id_masked, m.name, m.unit.code, m.phone_masked, cards.get(m.pk, ""))
        for m in Member.objects.select_related("unit")
    )


def test_connection_dropped_mid_import_leaves_nothing_and_a_retry_finishes(tree):
    known = [new_id_number() for _ in range(10)]
    members_import(roster_csv(known), file="first.csv")
    before = roster_state()
    orgs, events = Organisation.objects.count(), AuditEvent.objects.count()
    # 30 new members (10 of them in a unit the file creates, under a new district), and the 10
    # known ones renamed: inserts, updates, new cards and new organisations in one file.
    fresh = [new_id_number() for _ in range(30)]
    lines = roster_csv(fresh[:20]).decode().splitlines()[1:]
    lines += [
        f"{n},新单位职工{i},U9,新单位工会,新区,,,2021-01-01" for i, n in enumerate(fresh[20:])
    ]
    lines += [f"{n},改名{i},U1,,,,," for i, n in enumerate(known)]
    data = ("\n".join([ROSTER_HEADER, *lines]) + "\n").encode()

    def cut_after_inserting(stage: str, _count: int) -> None:
        if stage == "inserted":
            assert Member.objects.count() == 40  # written, in the import's transaction
            cut_connection()

    with pytest.raises(DatabaseError):
        members_import(data, file="second.csv", progress=cut_after_inserting)

    assert roster_state() == before
    assert Organisation.objects.count() == orgs and AuditEvent.objects.count() == events
    report = members_import(data, file="second.csv")
    assert (report.created, report.updated, report.unchanged, report.orgs_created) == (30, 10, 0, 2)
    after = roster_state()
    assert len(after) == 40
    assert sorted(name for _m, name, *_ in after) == sorted(
        [f"职工{i:04d}" for i in range(20)]
        + [f"新单位职工{i}" for i in range(10)]
        + [f"改名{i}" for i in range(10)]
    )
    assert {unit for _m, _n, unit, *_ in after} == {"U1", "U9"}
    assert sum(1 for *_, card in after if card) == 30  # the first 10 and the next 20
    assert AuditEvent.objects.filter(action="members.import").count() == 2
