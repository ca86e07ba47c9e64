from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from huzhu.audit.admin_scope import SubtreeAdmin
from huzhu.care.models import CareBeneficiary, CareCampaign, CareLedgerEntry, CareVisit, LabourModel


@admin.register(LabourModel)
class LabourModelAdmin(SubtreeAdmin):
    list_display = ("name", "level", "title", "year", "unit_name", "org")
    list_filter = ("level", "year")
    search_fields = ("name", "unit_name")
    raw_id_fields = ("org", "member")
    org_path_field = "org__path"


@admin.register(CareCampaign)
class CareCampaignAdmin(SubtreeAdmin):
    list_display = ("code", "title", "org", "budget", "starts_on", "ends_on")
    search_fields = ("code", "title")
    raw_id_fields = ("org", "created_by")
    org_path_field = "org__path"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # budgets change through care_campaign_budget_set, with a reason


class BeneficiaryInline(admin.TabularInline):
    model = CareBeneficiary
    extra = 0
    can_delete = False
    raw_id_fields = ("member", "labour_model")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CareVisit)
class CareVisitAdmin(SubtreeAdmin):
    list_display = ("visited_on", "place", "campaign", "org", "cancelled_at")
    list_filter = ("campaign",)
    inlines = (BeneficiaryInline,)
    org_path_field = "org__path"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CareLedgerEntry)
class CareLedgerEntryAdmin(SubtreeAdmin):
    """Read-only: the database refuses changes to the ledger anyway."""

    list_display = ("id", "campaign", "org", "kind", "amount", "occurred_on", "reverses")
    list_filter = ("kind", "campaign")
    org_path_field = "org__path"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
