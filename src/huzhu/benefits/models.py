"""Activities (普惠活动), quotas, bookings and lottery entries, idempotency keys, gate scans.

The two invariants of the flash crowd live in the database, not only in the code:
- a quota row's `used` never exceeds its `size`, nor its `size` 1,000,000 (CHECK constraints), and
- a member holds at most one live booking per exclusive group (a partial unique index).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from huzhu.core.bounds import MAX_QUOTA


class Mode(models.TextChoices):
    FCFS = "fcfs", _("先到先得")
    LOTTERY = "lottery", _("摇号")


class BookingStatus(models.TextChoices):
    REGISTERED = "registered", _("已报名")  # a lottery entry, not drawn yet
    WAITLISTED = "waitlisted", _("候补")  # drawn but not (yet) a winner
    BOOKED = "booked", _("已预约")  # holds a unit of quota and a voucher
    REDEEMED = "redeemed", _("已核销")
    CANCELLED = "cancelled", _("已取消")
    LOST = "lost", _("未中签")  # a lottery entry that can no longer win (e.g. won in the group)


# Bookings that hold quota, and count for "one per exclusive group".
HOLDING = (BookingStatus.BOOKED, BookingStatus.REDEEMED)
# Bookings that are still alive for their activity (a member has at most one per activity).
LIVE = (
    BookingStatus.REGISTERED,
    BookingStatus.WAITLISTED,
    BookingStatus.BOOKED,
    BookingStatus.REDEEMED,
)


class ExclusiveGroup(models.Model):
    """每名持卡会员只能选取一项: a member may hold at most one booking across the group."""

    name = models.CharField(_("互斥组"), max_length=100)
    organiser = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("主办单位"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("互斥组")
        verbose_name_plural = _("互斥组")
        constraints = (
            models.UniqueConstraint(
                fields=["organiser", "name"], name="benefits_group_name_unique"
            ),
        )

    def __str__(self) -> str:
        return self.name


class Activity(models.Model):
    """A benefit on offer, e.g. a ski resort's free ticket, with its own voucher signing key."""

    title = models.CharField(_("名称"), max_length=200)
    venue = models.CharField(_("场所"), max_length=200)
    description = models.TextField(_("说明"), blank=True, default="")
    organiser = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("主办单位"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    eligible_org = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("面向组织"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("该组织及其下级组织的持卡会员可以预约"),
    )
    group = models.ForeignKey(
        ExclusiveGroup,
        verbose_name=_("互斥组"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activities",
    )
    mode = models.CharField(_("分配方式"), max_length=16, choices=Mode.choices, default=Mode.FCFS)
    opens_at = models.DateTimeField(_("开始预约"))
    closes_at = models.DateTimeField(_("截止预约"))
    valid_from = models.DateField(_("使用开始日期"))
    valid_to = models.DateField(_("使用截止日期"))
    # With per-day quotas a booking names its day of use and takes from that day's quota too.
    per_day = models.BooleanField(_("按日限额"), default=False, editable=False)
    # Ed25519: the public key is published to gates; the private key is kept sealed by the vault.
    public_key = models.CharField(max_length=64, editable=False)
    private_key_cipher = models.TextField(editable=False)
    draw_seed = models.CharField(_("摇号种子"), max_length=200, blank=True, default="")
    drawn_at = models.DateTimeField(_("摇号时间"), null=True, blank=True)
    # The published draw: entry ids in draw order, winners, waiting list, excluded entries.
    draw_result = models.JSONField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("普惠活动")
        verbose_name_plural = _("普惠活动")
        ordering = ("opens_at", "id")
        constraints = (
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="benefits_activity_window"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__gte=F("valid_from")), name="benefits_activity_validity"
            ),
        )

    def __str__(self) -> str:
        return self.title


class Quota(models.Model):
    """A scarce counter (名额): a shard of the activity's total (`day` empty) or the quota of one
    day of use.

    The total is the sum of its shards (rules.shard_count: one row for a small quota, up to 8 for
    a big one), so that bookings at the same moment lock different rows. A row is what a booking
    locks, briefly, and the CHECK makes overselling impossible even for code that forgets to lock.
    """

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="quotas")
    day = models.DateField(_("使用日期"), null=True, blank=True)
    shard = models.PositiveSmallIntegerField(_("分片"), default=0)
    size = models.PositiveIntegerField(_("名额"))
    used = models.PositiveIntegerField(_("已用"), default=0)

    class Meta:
        verbose_name = _("名额")
        verbose_name_plural = _("名额")
        constraints = (
            models.CheckConstraint(
                condition=Q(used__lte=F("size")), name="benefits_quota_not_oversold"
            ),
            # INTERFACES "Bounds": no row beyond an activity's largest quota, so that no sum of
            # an activity's rows can overflow a 64-bit integer (SQLite's SUM raised "integer
            # overflow" for a quota of 2**63, a 500 on every list showing it).
            models.CheckConstraint(
                condition=Q(size__lte=MAX_QUOTA), name="benefits_quota_size_bounded"
            ),
            models.UniqueConstraint(fields=["activity", "day"], name="benefits_quota_day_unique"),
            # also the index a booking's claim scans: the activity's shards in order
            models.UniqueConstraint(
                fields=["activity", "shard"],
                condition=Q(day__isnull=True),
                name="benefits_quota_shard_unique",
            ),
            models.CheckConstraint(
                condition=Q(day__isnull=True) | Q(shard=0), name="benefits_quota_day_unsharded"
            ),
        )

    def __str__(self) -> str:
        where = self.day or f"*{self.shard}"
        return f"{self.activity_id} {where} {self.used}/{self.size}"

    @property
    def remaining(self) -> int:
        return self.size - self.used


class Booking(models.Model):
    """A member's booking of an activity (a lottery entry until drawn); a voucher when booked."""

    # Every index is written by every booking of a flash crowd: none that another one covers
    # (the activity's is the first column of benefits_booking_act_status; a group's bookings
    # are looked up with their member, by the partial unique index).
    activity = models.ForeignKey(
        Activity, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="bookings")
    # Copied from the activity so that the database can enforce one booking per group.
    group = models.ForeignKey(
        ExclusiveGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    day = models.DateField(_("使用日期"), null=True, blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=BookingStatus.choices)
    lottery_rank = models.PositiveIntegerField(_("摇号顺位"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    booked_at = models.DateTimeField(_("预约成功时间"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("取消时间"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("核销时间"), null=True, blank=True)
    redeemed_gate = models.CharField(_("核销闸口"), max_length=64, blank=True, default="")
    # The voucher's short code (凭证短码) a person can read out, given when the voucher is
    # first shown; indexed only once given, so that a flash crowd's bookings write no more.
    short_code = models.CharField(_("凭证短码"), max_length=10, null=True, blank=True)

    class Meta:
        verbose_name = _("预约")
        verbose_name_plural = _("预约")
        ordering = ("id",)
        indexes = (models.Index(fields=["activity", "status"], name="benefits_booking_act_status"),)
        constraints = (
            models.UniqueConstraint(
                fields=["member", "group"],
                condition=Q(status__in=["booked", "redeemed"]) & Q(group__isnull=False),
                name="benefits_one_booking_per_group",
            ),
            models.UniqueConstraint(
                fields=["member", "activity"],
                condition=Q(status__in=["registered", "waitlisted", "booked", "redeemed"]),
                name="benefits_one_live_booking_per_activity",
            ),
            models.UniqueConstraint(
                fields=["short_code"],
                condition=Q(short_code__isnull=False),
                name="benefits_booking_short_code_unique",
            ),
        )

    def __str__(self) -> str:
        return f"#{self.pk} {self.activity_id} {self.status}"


class BookingFigures(models.Model):
    """Bookings counted per activity, member's unit and year of booking (Asia/Shanghai):
    entries, booked, redeemed and cancelled, for the statistics. Kept by the database
    (huzhu.core.figures, migration 0009): triggers on the bookings add every insert, update
    and delete in the same statement, and a member who moves takes the figures of their
    bookings along. A key may be spread over a few rows (`shard`, see `KeptFigures.spread`):
    only the sum of its rows is a count. Derived data: a backup leaves it out and a restore
    rebuilds it (`rebuild_after_restore`); `summaries_recount` rebuilds it and
    `summaries_differences` compares (huzhu.reports.services)."""

    DERIVED_BY_TRIGGERS = True

    # No foreign-key constraints: only the triggers write these rows (see EnrollmentFigures).
    activity = models.ForeignKey(
        Activity, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    unit = models.ForeignKey(
        "members.Organisation", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    year = models.IntegerField()
    shard = models.SmallIntegerField(default=0)
    entries = models.BigIntegerField(default=0)
    booked = models.BigIntegerField(default=0)
    redeemed = models.BigIntegerField(default=0)
    cancelled = models.BigIntegerField(default=0)

    class Meta:
        constraints = (
            # also what a write looks its key's rows up by, and the statistics a year's
            models.UniqueConstraint(
                fields=["year", "activity", "unit", "shard"], name="one_booking_figure_per_key"
            ),
        )

    def __str__(self) -> str:
        return f"{self.activity_id}/{self.unit_id}/{self.year}/{self.shard}: {self.entries}"

    @staticmethod
    def rebuild_after_restore() -> None:
        """Its triggers read the member's unit, and a restore may load the bookings before
        the members: counted again once every table is in."""
        from huzhu.benefits.figures import BOOKING_FIGURES

        BOOKING_FIGURES.rebuild()


class IdempotencyKey(models.Model):
    """The first answer to a request sent with an `Idempotency-Key` header, per user."""

    # no index of its own: the unique (user, key) serves it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=128)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+")
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["user", "key"], name="benefits_idempotency_unique"),
        )

    def __str__(self) -> str:
        return self.key


class ScanResult(models.TextChoices):
    REDEEMED = "redeemed", _("核销成功")
    ALREADY_REDEEMED = "already_redeemed", _("重复使用")
    INVALID_CODE = "invalid_code", _("无效凭证")
    CANCELLED = "voucher_cancelled", _("凭证已取消")
    NOT_VALID_TODAY = "not_valid_today", _("不在有效期内")


class Scan(models.Model):
    """Every scan at a gate, failed ones too, online or uploaded later by an offline gate."""

    at = models.DateTimeField(_("记录时间"), auto_now_add=True)
    scanned_at = models.DateTimeField(_("扫码时间"))
    gate = models.CharField(_("闸口"), max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A retried scan (the same login sending the same code under the same nonce) gets the first
    # answer; the nonce is scoped to the login and the code, so nobody can fetch another gate's
    # answer, or another code's, by sending its nonce. `code_digest`: a SHA-256 prefix of the
    # code ("" on scans logged before it was kept, which are never replayed).
    nonce = models.CharField(max_length=64, blank=True, default="")
    code_digest = models.CharField(max_length=32, blank=True, default="")
    offline = models.BooleanField(_("离线"), default=False)
    activity = models.ForeignKey(
        Activity, null=True, blank=True, on_delete=models.CASCADE, related_name="scans"
    )
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.CASCADE, related_name="scans"
    )
    result = models.CharField(_("结果"), max_length=32, choices=ScanResult.choices)
    response = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("扫码记录")
        verbose_name_plural = _("扫码记录")
        ordering = ("-at", "-id")
        constraints = (
            models.UniqueConstraint(
                fields=["user", "nonce", "code_digest"],
                condition=~Q(nonce="") & ~Q(code_digest=""),
                name="benefits_scan_nonce_per_login_and_code",
            ),
        )

    def __str__(self) -> str:
        return f"{self.gate} {self.result} {self.scanned_at:%Y-%m-%d %H:%M}"
