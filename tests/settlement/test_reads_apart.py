"""On PostgreSQL, an import outside any transaction reads on a second connection, beside its
writes (`Background(reads_apart=True)`): it must pay exactly what the import does with every
statement on one connection, for a first file and for a later one that reverses and reorders
what the first brought."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from huzhu.core import bulk
from huzhu.protection.models import LedgerEntry
from huzhu.settlement import services
from huzhu.settlement.exports import payout_rows
from huzhu.settlement.services import settlements_import
from huzhu.settlement.synth import write_settlements
from tests.conftest import new_id_number
from tests.settlement.city import enrolled_city

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_files(tree: Any, make_member: Any, tmp_path: Path) -> tuple[bytes, bytes]:
    """300 enrolled members; 3,000 settlements split in two files, the second reversing some
    of the first and bringing earlier-dated ones for the same members."""
    numbers = enrolled_city(tree, make_member, 300)
    path = tmp_path / "settlements.csv"
    write_settlements(path, random.Random(5), numbers + [new_id_number() for _ in range(10)], 3000)
    header, *rows = path.read_text().splitlines()
    # A reversal goes in the file after the one holding what it reverses.
    reversals = [r for r in rows if r.rstrip().split(",")[-1]]
    plain = [r for r in rows if not r.rstrip().split(",")[-1]]
    first, later = plain[::2], plain[1::2] + reversals
    return (
        ("\n".join([header, *first]) + "\n").encode(),
        ("\n".join([header, *later]) + "\n").encode(),
    )


def _reset() -> None:
    # The one way to empty the append-only ledger, refused unless the transaction says so.
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL huzhu.allow_truncate = 'on'")
        cur.execute(
            "TRUNCATE protection_ledgerentry, protection_claim, settlement_settlement, "
            "settlement_settlementimport, reports_claimbalance, reports_payoutsummary, "
            "reports_payoutyearsummary CASCADE"
        )


def _run(files: tuple[bytes, bytes], *, one_connection: bool) -> tuple[Any, ...]:
    for i, data in enumerate(files):
        if one_connection:
            with transaction.atomic():  # inside a transaction: no second connection
                settlements_import(data, file=f"f{i}.csv")
        else:
            settlements_import(data, file=f"f{i}.csv")
    entries = sorted(LedgerEntry.objects.values_list("claim__settlement__settlement_id", "amount"))
    return payout_rows(), entries


def test_reads_on_a_second_connection_pay_exactly_as_on_one(
    two_files: tuple[bytes, bytes], monkeypatch: Any
) -> None:
    apart: list[bool] = []

    class Watched(bulk.Background):
        def __enter__(self) -> bulk.Background:
            entered = super().__enter__()
            apart.append(self._reader is not None)
            return entered

    monkeypatch.setattr(services, "Background", Watched)
    monkeypatch.setattr(services, "STORE_SLICE", 400)  # settlements written in several COPYs
    on_two = _run(two_files, one_connection=False)
    assert apart == [True, True]
    _reset()
    on_one = _run(two_files, one_connection=True)
    assert apart == [True, True, False, False]
    assert on_two[0] and on_two[1]
    assert on_two == on_one
