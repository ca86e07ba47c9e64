"""Writing audit events, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from huzhu.audit.models import AuditEvent


def audit_record(
    *,
    actor: Any | None,
    action: str,
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
