"""Shared test fixtures: a small organisation tree, members, staff logins and API clients.

Tests that need PostgreSQL carry `@pytest.mark.postgres`: `make test` (SQLite) deselects them,
`make test-pg` and CI run them; on SQLite they skip with the reason, and with CI=true a missing
PostgreSQL fails instead of skipping.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from huzhu.accounts.models import Role, User
from huzhu.accounts.services import token_issue
from huzhu.core.idnumber import check_char
from huzhu.members.logins import staff_create
from huzhu.members.models import Member, Organisation
from huzhu.members.services import member_create_or_update, org_create

pytest_plugins = ["tests.s3"]  # a real S3-compatible server (moto) for object-storage tests

PASSWORD = "test-pass-2026!"

# Property tests check rules, never speed (speed is measured in bench/): on a shared machine an
# example may take longer than Hypothesis's default 200 ms deadline, or its data longer to
# generate than the too_slow health check allows, and neither is a failure of the rules.
hypothesis_settings.register_profile(
    "huzhu", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("huzhu")
PRODUCTION_HASHERS: list[str] = []


def _shared_cache_reads_take_no_locks(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On SQLite the test database lives in memory, shared by every connection through SQLite's
    shared cache, where a read holds a lock on its table and a write on another connection is
    refused at once ('database table is locked'; the busy timeout does not apply). A settlement
    job's thread then failed its first write when the live server read the job's page at that
    moment. Production's file database is in WAL mode, where readers never block a writer;
    `read_uncommitted` gives the shared cache the same: reads take no table locks."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        connection.connection.execute("PRAGMA read_uncommitted = 1")


connection_created.connect(_shared_cache_reads_take_no_locks)


def pytest_configure(config: Any) -> None:
    """Passwords in tests: still argon2, with the cheapest parameters (see tests/hashers.py)."""
    from django.conf import settings

    PRODUCTION_HASHERS[:] = settings.PASSWORD_HASHERS
    settings.PASSWORD_HASHERS = [
        "tests.hashers.QuickArgon2PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache (the benefits page's counts are cached a second)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _postgres_only(request: Any) -> None:
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: this test needs PostgreSQL and must not skip (run make test-pg)")
        pytest.skip("needs PostgreSQL: run `make test-pg`")


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts and ends in the default language (zh-hans). A request with
    Accept-Language: en leaves English active in the thread (LocaleMiddleware activates it and
    nothing deactivates it), so a later test that calls a service directly would otherwise read
    its messages in English, or not, depending on the order the tests ran in."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _jobs_in_process(request: Any, settings: Any) -> Iterator[None]:
    """Jobs run on a thread of the test's process (HUZHU_JOBS=local), as `make run` runs them,
    on PostgreSQL too: nothing in a test process runs the queue. Tests of the queue itself are
    marked `queue` and run it with real workers (tests/core/test_jobs.py); Django's flush does
    not empty the queue's tables (Procrastinate's own), so they are emptied after each."""
    if not request.node.get_closest_marker("queue"):
        settings.HUZHU_JOBS = "local"
        yield
        return
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                "TRUNCATE procrastinate_jobs, procrastinate_workers, procrastinate_events,"
                " procrastinate_periodic_defers CASCADE"
            )


@pytest.fixture(autouse=True)
def _fresh_activity_cache() -> None:
    # SQLite hands a rolled-back test's ids out again: no activity may outlive its test.
    from huzhu.benefits.selectors import activity_forget

    activity_forget()


class Tree:
    """city BJ → districts BJ02 (西城), BJ16 (怀柔) → towns → units U1, U2 (西城), U3 (怀柔)."""

    def __init__(self) -> None:
        self.city = org_create(code="BJ", name="北京市总工会", kind="city", parent=None)
        self.xicheng = org_create(
            code="BJ02", name="西城区总工会", kind="district", parent=self.city
        )
        self.huairou = org_create(
            code="BJ16", name="怀柔区总工会", kind="district", parent=self.city
        )
        self.town = org_create(
            code="BJ02T01", name="白塔寺街道总工会", kind="town", parent=self.xicheng
        )
        self.u1 = org_create(code="U1", name="西城邮政分公司工会", kind="unit", parent=self.town)
        self.u2 = org_create(code="U2", name="西城环卫工会", kind="unit", parent=self.xicheng)
        self.u3 = org_create(code="U3", name="怀柔滑雪场工会", kind="unit", parent=self.huairou)


@pytest.fixture
def tree(db: Any) -> Tree:
    return Tree()


_serial = itertools.count(1)


def new_id_number(area: str = "110102", born: date | None = None) -> str:
    """A valid ID number never handed out before in this test run (each serial its own day)."""
    serial = next(_serial)
    first17 = f"{area}{born or date(1960, 1, 1) + timedelta(days=serial):%Y%m%d}{serial % 1000:03d}"
    return first17 + check_char(first17)


@pytest.fixture
def make_member(db: Any) -> Callable[..., Member]:
    def make(
        unit: Organisation, name: str = "张三", id_number: str | None = None, phone: str = ""
    ) -> Member:
        member, _ = member_create_or_update(
            id_number=id_number or new_id_number(), name=name, unit=unit, phone=phone
        )
        return member

    return make


@pytest.fixture
def make_staff(db: Any) -> Callable[..., User]:
    def make(role: str, org: Organisation, username: str | None = None) -> User:
        return staff_create(
            username=username or f"{role}-{org.code}-{next(_serial)}",
            password=PASSWORD,
            org_code=org.code,
            role=role,
        )

    return make


class ApiClient:
    """A JSON client for /api/v1 with a bearer token (or none), checked for CSRF as a phone's
    requests are in production."""

    def __init__(self, token: str | None = None):
        self.client = Client(enforce_csrf_checks=True)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        fn = getattr(self.client, method)
        kwargs: dict[str, Any] = {**self.headers, **extra}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        return fn(f"/api/v1{path}", **kwargs)

    def get(self, path: str, **extra: Any) -> Any:
        return self._call("get", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._call("post", path, body if body is not None else {}, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._call("patch", path, body or {}, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self._call("delete", path, **extra)

    def upload(self, path: str, name: str, data: bytes, **fields: Any) -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        payload = {"file": SimpleUploadedFile(name, data), **fields}
        return self.client.post(f"/api/v1{path}", payload, **self.headers)


def refused_naming(response: Any, field: str) -> bool:
    """An API refusal that names `field` (INTERFACES "Bounds"): a 422 whose errors locate it,
    or a 400 whose details name it (`field` matches the end of a dotted or indexed name too:
    "cash" in "beneficiaries[0].cash")."""
    if response.status_code not in (400, 422):
        return False
    error = response.json()["error"]
    if response.status_code == 400:
        named = str(error["details"].get("field", ""))
        return named == field or named.endswith(f".{field}")
    return any(field in [str(p) for p in e["loc"]] for e in error["details"]["errors"])


@pytest.fixture
def api_as(db: Any) -> Callable[[User | None], ApiClient]:
    def make(user: User | None) -> ApiClient:
        if user is None:
            return ApiClient()
        return ApiClient(token_issue(username=user.username, password=PASSWORD))

    return make


@pytest.fixture
def city_admin(tree: Tree, make_staff: Callable[..., User]) -> User:
    return make_staff(Role.CITY_ADMIN, tree.city)


@pytest.fixture
def xicheng_admin(tree: Tree, make_staff: Callable[..., User]) -> User:
    return make_staff(Role.DISTRICT_ADMIN, tree.xicheng)


@pytest.fixture(scope="session")
def sqlite_home_template(tmp_path_factory: Any) -> Path | None:
    """A migrated SQLite home for worker processes (tests/faults.py), made once per session;
    None on PostgreSQL, where workers use the test database."""
    if connection.vendor == "postgresql":
        return None
    from tests.faults import sqlite_home_template as make

    return make(tmp_path_factory.mktemp("sqlite-home"))


# Tables whose rows the database refuses to delete (or some of them), in an order that deletes
# every referring row before the row it refers to.
APPEND_ONLY = (
    "protection_paymentitementry",
    "protection_paymentitem",
    "protection_ledgerentry",
    "care_careledgerentry",
    "audit_auditevent",
)


@pytest.fixture
def empty_append_only_tables(transactional_db: Any) -> Iterator[None]:
    """A transactional test ends with Django emptying every table; on SQLite that is DELETE,
    which the append-only triggers refuse. Empty those tables here first (triggers lifted for a
    moment and put back), so that the flush after this finds nothing to refuse."""
    yield
    from django.db import connection

    if connection.vendor != "sqlite":
        return  # PostgreSQL flushes with TRUNCATE, which the row triggers do not see
    with connection.cursor() as cur:
        cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
            f"({', '.join('?' for _ in APPEND_ONLY)})",
            APPEND_ONLY,
        )
        triggers = cur.fetchall()
        for name, _sql in triggers:
            cur.execute(f'DROP TRIGGER "{name}"')
        for table in APPEND_ONLY:
            cur.execute(f'DELETE FROM "{table}"')
        for _name, sql in triggers:
            cur.execute(sql)


def huzhu_command(
    home: Path,
    *args: str,
    key: str | None = None,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Any:
    """`python -m huzhu ARGS` on another home, as an operator would run it there: its own SQLite
    file unless `database_url`, and the PII key `key` (default: this test run's, the key a
    restore must be given)."""
    import subprocess
    import sys

    from django.conf import settings

    environ = dict(
        os.environ, HUZHU_HOME=str(home), HUZHU_PII_KEY=key or settings.HUZHU_PII_KEY, **(env or {})
    )
    environ.pop("DATABASE_URL", None)
    if database_url:
        environ["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "huzhu", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
