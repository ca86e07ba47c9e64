"""Mutual-aid protection (职工医疗互助保障): plans, yearly versions, enrolments, claims, the ledger
and payment runs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from huzhu.members.models import Member, Organisation

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class BenefitType(models.TextChoices):
    INPATIENT = "inpatient", _("住院医疗")
    ALLOWANCE = "allowance", _("住院津贴")
    CRITICAL_ILLNESS = "critical_illness", _("重大疾病")
    ACCIDENT = "accident", _("意外伤害")


class Payer(models.TextChoices):
    UNIT = "unit", _("单位缴费")
    FEDERATION = "federation", _("工会承担")


class Plan(models.Model):
    """A mutual-aid plan (互助保障计划) with one benefit type; its terms live in yearly versions."""

    code = models.CharField(_("计划编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    benefit = models.CharField(_("保障类型"), max_length=32, choices=BenefitType.choices)

    class Meta:
        verbose_name = _("互助保障计划")
        verbose_name_plural = _("互助保障计划")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PlanVersion(models.Model):
    """One period of a plan with its parameters. Frozen from the first payout under it."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    period_start = models.DateField(_("保障开始日期"))
    period_end = models.DateField(_("保障结束日期"))
    contribution = models.DecimalField(_("每人缴费"), **MONEY)
    payer = models.CharField(_("缴费方"), max_length=16, choices=Payer.choices, default=Payer.UNIT)
    waiting_days = models.PositiveIntegerField(_("等待期（天）"), default=0)
    terms = models.JSONField(_("给付规则"))  # the benefit's TOML section, amounts as strings
    frozen_at = models.DateTimeField(_("冻结时间"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("计划版本")
        verbose_name_plural = _("计划版本")
        constraints = [
            models.UniqueConstraint(fields=["plan", "period_start"], name="one_version_per_start"),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="period_in_order"
            ),
        ]
        ordering = ["plan__code", "period_start"]

    def __str__(self) -> str:
        return f"{self.plan.code} {self.period_start}~{self.period_end}"


class Enrollment(models.Model):
    """参保: a member enrolled in a plan version, with the contribution paid for it."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="enrollments")
    version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="enrollments")
    unit = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    paid_on = models.DateField(_("缴费日期"), null=True, blank=True)
    amount = models.DecimalField(_("缴费金额"), **MONEY, default=Decimal("0.00"))
    payer = models.CharField(_("缴费方"), max_length=16, choices=Payer.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("参保记录")
        verbose_name_plural = _("参保记录")
        constraints = [
            models.UniqueConstraint(fields=["member", "version"], name="one_enrollment_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.version}"


class ClaimSource(models.TextChoices):
    SETTLEMENT = "settlement", _("医保结算（免申即享）")
    APPLICATION = "application", _("工会申报")


class ClaimState(models.TextChoices):
    SUBMITTED = "submitted", _("已申请")
    ACCEPTED = "accepted", _("已受理")
    UNDER_REVIEW = "under_review", _("审核中")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("已拒绝")
    PAID = "paid", _("已支付")


class Claim(models.Model):
    """A claim (申请) for one settlement or event under one plan version.

    Claims from settlement data are adjudicated by the rules at once; `base_amount`, `target`
    and `reason` are what the rules say now. The money is only ever in LedgerEntry rows: the
    amount of a claim is the sum of its entries.
    """

    source = models.CharField(max_length=16, choices=ClaimSource.choices)
    state = models.CharField(_("状态"), max_length=16, choices=ClaimState.choices)
    # (member, version) is indexed below; the unique constraints index settlement.
    # A copy of the settlement's or application's member, for queries: checked by the services
    # that write it, not by a database constraint that a million-row import would pay for.
    member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        db_constraint=False,
        on_delete=models.PROTECT,
        related_name="claims",
        db_index=False,
    )
    # Version and settlement likewise come from the import's own joins; a foreign-key check
    # per row would lock every referenced row at commit (FOR KEY SHARE), a million times.
    version = models.ForeignKey(
        PlanVersion,
        null=True,
        blank=True,
        db_constraint=False,
        on_delete=models.PROTECT,
        related_name="claims",
        db_index=False,
    )
    plan_code = models.CharField(max_length=32, blank=True, default="")
    settlement = models.ForeignKey(
        "settlement.Settlement",
        null=True,
        blank=True,
        db_constraint=False,
        on_delete=models.PROTECT,
        related_name="claims",
        db_index=False,  # served by the unique (settlement, version) index
    )
    base_amount = models.DecimalField(_("计算基数"), **MONEY, default=Decimal("0.00"))
    target = models.DecimalField(_("应付金额"), **MONEY, default=Decimal("0.00"))
    reason = models.CharField(_("原因"), max_length=32, blank=True, default="")
    # Applications filed by a union:
    event_date = models.DateField(_("事故/入院日期"), null=True, blank=True)
    requested = models.DecimalField(_("申请金额"), **MONEY, null=True, blank=True)
    description = models.TextField(_("说明"), blank=True, default="")
    fast_track = models.BooleanField(_("特事特办"), default=False)
    # The claims a settlement import writes, a million at a time, are filed by nobody: indexed
    # only where set (see Meta), and no database foreign key, whose check trigger was queued
    # for every row written and fired at commit (staff logins are deactivated, not deleted).
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("理赔")
        verbose_name_plural = _("理赔")
        constraints = [
            models.UniqueConstraint(
                fields=["settlement", "version"], name="one_claim_per_settlement_version"
            ),
            models.UniqueConstraint(
                fields=["settlement"],
                name="one_planless_claim_per_settlement",
                condition=Q(settlement__isnull=False, version__isnull=True),
            ),
        ]
        indexes = [
            models.Index(fields=["member", "version"]),
            models.Index(
                fields=["filed_by"],
                name="protection_claim_filed_by",
                condition=Q(filed_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"claim {self.pk} {self.plan_code} {self.state}"


class EntryKind(models.TextChoices):
    PAYOUT = "payout", _("给付")
    ADJUSTMENT = "adjustment", _("调整")
    CLAWBACK = "clawback", _("追回")


class LedgerEntry(models.Model):
    """One immutable movement of mutual-aid money on a claim. The database refuses UPDATE and
    DELETE of these rows; corrections are new entries."""

    # Written with its claim in the same transaction; no per-row foreign-key check (see Claim).
    claim = models.ForeignKey(
        Claim, db_constraint=False, on_delete=models.PROTECT, related_name="entries"
    )
    member = models.ForeignKey(  # a copy of the claim's member, as on Claim
        Member,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.DecimalField(_("金额"), **MONEY)
    created_at = models.DateTimeField(auto_now_add=True)
    batch = models.CharField(max_length=64, blank=True, default="")
    memo = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("账目")
        verbose_name_plural = _("账目")

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} on claim {self.claim_id}"


class ClaimEvent(models.Model):
    """A transition of a claim: who, when, from which state to which, with a reason code."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_state = models.CharField(max_length=16, blank=True, default="")
    to_state = models.CharField(max_length=16)
    reason_code = models.CharField(max_length=64, blank=True, default="")
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state}→{self.to_state}"


def claim_document_path(instance: ClaimDocument, filename: str) -> str:
    return f"claims/{instance.claim_id}/{filename}"


class ClaimDocument(models.Model):
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="documents")
    file = models.FileField(upload_to=claim_document_path)
    title = models.CharField(max_length=200, blank=True, default="")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title or str(self.file.name)


class PaymentRun(models.Model):
    """A batch of transfers to members' cards: exported as a bank file, confirmed item by item."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(max_length=32, unique=True)
    total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    # When `huzhu payments run` finished writing the bank file; empty while a run made by the
    # command has no file yet (the process died after the run committed), so the next
    # `payments run` writes that file before making a new run.
    file_written_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.reference


class PaymentItemState(models.TextChoices):
    PENDING = "pending", _("待确认")
    PAID = "paid", _("已到账")
    FAILED = "failed", _("转账失败")


class PaymentItem(models.Model):
    """One member's transfer in a run; covers a set of ledger entries (PaymentItemEntry)."""

    run = models.ForeignKey(PaymentRun, on_delete=models.PROTECT, related_name="items")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    card_no = models.CharField(max_length=32)
    amount = models.DecimalField(**MONEY)
    state = models.CharField(
        max_length=16, choices=PaymentItemState.choices, default=PaymentItemState.PENDING
    )
    reference = models.CharField(max_length=48, unique=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.reference


class PaymentItemEntry(models.Model):
    item = models.ForeignKey(PaymentItem, on_delete=models.PROTECT, related_name="links")
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="+")
    # Copied from the item so a partial unique index can say: an entry is in at most one
    # pending-or-paid item (a failed transfer frees its entries for the next run).
    live = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entry"], condition=Q(live=True), name="entry_in_one_live_payment"
            )
        ]

    def __str__(self) -> str:
        return f"entry {self.entry_id} in {self.item_id}"
