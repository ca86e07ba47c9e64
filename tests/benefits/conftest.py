"""Factories for benefits tests: activities, card-holding members and their logins."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.db.models import Count, QuerySet
from django.utils import timezone

from huzhu.accounts.models import Role, User
from huzhu.accounts.services import token_create
from huzhu.benefits.activities import activity_create
from huzhu.benefits.models import HOLDING, Activity, Booking
from huzhu.members.models import Member, Organisation
from huzhu.members.services import card_issue
from tests.conftest import ApiClient

_cards = itertools.count(1)


def make_activity(
    org: Organisation,
    *,
    quota: int = 10,
    group: str | None = None,
    mode: str = "fcfs",
    opens_in: timedelta = timedelta(hours=-1),
    closes_in: timedelta = timedelta(days=30),
    valid_from: date | None = None,
    valid_to: date | None = None,
    day_quotas: dict[date, int] | None = None,
    title: str = "滑雪票",
    actor: User | None = None,
    shards: int | None = None,
) -> Activity:
    now = timezone.now()
    today = timezone.localdate()
    return activity_create(
        actor=actor,
        title=title,
        venue="怀柔滑雪场",
        quota=quota,
        group=group,
        mode=mode,
        opens_at=now + opens_in,
        closes_at=now + closes_in,
        valid_from=valid_from or today,
        valid_to=valid_to or today + timedelta(days=60),
        eligible_org=org,
        day_quotas=day_quotas,
        shards=shards,
    )


def members_twice_in_a_group() -> QuerySet[Any]:
    """(member, group) pairs holding more than one live booking: must always be empty."""
    return (
        Booking.objects.filter(status__in=HOLDING, group__isnull=False)
        .values("member", "group")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )


@pytest.fixture
def activity_in(db: Any) -> Callable[..., Activity]:
    return make_activity


@pytest.fixture
def card_holder(make_member: Callable[..., Member]) -> Callable[..., Member]:
    """A member with an active card."""

    def make(unit: Organisation, name: str = "李四") -> Member:
        member = make_member(unit, name=name)
        card_issue(member=member, card_no=f"C{next(_cards):08d}")
        return member

    return make


def login_for(member: Member) -> User:
    # No password (hashing one takes argon2's time); member_api gives the login a token directly.
    user = User(username=f"m{member.pk}", role=Role.MEMBER, member=member)
    user.set_unusable_password()
    user.save()
    return user


def token_for(user: User) -> str:
    return token_create(user=user)


@pytest.fixture
def member_api(db: Any) -> Callable[[Member], ApiClient]:
    """An API client signed in as the member."""

    def make(member: Member) -> ApiClient:
        return ApiClient(token_for(login_for(member)))

    return make
