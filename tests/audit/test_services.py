"""The audit INSERT that a one-statement booking or scan carries is made from the model."""

from __future__ import annotations

import pytest

from huzhu.audit.models import AuditEvent
from huzhu.audit.services import audit_insert_sql

EVERY_FIELD = {
    "at": "now()",
    "actor": "NULL",
    "actor_label": "'system'",
    "action": "'test.action'",
    "object_type": "''",
    "object_id": "''",
    "org_path": "''",
    "reason": "''",
    "data": "'{}'::jsonb",
}


def test_an_audit_insert_names_the_models_table_and_every_column_in_order():
    sql = audit_insert_sql(**EVERY_FIELD)
    columns = [f.column for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    assert sql.startswith(f"INSERT INTO {AuditEvent._meta.db_table} ({', '.join(columns)})")
    assert sql.endswith(
        "SELECT "
        + ", ".join(
            EVERY_FIELD[f.name] for f in AuditEvent._meta.concrete_fields if not f.primary_key
        )
    )


@pytest.mark.parametrize("change", ["left out", "unknown"])
def test_an_audit_insert_without_every_field_is_refused(change):
    values = dict(EVERY_FIELD)
    if change == "left out":
        del values["reason"]
    else:
        values["color"] = "'red'"
    with pytest.raises(ValueError):
        audit_insert_sql(**values)


@pytest.mark.django_db
def test_an_audit_insert_writes_an_event_as_audit_record_would():
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            audit_insert_sql(
                **{
                    **EVERY_FIELD,
                    "at": "CURRENT_TIMESTAMP",
                    "data": "'{\"k\": 1}'",
                }
            )
        )
    event = AuditEvent.objects.get(action="test.action")
    assert event.actor is None and event.actor_label == "system" and event.data == {"k": 1}
