"""The benefits part of the demo data set: the Huairou winter case (2021冬季冰雪), three free-ticket
activities in one exclusive group for BJ16's card-holding members, and two member logins."""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.utils import timezone

from huzhu.core.config import DEMO_PASSWORD

DEMO_GROUP = "2021冬季冰雪"
# (title, venue, quota): 16,000 person-times in all, each member may take one of the three.
DEMO_ACTIVITIES = (
    ("职工免费滑雪（怀柔滑雪场）", "怀柔区滑雪场", 8000),
    ("职工免费游园（青龙峡）", "怀柔区青龙峡景区", 4000),
    ("职工免费游园（雁栖湖）", "怀柔区雁栖湖公园", 4000),
)
# Member logins (password: huzhu.core.config.DEMO_PASSWORD), card holders of a Huairou union.
DEMO_MEMBER_LOGINS = ("member1", "member2")


def demo_load() -> dict[str, int]:
    from huzhu.accounts.models import Role, User
    from huzhu.benefits.activities import activity_create
    from huzhu.benefits.models import Activity
    from huzhu.members.models import CardStatus, Organisation
    from huzhu.members.services import card_issue, member_create_or_update, org_create
    from huzhu.members.synth import make_id_number

    district = Organisation.objects.filter(code="BJ16").first()
    if district is None:
        return {}
    now = timezone.now()
    created = 0
    for title, venue, quota in DEMO_ACTIVITIES:
        if Activity.objects.filter(title=title, organiser=district).exists():
            continue
        activity_create(
            actor=None,
            title=title,
            venue=venue,
            quota=quota,
            group=DEMO_GROUP,
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=45),
            valid_from=timezone.localdate(),
            valid_to=timezone.localdate() + timedelta(days=60),
            eligible_org=district,
        )
        created += 1
    logins = 0
    unit = (
        Organisation.objects.filter(path__startswith=district.path, kind="unit")
        .order_by("id")
        .first()
    )
    if unit is None:
        town = Organisation.objects.filter(parent=district).order_by("id").first()
        unit = org_create(
            code="BJ16DEMO", name="怀柔区冰雪旅游职工工会", kind="unit", parent=town or district
        )
    rng = random.Random(16)
    for i, username in enumerate(DEMO_MEMBER_LOGINS):
        if User.objects.filter(username=username).exists() or unit is None:
            continue
        id_number = make_id_number(rng, "110116", date(1980 + 7 * i, 3, 1 + i))
        member, _created = member_create_or_update(
            id_number=id_number, name=("王滑雪", "李游园")[i], unit=unit
        )
        if not member.cards.filter(status=CardStatus.ACTIVE).exists():
            card_issue(member=member, card_no=f"6216{member.pk:012d}")
        user = User(username=username, role=Role.MEMBER, member=member)
        user.set_password(DEMO_PASSWORD)
        user.save()
        logins += 1
    return {"activities created": created, "member logins created": logins}
