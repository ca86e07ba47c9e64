"""Jobs the console runs in the background: a settlement file being imported, with its progress."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    PENDING = "pending", _("排队中")
    RUNNING = "running", _("导入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class SettlementJob(models.Model):
    """One upload of the bureau's settlement file, imported by a background job (huzhu.core.jobs).

    The file is kept in the default storage (the local disk or the object store every server
    shares), encrypted under a key of its own that the PII vault seals in `key_cipher`.

    While the import's transaction is open its progress is invisible to other connections, so
    the running stage and count are written beside it: on PostgreSQL to this row through a
    connection of their own; on SQLite, which would block a second writer, to a small file on
    the machine's disk (`progress_path`). The row holds the outcome, written in the import's
    own transaction.
    """

    file_path = models.CharField(_("文件"), max_length=500)  # a name in the default storage
    key_cipher = models.CharField(max_length=200, blank=True, default="")
    file_name = models.CharField(_("文件名"), max_length=255)
    keep_valid = models.BooleanField(_("跳过错误行"), default=False)
    status = models.CharField(
        _("状态"), max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    stage = models.CharField(_("阶段"), max_length=32, blank=True, default="")
    count = models.PositiveIntegerField(_("行数"), default=0)
    report = models.JSONField(_("报告"), null=True, blank=True)
    error = models.TextField(_("错误"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("结算导入任务")
        verbose_name_plural = _("结算导入任务")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"

    @property
    def progress_path(self) -> str:
        """Under MEDIA_ROOT, on this machine's disk (SQLite only)."""
        return f"progress/settlement-job-{self.pk}.json"
