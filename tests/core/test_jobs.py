"""Background jobs (huzhu.core.jobs): a job exists exactly when the data that needs it was
committed, runs to completion once, and a job whose worker died is run again by another,
with the effect of one clean run."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from huzhu.accounts.models import Role
from huzhu.core import jobs
from huzhu.protection.models import LedgerEntry
from huzhu.web.models import JobStatus, SettlementJob
from huzhu.web.services import SETTLEMENT_TASK, settlement_job_create, settlement_job_queue
from huzhu.web.services import settlement_job_run as run_job
from tests.settlement.test_import import enrolled, file, row

__all__ = ["enrolled"]  # the fixture, used by name


@pytest.fixture
def staff(tree, make_staff):
    def make(role: str, org=None):
        return make_staff(role, org or tree.xicheng)

    return make


# 12,000 yuan in hospital: 5,600 from ZY and 50 from JT (tests.settlement.test_import).
PAID = 5650


def _upload(enrolled_number: str, settlement_id: str = "S1") -> bytes:
    return file(row(settlement_id, enrolled_number, "2026-03-01", "12000.00"))


def _paid() -> int:
    return int(sum(e.amount for e in LedgerEntry.objects.all()))


# -- any database: the job's own guarantees ---------------------------------------------------


def test_a_job_run_twice_imports_once(tree, enrolled, staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job = settlement_job_create(
        data=_upload(enrolled), file_name="bureau.csv", actor=staff(Role.CITY_ADMIN, tree.city)
    )
    assert run_job(job.pk).status == JobStatus.DONE and _paid() == PAID
    again = run_job(job.pk)
    assert again.status == JobStatus.DONE and again.report["new"] == 1 and _paid() == PAID


def test_a_job_left_running_by_a_dead_process_is_imported_when_run_again(
    tree, enrolled, staff, settings, tmp_path
):
    """'Running' with nothing committed is what a killed worker leaves (its import's
    transaction died with it): the next run imports the file."""
    settings.MEDIA_ROOT = tmp_path
    job = settlement_job_create(
        data=_upload(enrolled), file_name="bureau.csv", actor=staff(Role.CITY_ADMIN, tree.city)
    )
    SettlementJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    assert run_job(job.pk).status == JobStatus.DONE and _paid() == PAID


def test_a_failed_job_is_not_run_again(tree, staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    bad = file(row("S1", "110101190001011234", "2026-03-01", "100.00"))
    job = settlement_job_create(
        data=bad, file_name="bad.csv", actor=staff(Role.CITY_ADMIN, tree.city)
    )
    failed = run_job(job.pk)
    assert failed.status == JobStatus.FAILED and failed.report["errors"][0]["row"] == 2
    assert run_job(job.pk).finished_at == failed.finished_at


def test_locally_a_job_runs_after_commit_and_not_after_a_rollback(
    empty_append_only_tables, tree, enrolled, staff, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    city = staff(Role.CITY_ADMIN, tree.city)
    with pytest.raises(RuntimeError), transaction.atomic():
        settlement_job_queue(data=_upload(enrolled), file_name="a.csv", actor=city)
        raise RuntimeError("the request failed after queueing")
    job = settlement_job_queue(data=_upload(enrolled), file_name="b.csv", actor=city)
    jobs.local_jobs_wait()
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    assert SettlementJob.objects.count() == 1 and _paid() == PAID


def test_serve_runs_the_jobs_a_stopped_server_left(tree, enrolled, staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    city = staff(Role.CITY_ADMIN, tree.city)
    left = settlement_job_create(data=_upload(enrolled), file_name="a.csv", actor=city)
    SettlementJob.objects.filter(pk=left.pk).update(status=JobStatus.RUNNING)
    assert jobs.jobs_left_over() == 1
    assert SettlementJob.objects.get(pk=left.pk).status == JobStatus.DONE and _paid() == PAID
    assert jobs.jobs_left_over() == 0


def test_an_unknown_task_is_refused_at_once(db):
    with pytest.raises(KeyError, match="no task"):
        jobs.defer("huzhu.no_such_task", job_id=1)


# -- PostgreSQL: the queue --------------------------------------------------------------------


def on_the_queue(test):
    """A test of the PostgreSQL queue, with its own committed transactions."""
    marks = (pytest.mark.postgres, pytest.mark.queue, pytest.mark.django_db(transaction=True))
    for mark in marks:
        test = mark(test)
    return test


@pytest.fixture
def queued_job(tree, enrolled, staff, settings, tmp_path) -> SettlementJob:
    """An upload whose import waits in the queue."""
    settings.MEDIA_ROOT = tmp_path
    return settlement_job_queue(
        data=_upload(enrolled), file_name="b.csv", actor=staff(Role.CITY_ADMIN, tree.city)
    )


def _taken_by_a_worker(*, last_heard: object) -> None:
    """The queued job as a worker leaves it while it runs: `doing`, with that worker's id and
    heartbeat."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (%s) RETURNING id",
            [last_heard],
        )
        (worker,) = cur.fetchone()
        cur.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", [worker])


def _queued() -> list[tuple[str, str, dict]]:
    with connection.cursor() as cur:
        cur.execute("SELECT task_name, status, args::text FROM procrastinate_jobs ORDER BY id")
        return [(name, status, json.loads(args)) for name, status, args in cur.fetchall()]


@on_the_queue
def test_the_queue_holds_a_job_exactly_when_its_data_was_committed(
    tree, enrolled, staff, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    city = staff(Role.CITY_ADMIN, tree.city)
    with pytest.raises(RuntimeError), transaction.atomic():
        settlement_job_queue(data=_upload(enrolled), file_name="a.csv", actor=city)
        raise RuntimeError("the request failed after queueing")
    assert _queued() == [] and not SettlementJob.objects.exists()
    job = settlement_job_queue(data=_upload(enrolled), file_name="b.csv", actor=city)
    assert _queued() == [(SETTLEMENT_TASK, "todo", {"job_id": job.pk})]
    assert SettlementJob.objects.get().status == JobStatus.PENDING  # nothing runs it here
    jobs.worker_run(wait=False)
    assert SettlementJob.objects.get().status == JobStatus.DONE and _paid() == PAID
    assert _queued() == []  # a job done is deleted from the queue


@on_the_queue
def test_a_job_whose_worker_went_silent_is_run_by_the_next_worker(queued_job, settings):
    """A worker killed mid-job leaves its row `doing` and its heartbeat ageing: the next
    worker puts the job back once the heartbeat is older than HUZHU_WORKER_STALLED, and
    runs it to one clean result."""
    settings.HUZHU_WORKER_STALLED = 5
    SettlementJob.objects.filter(pk=queued_job.pk).update(status=JobStatus.RUNNING)
    _taken_by_a_worker(last_heard=timezone.now() - timedelta(seconds=30))  # a dead one
    jobs.worker_run(wait=False)
    assert SettlementJob.objects.get().status == JobStatus.DONE and _paid() == PAID
    assert _queued() == []


@on_the_queue
def test_a_job_of_a_live_worker_is_left_to_it(queued_job):
    _taken_by_a_worker(last_heard=timezone.now())
    jobs.worker_run(wait=False)
    assert SettlementJob.objects.get(pk=queued_job.pk).status == JobStatus.PENDING and _paid() == 0
    assert [status for _task, status, _args in _queued()] == ["doing"]


@on_the_queue
def test_the_queue_is_in_readyz_and_its_depth_in_the_metrics(queued_job):
    from django.test import Client

    # No worker yet: still ready (the server serves and queues), and it says so.
    assert Client().get("/readyz").json()["checks"]["queue"] == "ok (no live worker)"
    text = Client().get("/metrics").content.decode()
    assert 'huzhu_queue_jobs{state="todo"} 1.0' in text
    assert 'huzhu_queue_jobs{state="doing"} 0.0' in text and "huzhu_queue_workers 0.0" in text
    jobs.worker_run(wait=False)
    assert 'huzhu_queue_jobs{state="todo"} 0.0' in Client().get("/metrics").content.decode()


def test_the_worker_command_says_what_it_needs_without_the_queue(settings, capsys):
    from argparse import Namespace

    from huzhu.cli import cmd_worker

    settings.HUZHU_JOBS = "local"
    assert cmd_worker(Namespace(concurrency=1, once=True)) == 2
    assert "HUZHU_JOBS=queue" in capsys.readouterr().err
