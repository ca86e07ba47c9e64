"""Who may do what (权限), in one place: each permission names the roles that hold it, and a
staff login acts only inside its organisation's subtree (`in_subtree`).

The API, the pages, the admin and the services take their role sets from here (the constants
below, or `roles(...)`), and `tests/test_permission_matrix.py` checks every route against them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from huzhu.accounts.models import Role


class Permission(StrEnum):
    STAFF = "staff"  # any staff login: the console, figures of its subtree
    ID_REVEAL = "id_reveal"  # see a full ID number (each reveal is logged)
    ROSTER_MANAGE = "roster_manage"  # the organisation tree and rosters (名册)
    ROSTER_READ = "roster_read"  # members and their cards
    CLAIM_FILE = "claim_file"  # file claims for members (申请理赔)
    CLAIM_REVIEW = "claim_review"  # accept, review, approve, reject (审核)
    CLAIM_CORRECT = "claim_correct"  # adjust or claw back what was paid (调整/追回)
    PAYMENT_RUN = "payment_run"  # make, release and confirm payment runs (支付)
    ACTIVITY_MANAGE = "activity_manage"  # benefit activities and their bookings (会员专享)
    VOUCHER_REDEEM = "voucher_redeem"  # scan vouchers at the gate (核销)
    STATION_MANAGE = "station_manage"  # warm stations (暖心驿站)
    CARE_MANAGE = "care_manage"  # care campaigns, visits and labour models (慰问, 劳模)


_ADMINS = frozenset({Role.CITY_ADMIN, Role.DISTRICT_ADMIN, Role.UNIT_ADMIN})

GRANTS: dict[Permission, frozenset[str]] = {
    Permission.STAFF: frozenset(r for r in Role if r != Role.MEMBER),
    Permission.ID_REVEAL: _ADMINS | {Role.REVIEWER},
    Permission.ROSTER_MANAGE: _ADMINS,
    # Gate staff and station operators (who may work for a station's host) see no roster.
    Permission.ROSTER_READ: _ADMINS | {Role.REVIEWER},
    Permission.CLAIM_FILE: frozenset({Role.UNIT_ADMIN}),
    Permission.CLAIM_REVIEW: frozenset({Role.REVIEWER, Role.DISTRICT_ADMIN, Role.CITY_ADMIN}),
    Permission.CLAIM_CORRECT: frozenset({Role.DISTRICT_ADMIN, Role.CITY_ADMIN}),
    Permission.PAYMENT_RUN: frozenset({Role.CITY_ADMIN}),
    Permission.ACTIVITY_MANAGE: _ADMINS,
    Permission.VOUCHER_REDEEM: _ADMINS | {Role.GATE},
    Permission.STATION_MANAGE: _ADMINS,
    Permission.CARE_MANAGE: _ADMINS,
}


def roles(permission: Permission) -> frozenset[str]:
    """The roles that hold `permission`."""
    return GRANTS[permission]


def may(user: Any, permission: Permission) -> bool:
    """Whether `user`'s role holds `permission` (the subtree is checked apart)."""
    return getattr(user, "role", None) in GRANTS[permission]


def in_subtree(path: str, scope: str) -> bool:
    """Whether the organisation at `path` is in the subtree at `scope` (itself included)."""
    return path.startswith(scope)


# The role sets by the names the code has long used for them.
STAFF_ROLES = roles(Permission.STAFF)
ID_REVEAL_ROLES = roles(Permission.ID_REVEAL)
ROSTER_ROLES = roles(Permission.ROSTER_MANAGE)
ROSTER_READ_ROLES = roles(Permission.ROSTER_READ)
