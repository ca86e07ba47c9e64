"""Reads of the roster scoped to a login: the organisations and members of its subtree."""

from __future__ import annotations

from django.db.models import QuerySet

from huzhu.accounts.models import User
from huzhu.accounts.selectors import roster_scope_path, staff_scope_path
from huzhu.core.keyset import Total, list_total
from huzhu.core.pii import vault
from huzhu.members.models import Member, Organisation


def orgs_visible_to(user: User) -> QuerySet[Organisation]:
    return Organisation.objects.filter(path__startswith=staff_scope_path(user))


def members_visible_to(user: User) -> QuerySet[Member]:
    """The roster of the user's subtree; Forbidden for roles that see no roster."""
    return Member.objects.filter(unit__path__startswith=roster_scope_path(user))


def member_visible_by_id_number(user: User, id_number: str) -> Member | None:
    """The member of the user's subtree holding this normalised ID number, with its unit; None
    for a number nobody holds and for one held outside the subtree alike (nothing outside tells
    a caller what is there)."""
    return (
        members_visible_to(user)
        .select_related("unit")
        .filter(id_hash=vault().lookup_hash(id_number))
        .first()
    )


def member_total(user: User) -> Total:
    """How many members the user's subtree has: a figure for any staff role, not the roster;
    PostgreSQL's estimate where counting would read millions of rows (huzhu.core.keyset)."""
    return list_total(Member.objects.filter(unit__path__startswith=staff_scope_path(user)))
