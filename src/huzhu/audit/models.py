"""The audit log: who did what, when and why. Append-only."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from huzhu.audit.actions import Action


class AuditEvent(models.Model):
    """One recorded action: a state change or a reveal of personal data."""

    at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(_("操作人"), max_length=150, blank=True, default="")
    action = models.CharField(_("操作"), max_length=64, db_index=True, choices=Action.choices)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True, default="")
    object_id = models.CharField(_("对象"), max_length=64, blank=True, default="")
    org_path = models.CharField(max_length=512, blank=True, default="", db_index=True)
    reason = models.TextField(_("原因"), blank=True, default="")
    data = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"
