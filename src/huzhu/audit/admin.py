from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from huzhu.audit.admin_scope import AuditedAdmin, SubtreeAdmin
from huzhu.audit.models import AuditEvent

# Django's own Group admin, audited like every other (huzhu gives rights by role, not group,
# but a superuser may still edit groups there).
admin.site.unregister(Group)


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass


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
