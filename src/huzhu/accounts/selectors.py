"""Who may see what: every staff query is scoped to the subtree of the user's organisation."""

from __future__ import annotations

from django.db.models import QuerySet

from huzhu.accounts.models import ROSTER_READ_ROLES, STAFF_ROLES, User
from huzhu.core.errors import Forbidden
from huzhu.members.models import Member, Organisation


def staff_scope_path(user: User) -> str:
    """The path prefix of the user's subtree; Forbidden for members and staff without an org."""
    if not user.is_authenticated or user.role not in STAFF_ROLES or user.org_id is None:
        raise Forbidden("not_staff", "staff only")
    assert user.org is not None
    return user.org.path


def roster_scope_path(user: User) -> str:
    """The subtree whose roster the user reads; Forbidden for roles that see no roster."""
    scope = staff_scope_path(user)
    if user.role not in ROSTER_READ_ROLES:
        raise Forbidden("forbidden", "your role has no access to the member roster")
    return scope


def orgs_visible_to(user: User) -> QuerySet[Organisation]:
    return Organisation.objects.filter(path__startswith=staff_scope_path(user))


def members_visible_to(user: User) -> QuerySet[Member]:
    """The roster of the user's subtree; Forbidden for roles that see no roster."""
    return Member.objects.filter(unit__path__startswith=roster_scope_path(user))


def member_count(user: User) -> int:
    """How many members the user's subtree has: a figure for any staff role, not the roster."""
    return Member.objects.filter(unit__path__startswith=staff_scope_path(user)).count()
