from django.contrib import admin

from huzhu.audit.admin_scope import SubtreeAdmin
from huzhu.stations.models import Station, StationVisit


@admin.register(Station)
class StationAdmin(SubtreeAdmin):
    list_display = ("code", "name", "host", "district", "status", "hours")
    list_filter = ("status", "district")
    search_fields = ("code", "name", "address", "host")
    raw_id_fields = ("org",)
    filter_horizontal = ("operators",)
    org_path_field = "org__path"


@admin.register(StationVisit)
class StationVisitAdmin(SubtreeAdmin):
    list_display = ("station", "visited_on", "people", "source")
    list_filter = ("source",)
    date_hierarchy = "visited_on"
    raw_id_fields = ("station", "user")
    org_path_field = "station__org__path"
