"""Logins: staff users with a role and an organisation, member logins, and API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CITY_ADMIN = "city_admin", _("市总工会管理员")
    DISTRICT_ADMIN = "district_admin", _("区总工会管理员")
    UNIT_ADMIN = "unit_admin", _("基层工会管理员")
    REVIEWER = "reviewer", _("审核员")
    GATE = "gate", _("核销员")
    STATION_OPERATOR = "station_operator", _("驿站管理员")
    MEMBER = "member", _("会员")


class User(AbstractUser):
    """A login. Staff belong to one organisation and see its subtree; a member login is tied
    to its member record."""

    role = models.CharField(_("角色"), max_length=32, choices=Role.choices, default=Role.MEMBER)
    org = models.ForeignKey(
        "members.Organisation",
        verbose_name=_("所属组织"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )
    member = models.OneToOneField(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="login"
    )

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    @property
    def is_member_login(self) -> bool:
        return self.role == Role.MEMBER


class ApiToken(models.Model):
    """A bearer token for API clients. Only its SHA-256 is stored; it can be revoked. It stops
    working after `HUZHU_TOKEN_IDLE_DAYS` without use and `HUZHU_TOKEN_MAX_DAYS` after it was
    issued, and when the user's password, role or organisation changes (`stamp` no longer
    matches the user's: see accounts.services.credentials_stamp)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    stamp = models.CharField(max_length=64, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")

    def __str__(self) -> str:
        return f"token of {self.user_id} ({'revoked' if self.revoked_at else 'active'})"


class LoginThrottle(models.Model):
    """A counter of sign-in attempts or code requests, in the database so that every app server
    sees the same counts (accounts.throttle). `key` names what is counted: an (account, address)
    pair by hash, an address, a phone by hash, or the whole city; never what a client typed."""

    key = models.CharField(max_length=100, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.attempts}"


class OneTimeCode(models.Model):
    """A sign-in code sent by SMS to a member's phone: kept only as keyed hashes, valid for a
    few minutes, at most a few wrong tries, used once."""

    phone_hash = models.CharField(max_length=64, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("短信验证码")
        verbose_name_plural = _("短信验证码")

    def __str__(self) -> str:
        return f"code {self.pk} ({'used' if self.used_at else 'open'})"
