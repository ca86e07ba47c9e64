"""The insurance bureau's settlement rows (医保结算) and the imports that brought them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from huzhu.core.fields import MONEY, UNCHECKED_REFERENCE
from huzhu.members.models import Member


class SettlementImport(models.Model):
    """One run of `import settlements`: the file, who ran it, what it did."""

    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    summary = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.file_name} {self.started_at:%Y-%m-%d %H:%M}"


class Settlement(models.Model):
    """One hospital settlement as the bureau sent it. `settlement_id` is the idempotency key;
    `content_hash` tells a resend (ignored) from a changed resend (refused)."""

    # Unique by the constraint below (a plain b-tree; `unique=True` would add a second,
    # LIKE-pattern index on PostgreSQL that every million-row COPY would also have to fill).
    settlement_id = models.CharField(_("结算流水号"), max_length=64)
    id_hash = models.CharField(max_length=64)
    id_cipher = models.TextField()
    # Indexed by (member, admitted_on) below; fewer indexes make bulk imports faster.
    # Matched by the import itself; no database constraint for a million-row COPY to check.
    member = models.ForeignKey(
        Member, null=True, blank=True, related_name="settlements", **UNCHECKED_REFERENCE
    )
    name = models.CharField(_("姓名"), max_length=100, blank=True, default="")
    hospital = models.CharField(_("医疗机构"), max_length=200, blank=True, default="")
    admitted_on = models.DateField(_("入院日期"), null=True)
    discharged_on = models.DateField(_("出院日期"), null=True)
    settled_on = models.DateField(_("结算日期"), null=True)
    total_cost = models.DecimalField(_("医疗费用总额"), **MONEY, null=True)
    fund_paid = models.DecimalField(_("统筹基金支付"), **MONEY, null=True)
    in_scope_self_pay = models.DecimalField(_("医保范围内个人自付"), **MONEY, null=True)
    out_of_scope_self_pay = models.DecimalField(_("自费金额"), **MONEY, null=True)
    diagnosis_code = models.CharField(_("诊断编码"), max_length=32, blank=True, default="")
    is_accident = models.BooleanField(_("是否意外"), default=False)
    reverses = models.CharField(_("冲销流水号"), max_length=64, blank=True, default="")
    reversed_by = models.CharField(max_length=64, blank=True, default="")
    content_hash = models.CharField(max_length=64)
    batch = models.ForeignKey(SettlementImport, related_name="+", **UNCHECKED_REFERENCE)

    class Meta:
        verbose_name = _("医保结算记录")
        verbose_name_plural = _("医保结算记录")
        indexes = [models.Index(fields=["member", "admitted_on"])]
        constraints = [
            models.UniqueConstraint(fields=["settlement_id"], name="one_settlement_per_id")
        ]

    def __str__(self) -> str:
        return self.settlement_id
