"""Writing audit events, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from huzhu.audit.actions import Action
from huzhu.audit.models import AuditEvent


def audit_record(
    *,
    actor: Any | None,
    action: Action,
    obj: Any | None = None,
    object_type: str = "",
    object_id: str = "",
    org_path: str = "",
    reason: str = "",
    **data: Any,
) -> AuditEvent:
    """Record one action. `actor` is a User or None for the system (a CLI run, a scheduled job)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    label = getattr(actor, "username", "") if actor is not None else "system"
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=label,
        action=action,
        object_type=object_type,
        object_id=object_id,
        org_path=org_path,
        reason=reason,
        data=data,
    )


def audit_insert_sql(**values: str) -> str:
    """`INSERT INTO <the audit table> (<its columns>) SELECT <values>`: the audit event of a
    statement that records it itself, as a CTE of one round trip (a booking, a scan). `values`
    gives every field but the id (`at`, `actor`, `actor_label`, …) as an SQL expression, so
    that the table and its columns are read from the model, and a field added to it cannot be
    left out unnoticed; the caller adds FROM and WHERE."""
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    names = [f.name for f in fields]
    if set(values) != set(names):
        raise ValueError(f"an audit INSERT gives exactly {names}, not {sorted(values)}")
    columns = ", ".join(str(f.column) for f in fields)  # concrete fields: never None
    exprs = ", ".join(values[name] for name in names)
    return f"INSERT INTO {AuditEvent._meta.db_table} ({columns})\n    SELECT {exprs}"


# Refusals that are answers about the request, not about who may make it: a member without an
# active card asking for a benefit. A flash crowd may give thousands; they are not breaches.
RULE_REFUSALS = frozenset({"not_eligible"})


def audit_denial(
    *, actor: Any, code: str, method: str = "", path: str = "", status: int = 403, **data: Any
) -> None:
    """Record a request refused to a signed-in user for want of a right or a scope (`code` as
    the answer gave it), under the user's organisation (a member's: its union's), so the admins
    above see who tried what."""
    org = getattr(actor, "org", None)
    member = getattr(actor, "member", None) if org is None else None
    org_path = org.path if org is not None else (member.unit.path if member is not None else "")
    audit_record(
        actor=actor,
        action=Action.ACCESS_DENIED,
        org_path=org_path,
        code=code,
        method=method,
        path=path[:500],
        status=status,
        **data,
    )
