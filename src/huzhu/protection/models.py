"""Mutual-aid protection (职工医疗互助保障): plans, yearly versions, enrolments, claims, the ledger
and payment runs."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from huzhu.core.fields import MONEY, UNCHECKED_REFERENCE
from huzhu.members.models import Member, Organisation


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
    # A bureau settlement paying more than this under the version waits for a reviewer (held).
    review_above = models.DecimalField(_("复核起点"), **MONEY, null=True, blank=True)
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


class EnrollmentFigures(models.Model):
    """Enrolments counted per plan version, unit and payer (参保人数, 缴费), for the statistics of
    a city of millions. Kept by the database itself: triggers on the enrolment table add every
    insert, update and delete in the same statement and transaction, whichever way the rows are
    written (the ORM, bulk inserts, COPY), migration 0012. Derived data: a backup leaves it out
    and the triggers rebuild it as the enrolments are restored; `summaries_recount` rebuilds it
    from the enrolments and `summaries_differences` compares (huzhu.reports.services)."""

    DERIVED_BY_TRIGGERS = True

    # No foreign-key constraints: rows are written by the triggers only, from enrolments that
    # hold the same keys; and a flush of all tables (tests, on SQLite: one DELETE per table in
    # any order) must not fail on counts the delete trigger leaves (see apps.py).
    version = models.ForeignKey(
        PlanVersion, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    unit = models.ForeignKey(
        Organisation, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    payer = models.CharField(max_length=16, choices=Payer.choices)
    members = models.BigIntegerField(default=0)
    amount_fen = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "unit", "payer"], name="one_figure_per_version_unit_payer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.version_id}/{self.unit_id}/{self.payer}: {self.members}"


class ClaimSource(models.TextChoices):
    SETTLEMENT = "settlement", _("医保结算（免申即享）")
    APPLICATION = "application", _("工会申报")


class ClaimState(models.TextChoices):
    SUBMITTED = "submitted", _("已申请")
    ACCEPTED = "accepted", _("已受理")
    UNDER_REVIEW = "under_review", _("审核中")
    # A bureau settlement paying more than its version's `review_above`: waits for a reviewer.
    HELD = "held", _("待审核（大额）")
    # 双人复核: a first reviewer approved an amount above the threshold; a second must agree.
    AWAITING_SECOND_APPROVAL = "awaiting_second_approval", _("待复核")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("已拒绝")
    PAID = "paid", _("已支付")


# The reviewers' queue (待处理): claims waiting for a person.
OPEN_CLAIM_STATES = (
    ClaimState.HELD,
    ClaimState.SUBMITTED,
    ClaimState.ACCEPTED,
    ClaimState.UNDER_REVIEW,
    ClaimState.AWAITING_SECOND_APPROVAL,
)


class Claim(models.Model):
    """A claim (申请) for one hospital stay under one plan version.

    Claims from settlement data are adjudicated by the rules at once. A claim filed by hand
    carries the stay's figures as the settlement sheet shows them (`hospital` … `is_accident`,
    and the sheet's 结算流水号 as `stay_ref`), and the same rules assess it together with every
    other stay of the member (protection.stays). `base_amount`, `target` and `reason` are what
    the rules said when the claim was last booked; `payout_limit` holds it to at most an amount (the
    approved one, or a staff correction). When the bureau's settlement of a hand-filed stay
    arrives, the claim is linked to it (`settlement`) and the bureau's figures stand.
    The money is only ever in LedgerEntry rows: the amount of a claim is the sum of its entries.
    """

    source = models.CharField(max_length=16, choices=ClaimSource.choices)
    state = models.CharField(_("状态"), max_length=32, choices=ClaimState.choices)
    # (member, version) is indexed below; the unique constraints index settlement.
    # A copy of the settlement's or application's member, for queries: checked by the services
    # that write it, not by a database constraint that a million-row import would pay for.
    member = models.ForeignKey(
        Member, null=True, blank=True, related_name="claims", **UNCHECKED_REFERENCE
    )
    # Version and settlement likewise come from the import's own joins; a foreign-key check
    # per row would lock every referenced row at commit (FOR KEY SHARE), a million times.
    version = models.ForeignKey(
        PlanVersion, null=True, blank=True, related_name="claims", **UNCHECKED_REFERENCE
    )
    plan_code = models.CharField(max_length=32, blank=True, default="")
    # Served by the unique (settlement, version) index.
    settlement = models.ForeignKey(
        "settlement.Settlement", null=True, blank=True, related_name="claims", **UNCHECKED_REFERENCE
    )
    base_amount = models.DecimalField(_("计算基数"), **MONEY, default=Decimal("0.00"))
    target = models.DecimalField(_("应付金额"), **MONEY, default=Decimal("0.00"))
    reason = models.CharField(_("原因"), max_length=32, blank=True, default="")
    # The most this claim may be paid under its version (null: what the rules give).
    payout_limit = models.DecimalField(_("核准上限"), **MONEY, null=True, blank=True)
    # Applications filed by a union:
    event_date = models.DateField(_("事故/入院日期"), null=True, blank=True)
    requested = models.DecimalField(_("申请金额"), **MONEY, null=True, blank=True)
    description = models.TextField(_("说明"), blank=True, default="")
    fast_track = models.BooleanField(_("特事特办"), default=False)
    # The stay, as the settlement sheet a union attaches shows it (settlement file names).
    # Database defaults too: the settlement import's COPY leaves these columns out.
    stay_ref = models.CharField(
        _("结算流水号"), max_length=64, blank=True, default="", db_default=""
    )
    hospital = models.CharField(
        _("医疗机构"), max_length=200, blank=True, default="", db_default=""
    )
    admitted_on = models.DateField(_("入院日期"), null=True, blank=True)
    discharged_on = models.DateField(_("出院日期"), null=True, blank=True)
    settled_on = models.DateField(_("结算日期"), null=True, blank=True)
    in_scope_self_pay = models.DecimalField(_("医保范围内个人自付"), **MONEY, null=True, blank=True)
    out_of_scope_self_pay = models.DecimalField(_("自费金额"), **MONEY, null=True, blank=True)
    diagnosis_code = models.CharField(
        _("诊断编码"), max_length=32, blank=True, default="", db_default=""
    )
    is_accident = models.BooleanField(_("是否意外"), default=False, db_default=False)
    # A disability claim (伤残): the grade on the appraisal certificate, 1 (the worst) to 10;
    # its `event_date` is the accident's. Null for a claim of a hospital stay.
    disability_grade = models.PositiveSmallIntegerField(_("伤残等级"), null=True, blank=True)
    # What the rules give a held stay (its payout waits for a reviewer); null when not held.
    held_amount = models.DecimalField(_("待审核金额"), **MONEY, null=True, blank=True)
    # 双人复核: the first approval of an amount above the threshold, waiting for a second person.
    pending_amount = models.DecimalField(_("待复核金额"), **MONEY, null=True, blank=True)
    first_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", **UNCHECKED_REFERENCE
    )
    # The claims a settlement import writes, a million at a time, are filed by nobody: indexed
    # only where set (see Meta), and no database foreign key, whose check trigger was queued
    # for every row written and fired at commit (staff logins are deactivated, not deleted).
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", **UNCHECKED_REFERENCE
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
            models.CheckConstraint(
                condition=Q(disability_grade__isnull=True)
                | Q(disability_grade__gte=1, disability_grade__lte=10),
                name="disability_grade_1_to_10",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "version"]),
            models.Index(
                fields=["filed_by"],
                name="protection_claim_filed_by",
                condition=Q(filed_by__isnull=False),
            ),
            # The claims filed by hand of the members a settlement import touches: a few among
            # millions, read by one join.
            models.Index(
                fields=["member"],
                name="protection_claim_by_hand",
                condition=Q(source="application"),
            ),
            # The queue, oldest first, a page at a time from a position (huzhu.core.keyset):
            # the few open claims among millions, in their order; and every claim in that
            # order, for the lists of decided claims (all, approved, paid…).
            models.Index(
                fields=["created_at", "id"],
                name="protection_claim_open_queue",
                condition=Q(state__in=OPEN_CLAIM_STATES),
            ),
            models.Index(fields=["created_at", "id"], name="protection_claim_in_order"),
        ]

    def __str__(self) -> str:
        return f"claim {self.pk} {self.plan_code} {self.state}"

    @property
    def stay_key(self) -> str:
        """A hand claim's key among the member's stays (INTERFACES: its settlement_id, or
        C<claim id> without one)."""
        return self.stay_ref or f"C{self.pk}"


class EntryKind(models.TextChoices):
    """The only spelling of a ledger entry's kind: the first money on a claim is a payout; any
    later increase an adjustment; any decrease a clawback."""

    PAYOUT = "payout", _("给付")
    ADJUSTMENT = "adjustment", _("调整")
    CLAWBACK = "clawback", _("追回")

    @classmethod
    def of(cls, *, net_before: Decimal | int, delta: Decimal | int) -> EntryKind:
        if delta < 0:
            return cls.CLAWBACK
        return cls.PAYOUT if net_before == 0 else cls.ADJUSTMENT


class LedgerEntry(models.Model):
    """One immutable movement of mutual-aid money on a claim. The database refuses UPDATE and
    DELETE of these rows; corrections are new entries."""

    # Written with its claim in the same transaction; no per-row foreign-key check (see Claim).
    claim = models.ForeignKey(
        Claim, db_constraint=False, on_delete=models.PROTECT, related_name="entries"
    )
    # A copy of the claim's member, as on Claim.
    member = models.ForeignKey(
        Member, null=True, blank=True, related_name="+", **UNCHECKED_REFERENCE
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
    from_state = models.CharField(max_length=32, blank=True, default="")
    to_state = models.CharField(max_length=32)
    reason_code = models.CharField(max_length=64, blank=True, default="")
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state}→{self.to_state}"


def claim_document_path(instance: ClaimDocument, filename: str) -> str:
    return f"claims/{instance.claim_id}/{filename}"


class ClaimDocument(models.Model):
    """A document of a claim (a bill, a discharge summary): a PDF, JPEG or PNG, stored encrypted
    (huzhu.core.sealed) under a key of its own that the PII vault seals in `key_cipher`. A
    document stored before encryption has no key and is read as it is."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="documents")
    file = models.FileField(upload_to=claim_document_path)
    title = models.CharField(max_length=200, blank=True, default="")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    key_cipher = models.CharField(max_length=200, blank=True, default="")
    content_type = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return self.title or str(self.file.name)


class CorrectionState(models.TextChoices):
    PENDING = "pending", _("待复核")
    BOOKED = "booked", _("已入账")
    REFUSED = "refused", _("已驳回")


class ClaimCorrection(models.Model):
    """A staff correction of what a decided claim pays (调整 or 追回), with a reason code and a
    note: the only way to change a member's money besides the rules. Above the two-person
    threshold it waits for a second person (`pending`) before it is booked."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="corrections")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.DecimalField(_("金额"), **MONEY)
    reason_code = models.CharField(max_length=64)
    note = models.TextField(blank=True, default="")
    state = models.CharField(
        max_length=16, choices=CorrectionState.choices, default=CorrectionState.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    entry = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("更正")
        verbose_name_plural = _("更正")
        constraints = [
            models.UniqueConstraint(
                fields=["claim"],
                condition=Q(state="pending"),
                name="one_pending_correction_per_claim",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} on claim {self.claim_id}"


class RunState(models.TextChoices):
    DRAFT = "draft", _("待复核")
    RELEASED = "released", _("已放行")
    CANCELLED = "cancelled", _("已作废")


class PaymentRun(models.Model):
    """A batch of transfers to members' cards: made as a draft, released by a second city admin
    (双人复核), exported as a bank file, confirmed item by item."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(max_length=32, unique=True)
    total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.DRAFT)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
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
    CANCELLED = "cancelled", _("已作废")  # its run was cancelled before release


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
