"""Exactly once under failure, on PostgreSQL: a settlement import killed with SIGKILL at any
moment and run again ends in the same state as one clean run; two imports at the same time
never pay twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from huzhu.settlement.exports import payout_rows
from huzhu.settlement.models import Settlement
from huzhu.settlement.synth import write_settlements
from tests.conftest import new_id_number
from tests.settlement.city import enrolled_city

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        HUZHU_PII_KEY=settings.HUZHU_PII_KEY,
        SECRET_KEY=settings.SECRET_KEY,
        HUZHU_HOME=str(settings.HUZHU_HOME),
    )
    return env


def _start_import(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "huzhu", "import", "settlements", str(path)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def city_file(tree, make_member, tmp_path) -> Path:
    """Plans, 400 enrolled members and a file of 6,000 settlements with reversals."""
    numbers = enrolled_city(tree, make_member, 400)
    path = tmp_path / "settlements.csv"
    write_settlements(path, random.Random(3), numbers + [new_id_number() for _ in range(20)], 6000)
    return path


def _reset_settlements() -> None:
    # TRUNCATE is the one way to empty an append-only ledger, and it too is refused unless the
    # transaction says so (core.append_only.refuse_truncate); only this test does it.
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL huzhu.allow_truncate = 'on'")
        cur.execute(
            "TRUNCATE protection_ledgerentry, protection_claim, settlement_settlement, "
            "settlement_settlementimport CASCADE"
        )


def test_kill_9_at_any_moment_then_rerun_equals_one_clean_run(city_file):
    started = time.monotonic()
    clean = _start_import(city_file)
    assert clean.wait(timeout=300) == 0, clean.stderr.read() if clean.stderr else ""
    duration = time.monotonic() - started
    expected = payout_rows()
    assert expected
    for fraction in (0.3, 0.6, 0.9):
        _reset_settlements()
        victim = _start_import(city_file)
        time.sleep(duration * fraction)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
        # Nothing half-written: either the whole file is in, or none of it.
        assert Settlement.objects.count() in (0, 6000)
        rerun = _start_import(city_file)
        assert rerun.wait(timeout=300) == 0
        assert payout_rows() == expected, f"differs after a kill at {fraction:.0%}"


def test_two_imports_at_once_pay_once(city_file):
    expected_proc = _start_import(city_file)
    assert expected_proc.wait(timeout=300) == 0
    expected = payout_rows()
    _reset_settlements()
    first, second = _start_import(city_file), _start_import(city_file)
    codes = (first.wait(timeout=300), second.wait(timeout=300))
    assert codes == (0, 0)
    outputs = (first.stdout.read() if first.stdout else "") + (
        second.stdout.read() if second.stdout else ""
    )
    assert "new=6000" in outputs and "resent=6000" in outputs
    assert payout_rows() == expected
