"""Organisations (工会组织), members (会员) and member service cards (互助服务卡)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class OrgKind(models.TextChoices):
    CITY = "city", _("市总工会")
    DISTRICT = "district", _("区总工会")
    TOWN = "town", _("街道/乡镇总工会")
    UNIT = "unit", _("基层工会")


KIND_DEPTH = {OrgKind.CITY: 0, OrgKind.DISTRICT: 1, OrgKind.TOWN: 2, OrgKind.UNIT: 3}


class Organisation(models.Model):
    """A node of the union tree: city → district → town/street → workplace union.

    `path` is the materialised path of primary keys (`/1/5/23/`): a subtree is one indexed
    prefix query (`path__startswith`), which PostgreSQL serves from a pattern-ops index.
    """

    code = models.CharField(_("编码"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    kind = models.CharField(_("类型"), max_length=16, choices=OrgKind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(max_length=512, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("组织")
        verbose_name_plural = _("组织")
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    def contains(self, other: Organisation) -> bool:
        """True when `other` is this node or below it."""
        return other.path.startswith(self.path)


class Member(models.Model):
    """A union member (会员), identified by the resident ID number.

    The ID number and phone are personal data: stored encrypted (`*_cipher`), found through a
    keyed hash (`id_hash`), and shown masked (`id_masked`) unless a permitted role reveals them.
    """

    id_hash = models.CharField(max_length=64, unique=True, editable=False)
    id_cipher = models.TextField(editable=False)
    id_masked = models.CharField(_("身份证号"), max_length=18)
    name = models.CharField(_("姓名"), max_length=100, db_index=True)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    phone_cipher = models.TextField(blank=True, default="", editable=False)
    # Keyed hash of the normalised phone number: how a member signs in with an SMS code.
    phone_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    phone_masked = models.CharField(_("手机号"), max_length=20, blank=True, default="")
    unit = models.ForeignKey(
        Organisation, verbose_name=_("单位"), on_delete=models.PROTECT, related_name="members"
    )
    joined_on = models.DateField(_("入会日期"), null=True, blank=True)
    is_active = models.BooleanField(_("在册"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("会员")
        verbose_name_plural = _("会员")
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["phone_hash"], condition=~Q(phone_hash=""), name="member_phone_hash"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.id_masked}"


class CardStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    LOST = "lost", _("已挂失")
    REPLACED = "replaced", _("已补换")
    CANCELLED = "cancelled", _("已注销")


class Card(models.Model):
    """A member service card (互助服务卡). Cards are never deleted: each row is part of the history.

    At most one card of a member is active at a time (a partial unique index says so).
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="cards")
    card_no = models.CharField(_("互助服务卡号"), max_length=32, unique=True)
    status = models.CharField(
        _("状态"), max_length=16, choices=CardStatus.choices, default=CardStatus.ACTIVE
    )
    issued_at = models.DateTimeField(_("发卡时间"))
    ended_at = models.DateTimeField(_("停用时间"), null=True, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )

    class Meta:
        verbose_name = _("互助服务卡")
        verbose_name_plural = _("互助服务卡")
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(status="active"), name="one_active_card_per_member"
            )
        ]

    def __str__(self) -> str:
        return self.card_no
