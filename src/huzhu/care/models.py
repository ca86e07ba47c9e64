"""Care campaigns (慰问) with their money ledger, visits and beneficiaries, and the registry of
labour models (劳模).

Money is only ever in `CareLedgerEntry`, an append-only table (the database refuses UPDATE and
DELETE): an allocation of a campaign's budget to an organisation, or spending by an
organisation against its allocations. A mistake is undone by a reversing entry of the opposite
sign (`reverses`), so a campaign's allocated and spent totals are plain sums by `kind`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class LabourModelLevel(models.TextChoices):
    NATIONAL = "national", _("全国劳动模范")
    PROVINCIAL = "provincial", _("省部级（北京市）劳动模范")


class LabourModel(models.Model):
    """A labour model (劳动模范 / 先进工作者) registered with a union organisation."""

    name = models.CharField(_("姓名"), max_length=100)
    level = models.CharField(_("级别"), max_length=16, choices=LabourModelLevel.choices)
    title = models.CharField(_("荣誉称号"), max_length=100, blank=True, default="")
    year = models.PositiveSmallIntegerField(_("授予年份"), null=True, blank=True)
    unit_name = models.CharField(_("工作单位"), max_length=200)
    org = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("所属工会"),
        on_delete=models.PROTECT,
        related_name="labour_models",
    )
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("会员"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="labour_model_titles",
    )
    note = models.TextField(_("备注"), blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("劳模")
        verbose_name_plural = _("劳模")
        ordering = ("level", "year", "name", "id")

    def __str__(self) -> str:
        return f"{self.name}（{self.get_level_display()} {self.year or ''}）"


class CareCampaign(models.Model):
    """A care campaign (寒冬送暖, 两节慰问) run by an organisation with a budget."""

    code = models.CharField(_("编码"), max_length=64, unique=True)
    title = models.CharField(_("名称"), max_length=200)
    org = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("主办工会"),
        on_delete=models.PROTECT,
        related_name="care_campaigns",
    )
    budget = models.DecimalField(_("预算"), max_digits=14, decimal_places=2)
    starts_on = models.DateField(_("开始日期"))
    ends_on = models.DateField(_("结束日期"), null=True, blank=True)
    description = models.TextField(_("说明"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("慰问活动")
        verbose_name_plural = _("慰问活动")
        ordering = ("-starts_on", "code")
        constraints = (
            models.CheckConstraint(condition=Q(budget__gte=0), name="budget_not_negative"),
        )

    def __str__(self) -> str:
        return self.title


class CareVisit(models.Model):
    """A visit (走访慰问) by an organisation, with the people it reached."""

    campaign = models.ForeignKey(CareCampaign, on_delete=models.PROTECT, related_name="visits")
    org = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("慰问单位"),
        on_delete=models.PROTECT,
        related_name="care_visits",
    )
    visited_on = models.DateField(_("慰问日期"))
    place = models.CharField(_("地点"), max_length=200)
    visitors = models.CharField(_("慰问人"), max_length=300, blank=True, default="")
    note = models.TextField(_("备注"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    cancel_reason = models.TextField(_("撤销原因"), blank=True, default="")

    class Meta:
        verbose_name = _("走访慰问")
        verbose_name_plural = _("走访慰问")
        ordering = ("-visited_on", "-id")

    def __str__(self) -> str:
        return f"{self.visited_on} {self.place}"


class BeneficiaryKind(models.TextChoices):
    MEMBER = "member", _("会员")
    LABOUR_MODEL = "labour_model", _("劳模")
    FRONTLINE = "frontline", _("一线职工")


class CareBeneficiary(models.Model):
    """One person (or a group of frontline staff, `headcount` > 1) reached by a visit, with the
    cash and goods handed over."""

    visit = models.ForeignKey(CareVisit, on_delete=models.PROTECT, related_name="beneficiaries")
    kind = models.CharField(_("类别"), max_length=16, choices=BeneficiaryKind.choices)
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    labour_model = models.ForeignKey(
        LabourModel, null=True, blank=True, on_delete=models.PROTECT, related_name="care_received"
    )
    name = models.CharField(_("姓名/群体"), max_length=200)
    unit_name = models.CharField(_("单位"), max_length=200, blank=True, default="")
    headcount = models.PositiveIntegerField(_("人数"), default=1)
    cash = models.DecimalField(_("慰问金"), default=0, max_digits=14, decimal_places=2)
    goods = models.CharField(_("慰问品"), max_length=200, blank=True, default="")
    goods_quantity = models.PositiveIntegerField(_("数量"), default=0)
    goods_value = models.DecimalField(_("慰问品金额"), default=0, max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("受慰问对象")
        verbose_name_plural = _("受慰问对象")
        ordering = ("id",)
        constraints = (
            models.CheckConstraint(
                condition=~Q(kind="member") | Q(member__isnull=False),
                name="member_beneficiary_has_member",
            ),
            models.CheckConstraint(
                condition=~Q(kind="labour_model") | Q(labour_model__isnull=False),
                name="labour_model_beneficiary_has_labour_model",
            ),
            models.CheckConstraint(
                condition=Q(cash__gte=0) & Q(goods_value__gte=0),
                name="beneficiary_amounts_not_negative",
            ),
        )

    def __str__(self) -> str:
        return self.name


class EntryKind(models.TextChoices):
    ALLOCATION = "allocation", _("拨付")
    SPENDING = "spending", _("支出")


class CareLedgerEntry(models.Model):
    """One movement of care money. Append-only; reversed by an entry of the opposite sign."""

    campaign = models.ForeignKey(CareCampaign, on_delete=models.PROTECT, related_name="entries")
    org = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("组织"),
        on_delete=models.PROTECT,
        related_name="care_entries",
    )
    kind = models.CharField(_("类型"), max_length=16, choices=EntryKind.choices)
    amount = models.DecimalField(_("金额"), max_digits=14, decimal_places=2)
    occurred_on = models.DateField(_("日期"))
    visit = models.ForeignKey(
        CareVisit, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    beneficiary = models.ForeignKey(
        CareBeneficiary, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    payee = models.CharField(_("收款方"), max_length=200, blank=True, default="")
    memo = models.CharField(_("摘要"), max_length=300, blank=True, default="")
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("慰问资金账目")
        verbose_name_plural = _("慰问资金账目")
        ordering = ("id",)
        indexes = (
            models.Index(fields=["campaign", "org", "kind"], name="care_entry_campaign_org"),
            models.Index(fields=["occurred_on"], name="care_entry_day"),
        )
        constraints = (
            models.CheckConstraint(
                condition=(Q(reverses__isnull=True) & Q(amount__gt=0))
                | (Q(reverses__isnull=False) & Q(amount__lt=0)),
                name="care_entry_sign_matches_reversal",
            ),
        )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"


class CareFundFigures(models.Model):
    """A campaign's ledger summed per organisation: allocated and spent in fen, and how many
    entries, for the statistics. Kept by the database (huzhu.core.figures, migration 0003):
    triggers on the ledger add every entry in the same statement. Derived data: a backup
    leaves it out and the triggers count the entries again as they are restored;
    `summaries_recount` rebuilds it and `summaries_differences` compares."""

    DERIVED_BY_TRIGGERS = True

    # No foreign-key constraints: only the triggers write these rows (see EnrollmentFigures).
    campaign = models.ForeignKey(
        CareCampaign,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    org = models.ForeignKey(
        "members.Organisation", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    allocated_fen = models.BigIntegerField(default=0)
    spent_fen = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["campaign", "org"], name="one_fund_figure_per_key"),
        )

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.org_id}: {self.allocated_fen}/{self.spent_fen}"
