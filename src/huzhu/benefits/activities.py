"""Activities: created and changed by the staff of the organising union, within its subtree."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.benefits import rules, vouchers
from huzhu.benefits.models import Activity, ExclusiveGroup, Mode
from huzhu.benefits.selectors import MANAGER_ROLES, activity_forget
from huzhu.benefits.shards import BUSY, quota_resize, quotas_create
from huzhu.core import bounds, locking
from huzhu.core.errors import DomainError, Forbidden
from huzhu.core.pii import vault
from huzhu.members.models import Organisation


def check_manager(actor: User | None, org: Organisation) -> None:
    """Only the staff who run activities, within their subtree (None: the system)."""
    if actor is None:
        return
    if actor.role not in MANAGER_ROLES:
        raise Forbidden("forbidden", _("只有工会工作人员可以管理活动"))
    if not in_subtree(org.path, staff_scope_path(actor)):
        raise Forbidden("forbidden", _("超出本单位管理范围"))


def _check_dates(
    *, opens_at: datetime, closes_at: datetime, valid_from: date, valid_to: date
) -> None:
    bounds.check_moment(opens_at, "opens_at")
    bounds.check_moment(closes_at, "closes_at")
    bounds.parse_date(valid_from, "valid_from")
    bounds.parse_date(valid_to, "valid_to")
    if closes_at <= opens_at:
        raise DomainError("invalid_window", _("截止预约时间须晚于开始时间"), field="closes_at")
    if valid_to < valid_from:
        raise DomainError("invalid_validity", _("使用截止日期须不早于开始日期"), field="valid_to")


# The columns' lengths: longer text is a 400 naming the field, not the database's error.
_TEXT_LIMITS = {"title": 200, "venue": 200, "group": 100, "seed": 200}


def check_texts(**texts: str | None) -> None:
    """Each text (`title`, `venue`, `group`, `seed`) fits its column, or a 400 names it."""
    for name, text in texts.items():
        if text is not None and len(text) > _TEXT_LIMITS[name]:
            raise DomainError(
                "too_long",
                _("%(field)s 最多 %(max)s 个字符") % {"field": name, "max": _TEXT_LIMITS[name]},
                field=name,
            )


def _check_new(
    *,
    title: str,
    venue: str,
    group: str | None,
    mode: str,
    quota: int,
    shards: int | None,
    opens_at: datetime,
    closes_at: datetime,
    valid_from: date,
    valid_to: date,
    day_quotas: Mapping[date, int],
) -> tuple[int, int]:
    """A new activity's fields checked: its quota and number of shards."""
    if mode not in Mode.values:
        raise DomainError("invalid_mode", _("分配方式须为 fcfs 或 lottery"), field="mode")
    quota = bounds.parse_quota(quota, "quota", minimum=1)
    shards = rules.shard_count(quota) if shards is None else shards
    if not 1 <= shards <= min(quota, rules.QUOTA_SHARDS_MAX):
        raise DomainError("invalid_shards", _("名额分片数不合理"), field="shards")
    if not title.strip() or not venue.strip():
        raise DomainError("required", _("名称和场所不能为空"), field="title")
    check_texts(title=title, venue=venue, group=group)
    _check_dates(opens_at=opens_at, closes_at=closes_at, valid_from=valid_from, valid_to=valid_to)
    for day, size in day_quotas.items():
        if not valid_from <= day <= valid_to or bounds.quota_problem(size, minimum=1):
            raise DomainError(
                "invalid_day_quota",
                _("按日名额须在有效期内且为正数"),
                field="day_quotas",
                day=day.isoformat(),
                max=bounds.MAX_QUOTA,
            )
    return quota, shards


def activity_create(
    *,
    actor: User | None,
    title: str,
    venue: str,
    quota: int,
    opens_at: datetime,
    closes_at: datetime,
    valid_from: date,
    valid_to: date,
    eligible_org: Organisation,
    mode: str = Mode.FCFS,
    group: str | None = None,
    description: str = "",
    day_quotas: Mapping[date, int] | None = None,
    shards: int | None = None,
) -> Activity:
    """A new activity for `eligible_org`'s subtree, organised by the actor's organisation, with
    its own voucher signing key (private half sealed by the PII vault).

    The total quota is spread over `shards` rows (by default as rules.shard_count says).
    """
    check_manager(actor, eligible_org)
    day_quotas = day_quotas or {}
    quota, shards = _check_new(
        title=title,
        venue=venue,
        group=group,
        mode=mode,
        quota=quota,
        shards=shards,
        opens_at=opens_at,
        closes_at=closes_at,
        valid_from=valid_from,
        valid_to=valid_to,
        day_quotas=day_quotas,
    )
    organiser = actor.org if actor is not None and actor.org is not None else eligible_org
    private, public = vouchers.keypair_new()
    with transaction.atomic():
        exclusive = None
        if group and group.strip():
            exclusive, _created = ExclusiveGroup.objects.get_or_create(
                organiser=organiser, name=group.strip()
            )
        activity = Activity.objects.create(
            title=title.strip(),
            venue=venue.strip(),
            description=description,
            organiser=organiser,
            eligible_org=eligible_org,
            group=exclusive,
            mode=mode,
            opens_at=opens_at,
            closes_at=closes_at,
            valid_from=valid_from,
            valid_to=valid_to,
            per_day=bool(day_quotas),
            public_key=base64.b64encode(public).decode(),
            private_key_cipher=vault().encrypt(base64.b64encode(private).decode()),
            created_by=actor,
        )
        quotas_create(activity=activity, size=quota, shards=shards, day_quotas=day_quotas)
        audit_record(
            actor=actor,
            action=Action.ACTIVITY_CREATE,
            obj=activity,
            org_path=eligible_org.path,
            quota=quota,
            mode=mode,
        )
    return activity


def activity_update(
    *,
    activity: Activity,
    actor: User | None,
    title: str | None = None,
    venue: str | None = None,
    description: str | None = None,
    quota: int | None = None,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> Activity:
    """Change an activity; the quota may not go below what is already taken."""
    check_manager(actor, activity.organiser)
    if quota is not None:
        quota = bounds.parse_quota(quota, "quota")
    check_texts(title=title, venue=venue)
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "title": title,
            "venue": venue,
            "description": description,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "valid_from": valid_from,
            "valid_to": valid_to,
        }.items()
        if v is not None
    }
    with transaction.atomic(), locking.short_locks(BUSY):
        for name, value in changes.items():
            setattr(activity, name, value)
        _check_dates(
            opens_at=activity.opens_at,
            closes_at=activity.closes_at,
            valid_from=activity.valid_from,
            valid_to=activity.valid_to,
        )
        activity.save()
        if quota is not None:
            quota_resize(activity=activity, size=quota)
            changes["quota"] = quota
        audit_record(
            actor=actor,
            action=Action.ACTIVITY_UPDATE,
            obj=activity,
            org_path=activity.eligible_org.path,
            **{k: str(v) for k, v in changes.items()},
        )
    activity_forget(activity.pk)
    return activity
