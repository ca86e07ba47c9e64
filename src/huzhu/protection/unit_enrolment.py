"""Enrolling every active member of a workplace union in a plan version at once (集体参保)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.accounts.policy import ROSTER_ROLES, in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core.errors import DomainError, NotFound
from huzhu.members.models import Member, Organisation, OrgKind
from huzhu.protection.models import (
    Enrollment,
    PlanVersion,
)
from huzhu.protection.services import (
    require_role,
)

# -- enrolments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitEnrolment:
    unit: Organisation
    version: PlanVersion
    created: int
    already: int


def enrollment_create_for_unit(
    *, actor: User, unit: Organisation, version: PlanVersion, paid_on: date | None = None
) -> UnitEnrolment:
    """Enrol every active member of a workplace union in a version, those not yet enrolled; the
    payer is the version's and the amount its contribution."""
    require_role(actor, frozenset(ROSTER_ROLES), _("为会员办理参保"))
    if not in_subtree(unit.path, staff_scope_path(actor)):
        raise NotFound(pgettext("未找到", "组织 %(code)s") % {"code": unit.code})
    if unit.kind != OrgKind.UNIT:
        raise DomainError(
            "not_a_unit", _("%(code)s 不是基层工会") % {"code": unit.code}, field="code"
        )
    with transaction.atomic():
        members = list(
            Member.objects.filter(unit=unit, is_active=True).values_list("id", flat=True)
        )
        have = set(
            Enrollment.objects.filter(version=version, member_id__in=members).values_list(
                "member_id", flat=True
            )
        )
        new = [
            Enrollment(
                member_id=m,
                unit=unit,
                version=version,
                paid_on=paid_on,
                amount=version.contribution,
                payer=version.payer,
            )
            for m in members
            if m not in have
        ]
        Enrollment.objects.bulk_create(new, batch_size=1000)
        audit_record(
            actor=actor,
            action=Action.ENROLLMENTS_UNIT,
            obj=version,
            org_path=unit.path,
            unit=unit.code,
            created=len(new),
        )
    return UnitEnrolment(unit=unit, version=version, created=len(new), already=len(have))
