"""`huzhu.core.bulk.Background`: database work of one transaction, run on a thread of its own.

The settlement import relies on it to write on PostgreSQL while it computes: the jobs must run
in order, in the caller's transaction, and a failure must reach the caller and undo everything.
"""

from __future__ import annotations

import threading
from typing import Any

import polars as pl
import pytest
from django.db import DatabaseError, connection, transaction

from huzhu.core.bulk import Background, insert_frame, query_frame
from tests.faults import second_connection

pytestmark = pytest.mark.postgres

ROWS = {"k": pl.Int64, "v": pl.String}


@pytest.fixture
def scratch(transactional_db: Any) -> Any:
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE bg_scratch (k BIGINT PRIMARY KEY, v TEXT NOT NULL)")
    yield "bg_scratch"
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bg_scratch")


def _count(table: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cur.fetchone()[0])


def _rows(first: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"k": range(first, first + n), "v": [f"v{i}" for i in range(n)]})


def test_jobs_run_in_order_on_another_thread_inside_the_callers_transaction(
    scratch: str,
) -> None:
    threads: list[str] = []

    def where(*, conn: Any) -> None:
        threads.append(threading.current_thread().name)

    with transaction.atomic(), Background() as bg:
        bg.submit(where)
        bg.submit(insert_frame, scratch, _rows(1, 1000))
        seen = bg.submit(query_frame, f"SELECT k, v FROM {scratch} ORDER BY k", [], ROWS)
        # The caller's own statements see the jobs' writes: one transaction, one connection.
        assert bg.result(seen).height == 1000
        assert _count(scratch) == 1000
        with second_connection() as other:  # nothing is committed before the block ends
            assert other.execute(f"SELECT COUNT(*) FROM {scratch}").fetchone() == (0,)
    assert threads and threads[0] != threading.current_thread().name
    assert _count(scratch) == 1000


@pytest.mark.parametrize("waited", [True, False], ids=["waited-for", "nobody-waited"])
def test_a_failed_job_reaches_the_caller_skips_the_rest_and_undoes_the_transaction(
    scratch: str, waited: bool
) -> None:
    with (
        pytest.raises(DatabaseError, match="duplicate key"),
        transaction.atomic(),
        Background() as bg,
    ):
        bg.submit(insert_frame, scratch, _rows(1, 10))
        failing = bg.submit(insert_frame, scratch, _rows(5, 10))  # k 5..9 again
        after = bg.submit(insert_frame, scratch, _rows(100, 10))
        if waited:
            bg.result(failing)  # raised here; else at the end of the block
    assert "earlier database job" in str(after.exception())
    assert _count(scratch) == 0


def test_an_error_of_the_caller_drops_the_jobs_not_started_and_rolls_back(
    scratch: str,
) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(*, conn: Any) -> None:
        started.set()
        release.wait(10)

    with (
        pytest.raises(ValueError, match="the caller's own"),
        transaction.atomic(),
        Background() as bg,
    ):
        bg.submit(insert_frame, scratch, _rows(1, 10))
        bg.submit(slow)
        dropped = bg.submit(insert_frame, scratch, _rows(100, 10))
        started.wait(10)
        release.set()
        raise ValueError("the caller's own error")
    assert dropped.cancelled()
    assert _count(scratch) == 0


def test_reads_apart_run_on_a_second_connection_and_see_only_what_was_committed(
    scratch: str,
) -> None:
    def backend(*, conn: Any) -> int:
        return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])

    def rows(*, conn: Any) -> int:
        return int(conn.execute(f"SELECT COUNT(*) FROM {scratch}").fetchone()[0])

    insert_frame(scratch, _rows(1, 5))  # committed (no transaction around the test)
    with transaction.atomic(), Background(reads_apart=True) as bg:
        insert_frame(scratch, _rows(100, 7))
        writer, reader = bg.submit(backend), bg.submit_read(backend)
        assert bg.result(writer) != bg.result(reader)
        assert bg.result(bg.submit(rows)) == 12
        assert bg.result(bg.submit_read(rows)) == 5


def test_without_a_connection_to_spare_reads_go_through_the_first(
    scratch: str, monkeypatch: Any
) -> None:
    def refuse(*args: Any) -> Any:
        raise DatabaseError("too many clients already")

    monkeypatch.setattr(connection, "get_new_connection", refuse)
    with transaction.atomic(), Background(reads_apart=True) as bg:
        insert_frame(scratch, _rows(1, 3))
        assert (
            bg.result(bg.submit_read(query_frame, f"SELECT * FROM {scratch}", [], ROWS)).height == 3
        )
