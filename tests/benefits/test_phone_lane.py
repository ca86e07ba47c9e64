"""The phones' lane answers exactly as the general way does.

Every case runs twice on the same data: once through the WSGI application that `huzhu serve`
runs (phone requests through huzhu.api.fastlane), once through Django's handler with the full
middleware, rolled back in between. Status, headers and body must be the same, except the new
booking's id and timestamps. On PostgreSQL the FCFS booking shortcut must have answered the
cases it is meant for (elsewhere it never applies, and the lane differs only in middleware).
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from huzhu.accounts.models import ApiToken, Role
from huzhu.api import fastlane
from tests.benefits.conftest import login_for, make_activity, token_for

pytestmark = pytest.mark.django_db


@dataclass
class Answer:
    status: str
    headers: dict[str, str]
    body: str


@dataclass
class Call:
    path: str
    token: str | None
    method: str = "POST"
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def wsgi(app: Callable[..., Any], call: Call) -> Answer:
    environ = {
        "REQUEST_METHOD": call.method,
        "PATH_INFO": call.path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(call.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(call.body)),
        "CONTENT_TYPE": call.content_type,
    }
    if call.token is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {call.token}"
    for name, value in call.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"], got["headers"] = status, dict(headers)

    # as Django's test client does: the test's transaction must outlive the request
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = app(environ, start_response)
        body = b"".join(result)
        result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert got["headers"].pop("Content-Length") == str(len(body))
    # each answer has a request id of its own, on both ways (core.requestid)
    assert re.fullmatch(r"[0-9a-f]{16}", got["headers"].pop("X-Request-ID"))
    text = re.sub(r'"id": \d+', '"id": 0', body.decode())
    text = re.sub(r'"\d{4}-\d\d-\d\dT[\d:.]+Z"', '"T"', text)
    return Answer(got["status"], got["headers"], text)


def both_ways(calls: list[Call]) -> tuple[list[Answer], list[Answer]]:
    """(through the served application, through the full-middleware handler)."""
    served = fastlane.phone_lane(WSGIHandler())
    general = WSGIHandler()
    results = []
    for app in (served, general):
        with transaction.atomic():
            results.append([wsgi(app, c) for c in calls])
            transaction.set_rollback(True)
    return results[0], results[1]


@pytest.fixture
def lane_answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Status codes the FCFS shortcut answered itself."""
    answered: list[int] = []
    original = fastlane.fcfs_booking_answer

    def spy(request: Any, activity_id: int) -> Any:
        response = original(request, activity_id)
        if response is not None:
            answered.append(response.status_code)
        return response

    monkeypatch.setattr(fastlane, "fcfs_booking_answer", spy)
    return answered


def _token(member: Any) -> str:
    return token_for(login_for(member))


def _book(activity: Any, token: str | None, **kw: Any) -> Call:
    key = kw.pop("key", None)
    call = Call(f"/api/v1/activities/{getattr(activity, 'pk', activity)}/bookings", token, **kw)
    if key:
        call.headers["Idempotency-Key"] = key
    return call


def _same(calls: list[Call], lane_answers: list[int], shortcut: list[int]) -> list[Answer]:
    served, general = both_ways(calls)
    assert served == general
    if connection.vendor == "postgresql":
        # both runs went through the spy, the general one never reaches the lane
        assert lane_answers == shortcut
    else:
        assert lane_answers == []
    return served


def test_a_booking_and_its_replay(tree, card_holder, lane_answers):
    ski = make_activity(tree.huairou)
    token = _token(card_holder(tree.u3))
    answers = _same(
        [_book(ski, token, key="k1"), _book(ski, token, key="k1"), _book(ski, token)],
        lane_answers,
        [201, 201, 409],
    )
    assert [a.status for a in answers] == ["201 Created", "201 Created", "409 Conflict"]
    assert json.loads(answers[2].body)["error"]["code"] == "already_booked"
    assert answers[0].headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_one_per_group_and_a_key_reused_for_another_activity(tree, card_holder, lane_answers):
    ski = make_activity(tree.huairou, group="冰雪")
    park = make_activity(tree.huairou, group="冰雪", title="游园")
    token = _token(card_holder(tree.u3))
    answers = _same(
        [_book(ski, token, key="g"), _book(park, token), _book(park, token, key="g")],
        lane_answers,
        [201, 409, 422],
    )
    codes = [json.loads(a.body).get("error", {}).get("code") for a in answers]
    assert codes == [None, "already_booked_in_group", "idempotency_key_reused"]


def test_sold_out_in_chinese_and_in_english(tree, card_holder, member_api, lane_answers):
    full = make_activity(tree.huairou, quota=1)
    assert member_api(card_holder(tree.u3)).post(f"/activities/{full.pk}/bookings").status_code
    token = _token(card_holder(tree.u3))
    english = {"Accept-Language": "en"}
    answers = _same(
        [_book(full, token), _book(full, token, key="s", headers=english)],
        lane_answers,
        [409, 409],
    )
    assert [a.headers["Content-Language"] for a in answers] == ["zh-hans", "en"]
    assert json.loads(answers[1].body)["error"]["message"].isascii()


def test_refusals_of_the_booking_rules(tree, card_holder, make_member, lane_answers):
    later = make_activity(tree.huairou, opens_in=timedelta(hours=1))
    over = make_activity(tree.huairou, opens_in=timedelta(hours=-2), closes_in=timedelta(hours=-1))
    ski = make_activity(tree.huairou)
    no_card = _token(make_member(tree.u3))
    token = _token(card_holder(tree.u3))
    answers = _same(
        [_book(later, token), _book(over, token), _book(ski, no_card)],
        lane_answers,
        [409, 409, 403],
    )
    codes = [json.loads(a.body)["error"]["code"] for a in answers]
    assert codes == ["window_closed", "window_closed", "not_eligible"]


def test_what_the_shortcut_leaves_to_the_general_way(tree, card_holder, make_staff, lane_answers):
    ski = make_activity(tree.huairou)
    lottery = make_activity(tree.huairou, mode="lottery", title="摇号")
    today = timezone.localdate()
    daily = make_activity(tree.huairou, day_quotas={today + timedelta(days=1): 5}, title="按日")
    token = _token(card_holder(tree.u3))
    outsider = _token(card_holder(tree.u1))
    staff = make_staff(Role.DISTRICT_ADMIN, tree.huairou)
    staff_token = token_for(staff)
    revoked_login = login_for(card_holder(tree.u3))
    revoked = token_for(revoked_login)
    ApiToken.objects.filter(user=revoked_login).update(revoked_at=timezone.now())
    day = json.dumps({"day": (today + timedelta(days=1)).isoformat()}).encode()
    calls = [
        _book(ski, outsider),  # not offered to this member: 404
        _book(ski, revoked),  # 401
        _book(ski, "not-a-token"),  # 401
        _book(ski, staff_token),  # staff book for a member: 400 member_required
        _book(lottery, token),  # registers: 201
        _book(daily, token, body=day),  # a day: the general way parses it
        _book(daily, token),  # and says it is missing
        _book(987654321, token),  # no such activity
        _book(ski, token, body=b"{"),  # not JSON
        _book(ski, token, body=b"{}", content_type="text/plain"),
        Call("/api/v1/activities", token, method="GET", body=b""),
        Call("/api/v1/auth/me", token, method="GET", body=b""),
        Call("/api/v1/no-such-thing", token, method="GET", body=b""),
    ]
    answers = _same(calls, lane_answers, [])
    statuses = [a.status.split()[0] for a in answers]
    assert statuses[:8] == ["404", "401", "401", "400", "201", "201", "400", "404"], statuses
    assert statuses[8:] == ["400", "201", "200", "200", "404"], statuses


def test_only_cookieless_bearer_api_requests_take_the_lane():
    base = {"PATH_INFO": "/api/v1/activities/1/bookings", "HTTP_AUTHORIZATION": "Bearer x"}
    assert fastlane.is_phone_request(base)
    assert fastlane.is_phone_request({**base, "HTTP_AUTHORIZATION": "bearer x"})
    assert not fastlane.is_phone_request({**base, "HTTP_COOKIE": "sessionid=1"})
    assert not fastlane.is_phone_request({**base, "HTTP_AUTHORIZATION": "Basic eDp5"})
    assert not fastlane.is_phone_request({**base, "PATH_INFO": "/m/activities/1/book/"})
    assert not fastlane.is_phone_request({"PATH_INFO": "/api/v1/activities"})


def test_the_lane_skips_only_middleware_that_acts_on_cookies_sessions_or_static_files(settings):
    before = list(settings.MIDDLEWARE)
    fastlane.PhoneApiHandler()
    assert before == settings.MIDDLEWARE  # the site's own list is left as it was
    # named as the settings name them: a renamed one would otherwise silently stay in the lane
    assert set(settings.MIDDLEWARE) >= fastlane.COOKIE_MIDDLEWARE
