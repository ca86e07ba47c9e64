"""The lottery: drawn once after the window, with a published seed, by rules.lottery_draw."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.benefits import rules
from huzhu.benefits.activities import check_manager, check_texts
from huzhu.benefits.models import Activity, Booking, BookingStatus, ExclusiveGroup, Mode, Quota
from huzhu.benefits.selectors import members_holding_in_group
from huzhu.benefits.shards import BUSY, QUOTA_LOCK_ORDER, quotas_take
from huzhu.core import locking
from huzhu.core.errors import Conflict, DomainError


def lottery_draw(*, activity: Activity, seed: str, actor: User | None) -> dict[str, Any]:
    """Draw after the window with a published seed. Drawing again with the same seed returns the
    same result; anyone can re-run `rules.lottery_draw` on the published entries to check it."""
    check_manager(actor, activity.organiser)
    seed = seed.strip()
    if not seed:
        raise DomainError("seed_required", _("请提供摇号种子"), field="seed")
    check_texts(seed=seed)
    if activity.mode != Mode.LOTTERY:
        raise DomainError("not_lottery", _("该活动不是摇号活动"))
    if timezone.now() < activity.closes_at:
        raise Conflict("window_open", _("报名截止后才能摇号"))
    with transaction.atomic(), locking.short_locks(BUSY):
        # Lock order: the activity, its exclusive group, its quota rows, then its entries.
        activity = locking.locked_row(Activity.objects.all(), activity.pk)
        if activity.drawn_at is not None:
            if activity.draw_seed != seed:
                raise Conflict("already_drawn", _("已用另一个种子摇号"), seed=activity.draw_seed)
            return dict(activity.draw_result or {})
        result, now = _draw(activity, seed)
        activity.draw_seed, activity.drawn_at, activity.draw_result = seed, now, result
        activity.save(update_fields=["draw_seed", "drawn_at", "draw_result"])
        audit_record(
            actor=actor,
            action=Action.ACTIVITY_DRAW,
            obj=activity,
            org_path=activity.eligible_org.path,
            seed=seed,
            entries=len(result["entries"]),
            winners=len(result["winners"]),
        )
    return result


def _draw(activity: Activity, seed: str) -> tuple[dict[str, Any], datetime]:
    """Lock the group, the quotas and the entries (in that order), draw, and give the winners
    their places: the result to publish, and when it was drawn."""
    if activity.group_id:
        locking.locked_row(ExclusiveGroup.objects.all(), activity.group_id)
    quotas = locking.locked_rows(Quota.objects.filter(activity=activity), order_by=QUOTA_LOCK_ORDER)
    entries = [
        rules.Entry(id=b.pk, member=b.member_id, day=b.day)
        for b in locking.locked_rows(
            Booking.objects.filter(activity=activity, status=BookingStatus.REGISTERED).only(
                "id", "member_id", "day"
            )
        )
    ]
    excluded = members_holding_in_group(activity.group_id) if activity.group_id else set()
    capacity = sum(q.remaining for q in quotas if q.day is None)
    draw = rules.lottery_draw(
        seed=seed,
        entries=entries,
        capacity=capacity,
        day_capacity={q.day: q.remaining for q in quotas if q.day is not None},
        excluded_members=excluded,
    )
    now = timezone.now()
    _entries_decided(draw, now)
    by_id = {e.id: e for e in entries}
    quotas_take(
        quotas=quotas,
        places=len(draw.winners),
        day_places=Counter(by_id[w].day for w in draw.winners),
    )
    result = {
        "seed": seed,
        "algorithm": rules.DRAW_ALGORITHM,
        "drawn_at": now.isoformat(),
        "capacity": capacity,
        "entries": draw.order,
        "winners": draw.winners,
        "waiting": draw.waiting,
        "excluded": draw.excluded,
    }
    return result, now


def _entries_decided(draw: rules.Draw, now: datetime) -> None:
    """Each entry booked, waiting or lost, with its place in the draw."""
    rank = {entry_id: i + 1 for i, entry_id in enumerate(draw.order)}
    updates = [
        Booking(
            pk=entry_id,
            status=status,
            lottery_rank=rank[entry_id],
            booked_at=now if status == BookingStatus.BOOKED else None,
        )
        for ids, status in (
            (draw.winners, BookingStatus.BOOKED),
            (draw.waiting, BookingStatus.WAITLISTED),
            (draw.excluded, BookingStatus.LOST),
        )
        for entry_id in ids
    ]
    Booking.objects.bulk_update(updates, ["status", "lottery_rank", "booked_at"], batch_size=1000)
