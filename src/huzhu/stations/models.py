"""Warm stations (职工暖心驿站) for outdoor workers, and their counted visits."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from huzhu.stations import rules


class Service(models.TextChoices):
    """What a station offers; `rules.SERVICES` fixes the bit of each in `Station.services`."""

    REST = "rest", _("临时休息")
    HOT_WATER = "hot_water", _("热水")
    WIFI = "wifi", _("Wi-Fi")
    CHARGING = "charging", _("手机充电")
    MICROWAVE = "microwave", _("微波炉")
    FIRST_AID = "first_aid", _("急救药箱")
    TOILET = "toilet", _("卫生间")


class StationStatus(models.TextChoices):
    ACTIVE = "active", _("正常开放")
    SUSPENDED = "suspended", _("暂停服务")
    CLOSED = "closed", _("已撤销")


# A station's service, day to day: where it is on the map, when it opens, what it offers and who
# answers. An operator keeps these up to date; the import writes them too.
SERVICE_FIELDS = (
    "lat",
    "lng",
    "hours",
    "hours_exceptions",
    "services",
    "capacity",
    "contact_name",
    "contact_phone",
    "status",
)


class Station(models.Model):
    """A station hosted by a bank branch, post office or shop.

    Coordinates are stored in WGS-84 (`lat`, `lng`); the API converts to and from GCJ-02 at
    the edge. The (lat, lng) index serves the bounding-box prefilter of the nearest query.
    Opening hours are kept as their canonical text (see `hours.py`).
    """

    code = models.CharField(_("编码"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    host = models.CharField(_("承办单位"), max_length=200, blank=True, default="")
    org = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("所属工会"),
        on_delete=models.PROTECT,
        related_name="stations",
    )
    address = models.CharField(_("地址"), max_length=300)
    district = models.CharField(_("所属区"), max_length=50, blank=True, default="")
    lat = models.FloatField(_("纬度 (WGS-84)"))
    lng = models.FloatField(_("经度 (WGS-84)"))
    hours = models.CharField(_("开放时间"), max_length=500)
    hours_exceptions = models.TextField(_("例外日期"), blank=True, default="")
    services = models.PositiveIntegerField(_("服务项目"), default=0)
    capacity = models.PositiveIntegerField(_("容纳人数"), null=True, blank=True)
    contact_name = models.CharField(_("联系人"), max_length=100, blank=True, default="")
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True, default="")
    status = models.CharField(
        _("状态"), max_length=16, choices=StationStatus.choices, default=StationStatus.ACTIVE
    )
    note = models.TextField(_("备注"), blank=True, default="")
    operators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("驿站管理员"),
        blank=True,
        related_name="operated_stations",
    )
    qr_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("职工暖心驿站")
        verbose_name_plural = _("职工暖心驿站")
        ordering = ("code",)
        indexes = (models.Index(fields=["lat", "lng"], name="station_lat_lng"),)

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def service_codes(self) -> list[str]:
        return rules.services_of(self.services)


class VisitSource(models.TextChoices):
    QR = "qr", _("扫码")
    OPERATOR = "operator", _("驿站登记")


class StationVisit(models.Model):
    """People who used a station: one row per QR scan (`people` = 1), or an operator's tally
    of a day. Statistics sum `people` by station and `visited_on` (the Beijing date)."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="visits")
    visited_at = models.DateTimeField(_("时间"))
    visited_on = models.DateField(_("日期"))
    people = models.PositiveIntegerField(_("人次"), default=1)
    source = models.CharField(_("来源"), max_length=16, choices=VisitSource.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A hash of who scanned (a login, or a device id the app sends): one count per day each.
    visitor_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("驿站到访")
        verbose_name_plural = _("驿站到访")
        indexes = (models.Index(fields=["station", "visited_on"], name="station_visit_day"),)
        constraints = (
            models.UniqueConstraint(
                fields=["station", "visited_on", "visitor_key"],
                condition=~Q(visitor_key=""),
                name="one_counted_visit_per_visitor_day",
            ),
        )

    def __str__(self) -> str:
        return f"{self.station_id} {self.visited_on} ×{self.people}"


class StationVisitFigures(models.Model):
    """Visits counted per station and month (of `visited_on`): registrations and people, for
    the statistics. Kept by the database (huzhu.core.figures, migration 0002): triggers on the
    visits add every insert, update and delete in the same statement. Derived data: a backup
    leaves it out and the triggers count the visits again as they are restored;
    `summaries_recount` rebuilds it and `summaries_differences` compares."""

    DERIVED_BY_TRIGGERS = True

    # No foreign-key constraint: only the triggers write these rows (see EnrollmentFigures).
    # indexed: a district's or a unit's statistics read their stations' figures
    station = models.ForeignKey(
        Station, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    month = models.DateField()
    visits = models.BigIntegerField(default=0)
    people = models.BigIntegerField(default=0)

    class Meta:
        constraints = (
            # month first: the statistics of a year read its months
            models.UniqueConstraint(fields=["month", "station"], name="one_visit_figure_per_key"),
        )

    def __str__(self) -> str:
        return f"{self.station_id} {self.month:%Y-%m}: {self.visits}/{self.people}"
