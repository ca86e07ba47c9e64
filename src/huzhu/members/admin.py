from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from huzhu.audit.admin_scope import SubtreeAdmin
from huzhu.members.models import Card, Member, Organisation


@admin.register(Organisation)
class OrganisationAdmin(SubtreeAdmin):
    list_display = ("code", "name", "kind", "parent")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    readonly_fields = ("path", "depth")
    org_path_field = "path"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Moving an organisation rewrites the paths of its whole subtree: that is
        # members.services.org_update (PATCH /api/v1/orgs/{code}), not a form field.
        return (
            (*self.readonly_fields, "parent", "kind") if obj is not None else self.readonly_fields
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new organisation gets its materialised path, as org_insert gives it; without one it
        # would be outside every subtree.
        obj.save()
        parent = obj.parent
        obj.path = (parent.path if parent else "/") + f"{obj.pk}/"
        obj.depth = parent.depth + 1 if parent else 0
        obj.save(update_fields=["path", "depth"])


class CardInline(admin.TabularInline):  # type: ignore[type-arg,unused-ignore]
    model = Card
    fk_name = "member"
    extra = 0
    readonly_fields = ("card_no", "status", "issued_at", "ended_at", "replaces")
    can_delete = False


@admin.register(Member)
class MemberAdmin(SubtreeAdmin):
    list_display = ("name", "id_masked", "phone_masked", "unit", "joined_on", "is_active")
    search_fields = ("name",)
    readonly_fields = ("id_masked", "phone_masked", "birth_date")
    exclude = ("id_hash", "id_cipher", "phone_cipher")
    raw_id_fields = ("unit",)
    inlines = (CardInline,)
    org_path_field = "unit__path"


@admin.register(Card)
class CardAdmin(SubtreeAdmin):
    list_display = ("card_no", "member", "status", "issued_at", "ended_at")
    list_filter = ("status",)
    search_fields = ("card_no",)
    raw_id_fields = ("member", "replaces")
    org_path_field = "member__unit__path"
