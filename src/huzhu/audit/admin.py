from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from huzhu.audit.models import AuditEvent
from huzhu.core.admin_scope import SubtreeAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(SubtreeAdmin):
    list_display = ("at", "actor_label", "action", "object_type", "object_id", "reason")
    list_filter = ("action",)
    search_fields = ("actor_label", "object_id", "reason")
    org_path_field = "org_path"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
