from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from huzhu.accounts.models import User
from huzhu.audit.admin_scope import SubtreeAdmin


@admin.register(User)
class UserAdmin(SubtreeAdmin, BaseUserAdmin):
    list_display = ("username", "role", "org", "is_active")
    list_filter = ("role", "is_active")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("huzhu", {"fields": ("role", "org", "member")}))
    raw_id_fields = ("org", "member")
    org_path_field = "org__path"
