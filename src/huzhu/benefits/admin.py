from django.contrib import admin

from huzhu.audit.admin_scope import SubtreeAdmin
from huzhu.benefits.models import Activity, Booking, ExclusiveGroup, Quota, Scan


class QuotaInline(admin.TabularInline):
    model = Quota
    extra = 0
    readonly_fields = ("shard", "used")


@admin.register(Activity)
class ActivityAdmin(SubtreeAdmin):
    list_display = (
        "title",
        "venue",
        "mode",
        "group",
        "opens_at",
        "closes_at",
        "valid_from",
        "valid_to",
        "eligible_org",
    )
    list_filter = ("mode", "group")
    search_fields = ("title", "venue")
    raw_id_fields = ("organiser", "eligible_org", "group")
    readonly_fields = ("draw_seed", "drawn_at")
    inlines = (QuotaInline,)
    org_path_field = "organiser__path"


@admin.register(ExclusiveGroup)
class ExclusiveGroupAdmin(SubtreeAdmin):
    list_display = ("name", "organiser")
    raw_id_fields = ("organiser",)
    org_path_field = "organiser__path"


@admin.register(Booking)
class BookingAdmin(SubtreeAdmin):
    list_display = (
        "id",
        "activity",
        "member",
        "status",
        "day",
        "booked_at",
        "redeemed_at",
        "redeemed_gate",
    )
    list_filter = ("status",)
    raw_id_fields = ("activity", "member", "group", "created_by")
    readonly_fields = (
        "status",
        "lottery_rank",
        "booked_at",
        "cancelled_at",
        "redeemed_at",
        "redeemed_gate",
    )
    org_path_field = "member__unit__path"

    def has_add_permission(self, request: object) -> bool:
        return False  # bookings go through the services, which keep the quota


@admin.register(Scan)
class ScanAdmin(SubtreeAdmin):
    list_display = ("scanned_at", "gate", "result", "offline", "activity", "booking", "user")
    list_filter = ("result", "offline")
    search_fields = ("gate",)
    org_path_field = "activity__organiser__path"

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_add_permission(self, request: object) -> bool:
        return False
