"""Django admin scoped like the API: a back-office user sees its organisation's subtree only,
and every addition, change and deletion made there is in the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record


def _org_path(obj: Model, lookup: str) -> str:
    """The organisation path `lookup` (`unit__path`) names on `obj`, or "" where a link is
    empty."""
    value: Any = obj
    for part in lookup.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return ""
    return str(value)


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg,unused-ignore]
    """Edits in /admin/ write rows directly, not through the services that audit their own
    writes: each one also becomes an audit event (`admin.add`, `admin.change`, `admin.delete`)
    with what changed, in the admin's transaction. These are the hooks Django calls for its own
    change history (LogEntry), so list edits, inlines, password changes and the bulk delete
    action are covered too."""

    org_path_field = ""

    def _audit(self, request: HttpRequest, action: Action, obj: Model, **data: Any) -> None:
        audit_record(
            actor=request.user,
            action=action,
            obj=obj,
            org_path=_org_path(obj, self.org_path_field) if self.org_path_field else "",
            repr=str(obj)[:200],
            **data,
        )

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        self._audit(request, Action.ADMIN_ADD, obj, changes=message)
        return entry

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        self._audit(request, Action.ADMIN_CHANGE, obj, changes=message)
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        doomed = list(queryset)  # called before the deletion, as Django's own history is
        entries = super().log_deletions(request, queryset)
        for obj in doomed:
            self._audit(request, Action.ADMIN_DELETE, obj)
        return entries


class SubtreeAdmin(AuditedAdmin):
    """`org_path_field` names the lookup of the organisation path to filter on."""

    org_path_field = "path"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        user: Any = request.user
        org = getattr(user, "org", None)
        if org is None:
            return qs.none()
        return qs.filter(**{f"{self.org_path_field}__startswith": org.path})
