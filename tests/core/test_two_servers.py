"""Stateless app servers (operations, PostgreSQL): two `huzhu serve` processes and `huzhu worker`
processes on one PostgreSQL and one S3-compatible store, as behind a load balancer.

- A document uploaded through one server is downloaded through the other.
- A settlement import started through one server, whose worker is killed with SIGKILL in the
  middle of the import, is finished exactly once by a worker started afterwards: the payouts
  equal those of one clean run, and the other server's console shows the job done.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection

from huzhu.accounts.models import Role, User
from huzhu.protection.models import ClaimDocument, PlanVersion
from huzhu.settlement.exports import payout_rows
from huzhu.settlement.models import SettlementImport
from huzhu.settlement.services import settlements_import
from huzhu.settlement.synth import write_settlements
from huzhu.web.models import JobStatus, SettlementJob
from tests.conftest import PASSWORD, new_id_number
from tests.served import ROOT, login, multipart, serve, stop
from tests.settlement.city import enrolled_city
from tests.settlement.test_crash_and_concurrency import _reset_settlements

pytestmark = [pytest.mark.postgres, pytest.mark.queue, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4 hospital bill, uploaded through one server"


def _environment(s3: dict[str, str]) -> dict[str, str]:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        s3,
        DATABASE_URL=(
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        HUZHU_PII_KEY=settings.HUZHU_PII_KEY,
        SECRET_KEY=settings.SECRET_KEY,
        HUZHU_JOBS="queue",
        HUZHU_WORKER_HEARTBEAT="1",
        HUZHU_WORKER_STALLED="3",
    )
    return env


def _worker(home: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    home.mkdir(exist_ok=True)
    with (home / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "huzhu", "worker"],
            cwd=ROOT,
            env={**env, "HUZHU_HOME": str(home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _may_sign_in(user: User) -> None:
    """A password the servers' own hasher reads (the test run hashes with a fast one)."""
    user.password = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    user.save(update_fields=["password"])


@pytest.fixture
def two_servers(city: Any, tmp_path: Path, s3_bucket: dict[str, str]) -> Iterator[tuple[Any, ...]]:
    """Servers a and b, started on the city's data (so neither loads the demo)."""
    env = _environment(s3_bucket)
    started = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        started.append(serve(tmp_path / name, env))
    try:
        yield env, started[0][1], started[1][1]
    finally:
        for proc, _server in started:
            stop(proc)


@pytest.fixture
def city(
    tree: Any, make_member: Any, make_staff: Any, tmp_path: Path
) -> tuple[Path, list[str], User]:
    """Plans, 400 enrolled members of U1, 6,000 settlements; a city and a U1 admin."""
    numbers = enrolled_city(tree, make_member, 400)
    path = tmp_path / "settlements.csv"
    write_settlements(path, random.Random(3), numbers + [new_id_number() for _ in range(20)], 6000)
    city_admin = make_staff(Role.CITY_ADMIN, tree.city, username="city")
    unit_admin = make_staff(Role.UNIT_ADMIN, tree.u1, username="unit")
    for user in (city_admin, unit_admin):
        _may_sign_in(user)
    return path, numbers, city_admin


def _wait(condition: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.02)


def test_a_document_uploaded_through_one_server_is_downloaded_through_the_other(
    city, two_servers, s3_bucket
):
    _path, numbers, _city_admin = city
    _env, a, b = two_servers
    version = PlanVersion.objects.get(plan__code="ZY", period_start__year=2026)
    login(a, "unit", PASSWORD)
    body, kind = multipart(
        {
            "csrfmiddlewaretoken": a.csrf("/console/claims/new/"),
            "id_number": numbers[0],
            "version": str(version.pk),
            "admitted_on": "2026-03-01",
            "discharged_on": "2026-03-05",
            "settled_on": "2026-03-06",
            "in_scope_self_pay": "3000.00",
            "out_of_scope_self_pay": "0.00",
            "hospital": "北京协和医院",
            "requested": "1000.00",
        },
        {"documents": ("发票.pdf", PDF, "application/pdf")},
    )
    status, _headers, page = a.call("POST", "/console/claims/new/", body, {"Content-Type": kind})
    assert status == 302, page[:800]
    doc = ClaimDocument.objects.get()
    login(b, "unit", PASSWORD)
    status, _headers, got = b.get(f"/console/claims/{doc.claim_id}/documents/{doc.pk}/")
    assert status == 200 and got == PDF


def test_an_import_whose_worker_is_killed_is_finished_once_by_the_next_worker(
    city, two_servers, tmp_path
):
    path, _numbers, city_admin = city
    env, a, b = two_servers
    # One clean run, for the figures to compare with.
    settlements_import(path.read_bytes(), file="settlements.csv", actor=city_admin)
    expected = payout_rows()
    assert expected
    _reset_settlements()

    first = _worker(tmp_path / "w1", env)
    try:
        login(a, "city", PASSWORD)
        body, kind = multipart(
            {"csrfmiddlewaretoken": a.csrf("/console/settlements/")},
            {"file": ("settlements.csv", path.read_bytes(), "text/csv")},
        )
        status, _headers, page = a.call(
            "POST", "/console/settlements/", body, {"Content-Type": kind}
        )
        assert status == 302, page[:800]
        job = SettlementJob.objects.get()
        # Killed once its import has read and checked the file, before it commits.
        _wait(
            lambda: SettlementJob.objects.filter(
                pk=job.pk, stage__in=("validated", "stored")
            ).exists(),
            "the import to be under way",
        )
        stop(first, signal.SIGKILL)
    finally:
        stop(first, signal.SIGKILL)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and not SettlementImport.objects.exists()

    second = _worker(tmp_path / "w2", env)
    try:
        _wait(
            lambda: SettlementJob.objects.filter(pk=job.pk, status=JobStatus.DONE).exists(),
            "the next worker to finish the import",
        )
    finally:
        stop(second)
    assert payout_rows() == expected and SettlementImport.objects.count() == 1
    job.refresh_from_db()
    assert job.report["new"] == 6000 and job.error == ""
    login(b, "city", PASSWORD)
    status, _headers, page = b.get(f"/console/settlements/{job.pk}/")
    assert status == 200 and "已完成" in page.decode()
    log = (tmp_path / "w2" / "worker.log").read_text()
    assert "lost its worker: queued again" in log, log
