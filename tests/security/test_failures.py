"""Quiet failures (issue 16): every 5xx is in the server log with a request id that its answer
carries; answers are never cached; requests for other host names are refused; every list has a
maximum page size."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from huzhu.accounts.models import Role
from huzhu.api.pagination import MAX_PAGE
from huzhu.care.services import care_campaign_create
from tests.benefits.conftest import login_for


@contextmanager
def server_log() -> Iterator[io.StringIO]:
    """What the configured log handlers (settings.LOGGING, not pytest's capture) write while
    the block runs: every stream handler of the request loggers and their parents."""
    out = io.StringIO()
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    seen: set[int] = set()
    for name in ("django.request", "django.server", "huzhu.request"):
        logger: logging.Logger | None = logging.getLogger(name)
        while logger is not None:
            for handler in logger.handlers:
                if isinstance(handler, logging.StreamHandler) and id(handler) not in seen:
                    seen.add(id(handler))
                    # not setStream(), which flushes the old stream (pytest may have closed it)
                    swapped.append((handler, handler.stream))
                    handler.stream = out
            logger = logger.parent if logger.propagate else None
    try:
        yield out
    finally:
        for handler, stream in swapped:
            handler.stream = stream


class Boom(RuntimeError):
    pass


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise Boom("a bug in a selector")


def test_an_api_500_is_logged_with_its_request_id_and_traceback(
    tree, make_staff, api_as, monkeypatch
):
    from huzhu.protection import selectors

    monkeypatch.setattr(selectors, "awaiting_signature", _explode)
    api = api_as(make_staff(Role.CITY_ADMIN, tree.city))
    api.client.raise_request_exception = False
    with server_log() as log:
        r = api.get("/approvals")
    assert r.status_code == 500
    request_id = r["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16,32}", request_id)
    text = log.getvalue()
    assert request_id in text, text
    assert "Boom: a bug in a selector" in text and "Traceback" in text
    assert "/api/v1/approvals" in text


def test_a_page_500_is_logged_with_its_request_id(tree, make_staff, monkeypatch):
    from huzhu.web import claim_views

    monkeypatch.setattr(claim_views.selectors, "awaiting_signature", _explode)
    client = Client(raise_request_exception=False)
    client.force_login(make_staff(Role.CITY_ADMIN, tree.city))
    with server_log() as log:
        r = client.get("/console/approvals/")
    assert r.status_code == 500
    assert r["X-Request-ID"] in log.getvalue()
    assert "Boom" in log.getvalue()


def test_every_answer_has_a_request_id(tree, make_staff, api_as):
    api = api_as(make_staff(Role.CITY_ADMIN, tree.city))
    ids = {api.get("/orgs")["X-Request-ID"], api.get("/orgs")["X-Request-ID"]}
    assert len(ids) == 2 and all(ids)
    assert Client().get("/")["X-Request-ID"]


def _no_store(response: Any) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_answers_with_personal_data_are_never_stored_by_caches(
    tree, make_staff, make_member, api_as, member_api, card_holder
):
    member = make_member(tree.u1, phone="13812345678")
    admin = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    api = api_as(admin)
    for path in ("/members", f"/members/{member.pk}", "/orgs", "/auth/me", "/claims"):
        r = api.get(path)
        assert r.status_code == 200 and _no_store(r), path
    r = api.post(f"/members/{member.pk}/reveal", {"field": "phone", "reason": "联系本人"})
    assert _no_store(r)
    assert _no_store(api.get("/members/999999"))  # errors too
    assert _no_store(member_api(card_holder(tree.u1)).get("/me/member"))
    client = Client()
    client.force_login(admin)
    for page in ("/console/", "/console/members/", f"/console/members/{member.pk}/"):
        r = client.get(page)
        assert r.status_code == 200 and _no_store(r), page
    m_client = Client()
    m_client.force_login(login_for(member))
    r = m_client.get("/m/")
    assert r.status_code == 200 and _no_store(r)


def test_static_files_stay_cacheable(client):
    r = client.get("/static/web/site.css")
    assert r.status_code == 200
    assert not _no_store(r)


def test_a_request_for_another_host_name_is_refused(db, client):
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400
    assert (
        client.get(
            "/api/v1/stations/nearest?lat=39.9&lng=116.4", HTTP_HOST="evil.example"
        ).status_code
        == 400
    )
    for host in ("localhost", "127.0.0.1", "localhost:8000", "127.0.0.1:8000"):
        assert client.get("/", HTTP_HOST=host).status_code == 200, host


def test_allowed_hosts_come_from_huzhu_allowed_hosts(monkeypatch):
    from huzhu.core.config import allowed_hosts

    monkeypatch.delenv("HUZHU_ALLOWED_HOSTS", raising=False)
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    assert allowed_hosts() == ["127.0.0.1", "localhost", "[::1]"]
    monkeypatch.setenv("HUZHU_ALLOWED_HOSTS", " huzhu.example.org, .bj.example ,")
    assert allowed_hosts() == ["huzhu.example.org", ".bj.example"]


# Lists that answer every row, and why that is bounded by construction.
BOUNDED_BY_NATURE = {
    "/plans": "the city's plans: a handful, configured by the city federation",
    "/units/{code}/contributions": "one row per plan version of one year",
    "/members/{member_id}/cards": "one member's cards",
    "/stations/{code}/visits": "one row per day, a figure, not personal data; from/to narrow it",
}


def _list_operations() -> dict[str, dict[str, Any]]:
    """GET operations whose answer is a list of records: a JSON array, or an object holding
    them as `items` (a page, or a record with its rows)."""
    from huzhu.api.main import api

    schema = api.get_openapi_schema(path_prefix="")
    components = schema["components"]["schemas"]
    found = {}
    for path, methods in schema["paths"].items():
        operation = methods.get("get")
        if operation is None:
            continue
        ok = operation["responses"].get(200) or operation["responses"].get("200") or {}
        content = ok.get("content", {})
        body = content.get("application/json", {}).get("schema", {})
        if "$ref" in body:
            body = components[body["$ref"].rsplit("/", 1)[1]]
        props = body.get("properties", {})
        if body.get("type") == "array" or props.get("items", {}).get("type") == "array":
            found[path] = operation
    return found


def test_every_list_has_a_maximum_page_size():
    lists = _list_operations()
    assert {"/members", "/care/campaigns/{code}/entries", "/approvals"} <= set(lists)
    unbounded = []
    for path, operation in lists.items():
        if path in BOUNDED_BY_NATURE:
            continue
        limit = [p for p in operation.get("parameters", []) if p["name"] == "limit"]
        if not limit or limit[0]["schema"].get("maximum", float("inf")) > MAX_PAGE:
            unbounded.append(path)
    assert unbounded == []


@pytest.mark.parametrize(
    "path",
    [
        "/care/campaigns",
        "/care/campaigns/C1/entries",
        "/care/campaigns/C1/visits",
        "/care/labour-models",
        "/members",
        "/claims",
        "/payment-runs",
        "/approvals",
    ],
)
def test_a_page_of_a_million_is_refused(tree, make_staff, api_as, path):
    city = make_staff(Role.CITY_ADMIN, tree.city)
    care_campaign_create(
        actor=None,
        code="C1",
        title="寒冬送暖",
        org=tree.city,
        budget=Decimal("10.00"),
        starts_on=date(2026, 1, 1),
    )
    r = api_as(city).get(f"{path}?limit=1000000")
    assert r.status_code == 422, (path, r.status_code, r.content[:300])
    assert api_as(city).get(f"{path}?limit=2").status_code == 200


def test_in_json_a_500_is_one_line_with_its_request_id_and_traceback(tree, make_staff, monkeypatch):
    """HUZHU_LOG_FORMAT=json (settings.LOGGING): what a log collector reads."""
    import json

    from huzhu.core.requestid import JsonFormatter
    from huzhu.web import claim_views

    monkeypatch.setattr(claim_views.selectors, "awaiting_signature", _explode)
    client = Client(raise_request_exception=False)
    client.force_login(make_staff(Role.CITY_ADMIN, tree.city))
    handler = next(h for h in logging.getLogger("django.request").handlers)
    monkeypatch.setattr(handler, "formatter", JsonFormatter())
    with server_log() as log:
        r = client.get("/console/approvals/")
    lines = [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]
    [entry] = [e for e in lines if e["logger"] == "django.request"]
    assert entry["request_id"] == r["X-Request-ID"] and entry["level"] == "ERROR"
    assert "Traceback" in entry["exception"] and "Boom: a bug in a selector" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_an_unknown_log_format_stops_the_start_with_what_is_allowed(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, HUZHU_HOME=str(tmp_path), HUZHU_LOG_FORMAT="xml")
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "huzhu", "backup", "--verify", "x.zip"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "HUZHU_LOG_FORMAT must be plain or json, not 'xml'" in done.stderr


def test_the_load_balancers_checks_answer_alive_and_ready(db):
    alive = Client().get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    ready = Client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "queue": "ok", "storage": "ok"},
    }
    assert "no-cache" in ready["Cache-Control"] or "no-store" in ready["Cache-Control"]


def test_readyz_answers_503_naming_the_check_that_failed(db, monkeypatch, settings, tmp_path):
    from huzhu.core import health

    def unwritable(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(health.default_storage, "save", unwritable)
    ready = Client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "fail",
        "checks": {"database": "ok", "queue": "ok", "storage": "unavailable (PermissionError)"},
    }
