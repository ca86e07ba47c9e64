"""The console's menu, per role: each page is listed for exactly the logins its view lets in
(tests/web/test_console_menu.py holds every entry to its page, role by role)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import (
    ROSTER_READ_ROLES,
    ROSTER_ROLES,
    STAFF_ROLES,
    Permission,
    roles,
)
from huzhu.benefits.selectors import GATE_ROLES
from huzhu.protection.services import CORRECT_ROLES, FILE_ROLES, REVIEW_ROLES
from huzhu.web.services import may_import_settlements


@dataclass(frozen=True)
class Entry:
    url: str
    label: Any  # a lazy translation
    allowed: Callable[[User], bool]


def _for(role_set: frozenset[str]) -> Callable[[User], bool]:
    return lambda user: user.role in role_set


MENU = (
    Entry("/console/", _("概览"), _for(STAFF_ROLES)),
    Entry("/console/orgs/", _("组织"), _for(STAFF_ROLES)),
    Entry("/console/members/", _("会员"), _for(ROSTER_READ_ROLES)),
    Entry("/console/import/members/", _("导入名册"), _for(ROSTER_ROLES)),
    Entry("/console/plans/", _("保障计划"), _for(STAFF_ROLES)),
    Entry("/console/activities/", _("普惠活动"), _for(STAFF_ROLES)),
    Entry("/console/gate/", _("扫码核销"), _for(GATE_ROLES)),
    Entry("/console/care/", _("关爱慰问"), _for(roles(Permission.CARE_MANAGE))),
    Entry("/console/stations/", _("暖心驿站"), _for(STAFF_ROLES)),
    Entry("/console/labour-models/", _("劳模"), _for(roles(Permission.CARE_MANAGE))),
    Entry("/console/claims/", _("理赔审核"), _for(FILE_ROLES | REVIEW_ROLES)),
    Entry("/console/approvals/", _("待复核"), _for(REVIEW_ROLES | CORRECT_ROLES)),
    Entry("/console/payments/", _("支付批次"), _for(roles(Permission.PAYMENT_RUN))),
    Entry("/console/settlements/", _("医保结算导入"), may_import_settlements),
    Entry("/console/audit/", _("审计日志"), _for(ROSTER_ROLES)),
    Entry("/console/stats/", _("统计"), _for(STAFF_ROLES)),
)


def menu_for(user: User) -> list[Entry]:
    """The entries `user` may open; none for a login that is not staff (or has no org)."""
    if not user.is_authenticated or user.role not in STAFF_ROLES or user.org_id is None:
        return []
    return [entry for entry in MENU if entry.allowed(user)]


def console_menu(request: HttpRequest) -> dict[str, object]:
    """Context processor: `console_menu`, read only when a template uses it."""
    return {"console_menu": lambda: menu_for(request.user)}  # type: ignore[arg-type]
