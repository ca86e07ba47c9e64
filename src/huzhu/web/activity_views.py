"""The console's activity form (新建普惠活动): what the API's POST /activities takes, as a page a
union clerk fills in, Beijing time. Thin: benefits.activities.activity_create decides."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.benefits.activities import activity_create
from huzhu.benefits.models import Mode
from huzhu.benefits.selectors import MANAGER_ROLES
from huzhu.core import bounds
from huzhu.core.errors import DomainError
from huzhu.members.selectors import orgs_visible_to
from huzhu.web.access import staff_required

FIELDS = (
    "title",
    "venue",
    "description",
    "eligible_org",
    "quota",
    "opens_at",
    "closes_at",
    "valid_from",
    "valid_to",
    "mode",
    "group",
)


def _moment(text: str, field: str) -> datetime:
    """A `datetime-local` value (2026-01-13T12:00), read in Beijing time."""
    parsed = parse_datetime(text) if text else None
    if parsed is None:
        raise DomainError("invalid_moment", _("请填写日期和时间，如 2026-01-13 12:00"), field=field)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return bounds.check_moment(parsed, field)


@staff_required(MANAGER_ROLES)
def activity_new(request: HttpRequest, user: User) -> HttpResponse:
    """新建普惠活动: the opening time, the quota, who may book, a one-per-person group, lottery or
    first come first served."""
    orgs = orgs_visible_to(user).order_by("path")[:500]
    posted = (
        {f: request.POST.get(f, "").strip() for f in FIELDS} if request.method == "POST" else {}
    )
    context: dict[str, object] = {"orgs": orgs, "posted": posted, "modes": Mode.choices}
    if request.method == "POST":
        try:
            eligible = orgs_visible_to(user).filter(code=posted["eligible_org"]).first()
            if eligible is None:
                raise DomainError("invalid_org", _("请选择可参加的组织"), field="eligible_org")
            activity = activity_create(
                actor=user,
                title=posted["title"],
                venue=posted["venue"],
                description=posted["description"],
                quota=bounds.parse_quota(posted["quota"], "quota", minimum=1),
                opens_at=_moment(posted["opens_at"], "opens_at"),
                closes_at=_moment(posted["closes_at"], "closes_at"),
                valid_from=bounds.parse_date(posted["valid_from"], "valid_from"),
                valid_to=bounds.parse_date(posted["valid_to"], "valid_to"),
                eligible_org=eligible,
                mode=posted["mode"] or Mode.FCFS,
                group=posted["group"] or None,
            )
        except DomainError as exc:
            context["error"], context["error_field"] = exc.message, exc.details.get("field")
            return render(request, "web/console/activity_new.html", context, status=exc.status)
        return HttpResponseRedirect(f"/console/activities/{activity.pk}/?created=1")
    return render(request, "web/console/activity_new.html", context)
