"""Summary tables of mutual-aid payouts, kept up to date as ledger entries are written.

Everything here is derived from `protection.LedgerEntry` and can be rebuilt from it at any time
(`services.summaries_recount`). Amounts are integer fen so that sums are exact on SQLite too,
whose DECIMAL columns are floating point underneath.

Definitions (also in README "Statistics"):

- month: the first day of the month of the entry's `created_at` in Asia/Shanghai.
- unit: the workplace union on the member's enrolment in the claim's plan version (the union
  that enrolled and paid for the member, which does not change when the member moves later);
  the member's current unit when there is no such enrolment.
- person-times (人次): the number of claims (each one member's) whose net, the sum of their
  entries, is above zero. A claim is counted in the month of its first entry and nowhere else,
  so a month's person-times are "claims first paid that month that are still paid"; a later
  clawback to zero takes the claim out of that earlier month (amounts, by contrast, stay in the
  month of each entry). The figure depends only on which entries exist, not on the order in
  which concurrent writers applied them, and it is never negative.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from huzhu.members.models import Organisation
from huzhu.protection.models import Claim


class PayoutFigures(models.Model):
    """What a summary row counts for one key: the unit, benefit type and plan paid, in fen,
    entries and person-times."""

    unit = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    benefit = models.CharField(_("保障类型"), max_length=32)
    plan_code = models.CharField(_("计划编码"), max_length=32)
    amount_fen = models.BigIntegerField(_("金额（分）"), default=0)
    entries = models.BigIntegerField(_("笔数"), default=0)
    persons = models.BigIntegerField(_("人次"), default=0)

    class Meta:
        abstract = True


class PayoutSummary(PayoutFigures):
    """Payout money and person-times per month, unit, benefit type and plan."""

    month = models.DateField(_("月份"))

    class Meta:
        verbose_name = _("给付汇总")
        verbose_name_plural = _("给付汇总")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "unit", "benefit", "plan_code"], name="one_payout_summary_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.unit_id} {self.plan_code}"

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_fen) / 100


class PayoutYearSummary(PayoutFigures):
    """`PayoutSummary` rolled up to years, so that figures over all 25 years read a few
    thousand rows. Person-times roll up exactly: a claim's first month lies in its first year."""

    year = models.PositiveSmallIntegerField(_("年度"))

    class Meta:
        verbose_name = _("年度给付汇总")
        verbose_name_plural = _("年度给付汇总")
        constraints = [
            models.UniqueConstraint(
                fields=["year", "unit", "benefit", "plan_code"], name="one_payout_year_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.unit_id} {self.plan_code}"


class ClaimBalance(models.Model):
    """The net and first month of each claim that has entries, so that person-times can be
    kept incrementally."""

    claim = models.OneToOneField(  # kept with the ledger, so no per-row foreign-key check
        Claim, primary_key=True, db_constraint=False, on_delete=models.PROTECT, related_name="+"
    )
    net_fen = models.BigIntegerField(default=0)
    first_month = models.DateField(null=True)

    class Meta:
        verbose_name = _("理赔净额")
        verbose_name_plural = _("理赔净额")

    def __str__(self) -> str:
        return f"claim {self.claim_id}: {self.net_fen}"
