"""Who may see what: every staff query is scoped to the subtree of the user's organisation."""

from __future__ import annotations

from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import ROSTER_READ_ROLES, STAFF_ROLES
from huzhu.core.errors import Forbidden


def staff_scope_path(user: User) -> str:
    """The path prefix of the user's subtree; Forbidden for members and staff without an org."""
    if not user.is_authenticated or user.role not in STAFF_ROLES or user.org_id is None:
        raise Forbidden("not_staff", _("仅限工作人员"))
    assert user.org is not None
    return user.org.path


def roster_scope_path(user: User) -> str:
    """The subtree whose roster the user reads; Forbidden for roles that see no roster."""
    scope = staff_scope_path(user)
    if user.role not in ROSTER_READ_ROLES:
        raise Forbidden("forbidden", _("您的角色无权查看会员名册"))
    return scope
