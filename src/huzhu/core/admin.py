"""Django's own Group admin, audited like every other (huzhu gives rights by role, not group,
but a superuser may still edit groups there)."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group

from huzhu.core.admin_scope import AuditedAdmin

admin.site.unregister(Group)


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass
