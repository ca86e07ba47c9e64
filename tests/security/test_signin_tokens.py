"""Bearer tokens (issue 16): idle and absolute expiry, revoked by a password or role change,
`last_used_at` kept."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from huzhu.accounts.models import ApiToken, Role
from huzhu.accounts.services import token_issue
from tests.conftest import PASSWORD, ApiClient


def _signed_in(tree, make_staff):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    api = ApiClient(token_issue(username=user.username, password=PASSWORD))
    assert api.get("/auth/me").status_code == 200
    return user, api


def test_a_token_left_unused_for_the_idle_days_expires(tree, make_staff, settings):
    settings.HUZHU_TOKEN_IDLE_DAYS = 30
    _user, api = _signed_in(tree, make_staff)
    long_ago = timezone.now() - timedelta(days=31)
    ApiToken.objects.update(created_at=long_ago, last_used_at=long_ago)
    assert api.get("/auth/me").status_code == 401


def test_a_token_in_daily_use_still_expires_after_the_maximum_days(tree, make_staff, settings):
    settings.HUZHU_TOKEN_MAX_DAYS = 90
    _user, api = _signed_in(tree, make_staff)
    ApiToken.objects.update(
        created_at=timezone.now() - timedelta(days=91), last_used_at=timezone.now()
    )
    assert api.get("/auth/me").status_code == 401


def test_a_password_change_revokes_the_users_tokens(tree, make_staff):
    user, api = _signed_in(tree, make_staff)
    user.set_password("another-pass-2026!")
    user.save()
    assert api.get("/auth/me").status_code == 401
    assert ApiToken.objects.get(user=user).revoked_at is not None
    fresh = ApiClient(token_issue(username=user.username, password="another-pass-2026!"))
    assert fresh.get("/auth/me").status_code == 200


def test_a_role_change_revokes_the_users_tokens(tree, make_staff):
    user, api = _signed_in(tree, make_staff)
    user.role = Role.GATE
    user.save()
    assert api.get("/auth/me").status_code == 401


def test_an_organisation_change_revokes_the_users_tokens(tree, make_staff):
    user, api = _signed_in(tree, make_staff)
    user.org = tree.huairou
    user.save()
    assert api.get("/auth/me").status_code == 401


def test_last_used_at_is_kept(tree, make_staff):
    _user, api = _signed_in(tree, make_staff)
    earlier = timezone.now() - timedelta(hours=2)
    ApiToken.objects.update(last_used_at=earlier)
    assert api.get("/auth/me").status_code == 200
    used = ApiToken.objects.get().last_used_at
    assert used is not None and used > earlier + timedelta(hours=1)


def test_tokens_issued_before_the_upgrade_are_stamped_and_keep_working(tree, make_staff):
    import importlib

    from django.apps import apps

    from huzhu.accounts.services import credentials_stamp

    user, api = _signed_in(tree, make_staff)
    ApiToken.objects.update(stamp="")
    migration = importlib.import_module("huzhu.accounts.migrations.0005_apitoken_stamp")
    migration.stamp_existing_tokens(apps, None)
    assert ApiToken.objects.get().stamp == credentials_stamp(user)
    assert api.get("/auth/me").status_code == 200
