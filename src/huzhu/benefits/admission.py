"""Whether a member may book an activity: who asks, the booking window and eligibility,
checked before anything is written, and the database's last word (its unique indexes and
CHECK) turned into the same answers. Both ways of booking (bookings, booking_statement) ask
here."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import Role, User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.benefits import rules
from huzhu.benefits.models import HOLDING, Activity, Booking
from huzhu.benefits.selectors import MANAGER_ROLES, member_has_active_card
from huzhu.core.errors import Busy, Conflict, DomainError, Forbidden, NotFound
from huzhu.members.models import Member


def check_may_book(*, activity: Activity, member: Member, actor: User, now: datetime) -> None:
    """A member books for itself, staff for a member of their subtree; within the window; a
    member of the eligible subtree on the roll with an active card."""
    if actor.role == Role.MEMBER:
        if actor.member_id != member.pk:
            raise Forbidden("forbidden", _("会员只能为本人预约"))
    elif actor.role not in MANAGER_ROLES:
        raise Forbidden("forbidden", _("只有工会工作人员可以管理活动"))
    elif not in_subtree(member.unit.path, staff_scope_path(actor)):
        raise NotFound(pgettext("未找到", "会员"))
    state = rules.window_state(now, activity.opens_at, activity.closes_at)
    if state is not rules.Window.OPEN:
        raise Conflict(
            "window_closed",
            _("尚未开始预约") if state is rules.Window.BEFORE else _("预约已截止"),
            opens_at=activity.opens_at.isoformat(),
            closes_at=activity.closes_at.isoformat(),
        )
    problem = rules.eligibility_problem(
        member_unit_path=member.unit.path,
        eligible_path=activity.eligible_org.path,
        member_active=member.is_active,
        has_active_card=member_has_active_card(member),
    )
    if problem:
        raise Forbidden("not_eligible", _("不符合参加条件：%(why)s") % {"why": problem})


def group_refusal(member: Member, activity: Activity) -> Conflict:
    """The refusal of a second place in an exclusive group (每人限选一项): it names the activity
    the member already holds (this one, or another of the group) and how to change it."""
    held = (
        Booking.objects.filter(member=member, group_id=activity.group_id, status__in=HOLDING)
        .select_related("activity")
        .first()
    )
    if held is None or held.activity_id == activity.pk:
        return Conflict("already_booked_in_group", _("您已预约该活动"))
    return Conflict(
        "already_booked_in_group",
        _("您已选了同组的“%(title)s”，每人只能选其中一项。如要改选，请先在“我的预约”里取消它。")
        % {"title": held.activity.title},
        held_activity=held.activity_id,
    )


def booking_conflict(exc: IntegrityError, activity: Activity, member: Member) -> DomainError:
    """The answer to a booking the database refused."""
    text = str(exc)
    if "benefits_one_booking_per_group" in text or (
        "benefits_one_live_booking_per_activity" in text and activity.group_id
    ):
        return group_refusal(member, activity)
    if "benefits_one_live_booking_per_activity" in text:
        return Conflict("already_booked", _("您已预约该活动"))
    if "benefits_idempotency_unique" in text:
        return Busy(_("相同请求正在处理，请稍后重试"))
    if "benefits_quota_not_oversold" in text:
        return Conflict("sold_out", _("名额已约满"))
    if getattr(exc.__cause__, "sqlstate", None) == "23503":
        # deleted meanwhile (foreign keys are checked at commit)
        return NotFound(pgettext("未找到", "活动"))
    # SQLite names no constraint: tell the cases apart by what is in the table.
    if activity.group_id:
        return group_refusal(member, activity)
    return Conflict("already_booked", _("您已预约该活动"))
