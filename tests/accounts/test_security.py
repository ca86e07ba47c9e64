"""Sign-in throttling and lockout per account and per address; security headers."""

from __future__ import annotations

import re

from django.test import Client
from django.utils import timezone

from huzhu.accounts.models import LoginThrottle, Role
from tests.conftest import PASSWORD, ApiClient


def _token(username: str, password: str, address: str = "10.0.0.1"):
    return ApiClient().post(
        "/auth/token", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(tree, make_staff):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="zhang")
    for _ in range(5):
        assert _token(user.username, "wrong").status_code == 401
    locked = _token(user.username, PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"


def test_lockout_ends_after_its_time(tree, make_staff):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="li")
    for _ in range(5):
        _token(user.username, "wrong")
    LoginThrottle.objects.update(locked_until=timezone.now() - timezone.timedelta(seconds=1))
    assert _token(user.username, PASSWORD).status_code == 200


def test_success_resets_the_account_count(tree, make_staff):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="wang")
    for _ in range(4):
        _token(user.username, "wrong")
    assert _token(user.username, PASSWORD).status_code == 200
    for _ in range(4):
        _token(user.username, "wrong")
    assert _token(user.username, PASSWORD).status_code == 200


def test_one_address_guessing_many_accounts_is_locked(tree, make_staff):
    make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="zhao")
    for n in range(30):
        _token(f"nobody{n}", "guess", address="10.9.9.9")
    assert _token("zhao", PASSWORD, address="10.9.9.9").status_code == 429
    assert _token("zhao", PASSWORD, address="10.1.1.1").status_code == 200


def test_web_login_is_throttled_too(tree, make_staff):
    make_staff(Role.DISTRICT_ADMIN, tree.xicheng, username="sun")
    client = Client(REMOTE_ADDR="10.2.2.2")
    for _ in range(5):
        client.post("/login/", {"username": "sun", "password": "wrong"})
    client.post("/login/", {"username": "sun", "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_revoked_token_no_longer_works(tree, make_staff, api_as):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    api = api_as(user)
    assert api.get("/auth/me").status_code == 200
    assert api.delete("/auth/token").status_code == 204
    assert api.get("/auth/me").status_code == 401


def test_pages_carry_a_strict_content_security_policy(db):
    response = Client().get("/")
    csp = response.headers["Content-Security-Policy"]
    script = next(part for part in csp.split("; ") if part.startswith("script-src"))
    assert script == "script-src 'self'"
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_api_docs_load_swagger_from_this_server(db):
    html = Client().get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    # Every script, style and link comes from this server: no CDN, nor any other host. (Not a
    # search for "cdn" in the page: the random CSRF token in it may spell it.)
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, re.IGNORECASE)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert not re.search(r"https?://|//cdn\.|cdn\.jsdelivr|unpkg\.com", html, re.IGNORECASE)


def test_nul_characters_are_refused_before_the_database(db):
    import json

    client = Client()
    body = json.dumps({"username": "a\u0000b", "password": "x"})
    r = client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_request"
    assert Client().get("/api/v1/orgs?q=%00").status_code == 400


def test_passwords_are_hashed_with_argon2_in_production_and_checked_for_real(tree, make_staff):
    from django.contrib.auth.hashers import Argon2PasswordHasher, check_password

    from tests.conftest import PRODUCTION_HASHERS

    assert PRODUCTION_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password(PASSWORD)
    assert not user.check_password(PASSWORD + "x")
    # A hash made with production's parameters verifies too (the parameters travel in the hash).
    production = Argon2PasswordHasher()
    strong = production.encode(PASSWORD, production.salt())
    assert "m=102400" in strong and check_password(PASSWORD, strong)


def test_a_wrong_or_revoked_token_is_401_on_every_method_not_a_csrf_failure(
    tree, make_staff, api_as
):
    user = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    api = api_as(user)
    api.delete("/auth/token")
    for client in (api, ApiClient("not-a-token"), ApiClient()):
        for r in (client.post("/activities", {}), client.patch("/activities/1", {})):
            assert r.status_code == 401, r.content
            assert r.json()["error"]["code"] == "unauthorized"


def test_a_browser_session_still_needs_its_csrf_token_to_change_anything(tree, make_staff):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    assert browser.get("/api/v1/auth/me").status_code == 200
    r = browser.post("/api/v1/activities", "{}", content_type="application/json")
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
