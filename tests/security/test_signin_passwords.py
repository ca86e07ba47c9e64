"""Attacks on password sign-in (issue 16): a stranger locking an account, parallel guesses past
the limit, one proxy address for the whole city, huge usernames; failures and lockouts audited."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from huzhu.accounts.models import LoginThrottle, Role, User
from huzhu.audit.models import AuditEvent
from tests.conftest import PASSWORD

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.9"
PROXY = "10.0.0.5"


def _token(username: str, password: str, **extra: Any) -> Any:
    return Client().post(
        "/api/v1/auth/token",
        data=json.dumps({"username": username, "password": password}),
        content_type="application/json",
        **extra,
    )


def test_wrong_passwords_from_a_stranger_do_not_lock_the_owner_out(tree, make_staff):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="zhang")
    for _ in range(7):
        _token(user.username, "wrong", REMOTE_ADDR=ATTACKER)
    # The guesser is slowed down ...
    refused = _token(user.username, PASSWORD, REMOTE_ADDR=ATTACKER)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_attempts"
    # ... the owner, elsewhere, is not.
    assert _token(user.username, PASSWORD, REMOTE_ADDR=OWNER).status_code == 200


def test_the_web_sign_in_slows_the_guesser_not_the_owner(tree, make_staff):
    make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="sun")
    guesser = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(7):
        guesser.post("/login/", {"username": "sun", "password": "wrong"})
    r = guesser.post("/login/", {"username": "sun", "password": PASSWORD})
    assert r.status_code == 429 and "_auth_user_id" not in guesser.session
    owner = Client(REMOTE_ADDR=OWNER)
    owner.post("/login/", {"username": "sun", "password": PASSWORD})
    assert "_auth_user_id" in owner.session


def test_behind_the_proxy_one_clients_failures_do_not_lock_out_the_city(tree, make_staff, settings):
    settings.HUZHU_TRUSTED_PROXIES = ["10.0.0.0/8"]
    make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="zhao")
    for n in range(31):
        _token(f"nobody{n}", "guess", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    attacker = _token("zhao", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert attacker.status_code == 429
    owner = _token("zhao", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{OWNER}, {PROXY}")
    assert owner.status_code == 200


def test_a_forwarded_for_header_from_anyone_but_a_trusted_proxy_is_ignored(
    tree, make_staff, settings
):
    settings.HUZHU_TRUSTED_PROXIES = ["10.0.0.0/8"]
    make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="qian")
    for n in range(31):
        spoofed = f"192.0.2.{n}"  # a new "address" every time: it must not help
        _token(f"nobody{n}", "guess", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=spoofed)
    r = _token("qian", PASSWORD, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=OWNER)
    assert r.status_code == 429


def test_a_huge_username_is_refused_and_never_stored(tree, make_staff):
    huge = "a" * (9 * 1024 * 1024)
    r = _token(huge, "guess", REMOTE_ADDR=ATTACKER)
    assert r.status_code in (400, 401, 422), r.status_code
    r = Client(REMOTE_ADDR=ATTACKER).post("/login/", {"username": huge, "password": "guess"})
    assert r.status_code in (200, 400)
    from django.contrib.auth import authenticate

    assert authenticate(None, username=huge, password="guess") is None
    longest = max((len(k) for k in LoginThrottle.objects.values_list("key", flat=True)), default=0)
    assert longest <= 100
    assert not AuditEvent.objects.filter(data__username__startswith="a" * 200).exists()


def test_failed_sign_ins_and_lockouts_are_audited(tree, make_staff):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="wu")
    for _ in range(6):
        _token(user.username, "wrong", REMOTE_ADDR=ATTACKER)
    failed = AuditEvent.objects.filter(action="login.failed")
    assert failed.count() == 5
    event = failed.first()
    assert event is not None
    assert event.data["username"] == "wu" and event.data["address"] == ATTACKER
    assert event.object_id == str(user.pk) and event.org_path == tree.xicheng.path
    locked = AuditEvent.objects.get(action="login.locked")
    assert locked.data["address"] == ATTACKER and locked.data["until"]
    assert locked.data["lock"] == "pair" and locked.org_path == tree.xicheng.path


def test_what_is_typed_as_an_unknown_username_is_not_audited(tree, make_staff):
    # People type their password into the username field now and then.
    _token("my-secret-pass-2026", "wrong", REMOTE_ADDR=ATTACKER)
    event = AuditEvent.objects.get(action="login.failed")
    assert "my-secret-pass-2026" not in str(event.data) and event.data["address"] == ATTACKER


def test_an_ipv6_client_counts_as_its_whole_slash_64(tree, make_staff):
    make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="feng")
    for n in range(31):
        _token(f"nobody{n}", "guess", REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}")
    assert _token("feng", PASSWORD, REMOTE_ADDR="2001:db8:1:2:ffff::1").status_code == 429
    assert _token("feng", PASSWORD, REMOTE_ADDR="2001:db8:1:3::1").status_code == 200


def test_the_page_says_until_when_the_guesser_must_wait(tree, make_staff):
    make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="chen")
    guesser = Client(REMOTE_ADDR=ATTACKER, HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(5):
        guesser.post("/login/", {"username": "chen", "password": "wrong"})
    html = guesser.post("/login/", {"username": "chen", "password": "wrong"}).content.decode()
    assert "Too many failed sign-ins; try again after" in html


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_parallel_guesses_get_at_most_the_limit_checked(tree, make_staff, monkeypatch):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="zheng")
    checked: list[int] = []
    lock = threading.Lock()
    original = User.check_password

    def slow_check(self: User, raw: str) -> bool:
        with lock:
            checked.append(1)
        time.sleep(0.05)  # a production argon2 check takes about this long
        return original(self, raw)

    monkeypatch.setattr(User, "check_password", slow_check)
    barrier = threading.Barrier(16)
    statuses: list[int] = []

    def guess(n: int) -> None:
        try:
            barrier.wait()
            r = _token(user.username, f"guess-{n}", REMOTE_ADDR=ATTACKER)
            with lock:
                statuses.append(r.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) <= 5, f"{len(checked)} guesses checked against a limit of 5"
    assert sorted(statuses) == [401] * len(checked) + [429] * (16 - len(checked))
