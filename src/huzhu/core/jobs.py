"""Background jobs (后台任务): work that outlives the request that asked for it.

With `HUZHU_JOBS=queue` (the default on PostgreSQL) jobs are rows of Procrastinate's queue in
the same database: `defer` writes one in the caller's transaction, so a job exists exactly when
the data it needs was committed, and `huzhu worker` processes (any number, on any machine) run
them. A worker writes a heartbeat every HUZHU_WORKER_HEARTBEAT seconds; the jobs of a worker
silent for HUZHU_WORKER_STALLED seconds (killed, its machine lost) are put back in the queue by
any live worker and run again. A job must therefore be safe to run twice: each one commits its
effect and the mark that it is done in one transaction, and does nothing the second time.

With `HUZHU_JOBS=local` (SQLite, `make run`: nothing else to install) a job runs after commit on
a thread of the process that deferred it, one at a time; `huzhu serve` runs the ones a stopped
server left unfinished before it starts (`jobs_left_over`).

A task is a plain function registered with `@task(...)`; its arguments are JSON values.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import connection, connections, transaction
from procrastinate.contrib.django import app

logger = logging.getLogger("huzhu.jobs")

P = ParamSpec("P")
R = TypeVar("R")

# Tasks by name, for the local runner (the queue finds them through Procrastinate's app).
_TASKS: dict[str, Callable[..., Any]] = {}
_local_pool: ThreadPoolExecutor | None = None
_local_lock = threading.Lock()

# Hooks a task module registers: each returns the jobs a stopped local runner left unfinished,
# as (task name, arguments) pairs (`jobs_left_over`).
_LEFT_OVER: list[Callable[[], list[tuple[str, dict[str, Any]]]]] = []


def queued() -> bool:
    """Whether jobs go through the PostgreSQL queue (else: a thread of this process)."""
    return settings.HUZHU_JOBS == "queue"


def task(name: str, *, queue: str = "default") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register `func` as the task `name` (a stable name: queued rows refer to it)."""

    def register(func: Callable[P, R]) -> Callable[P, R]:
        _TASKS[name] = func
        app.task(name=name, queue=queue)(_closing(func))
        return func

    return register


def periodic(
    name: str, *, cron: str, queue: str = "default"
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Register `func(timestamp=...)` as the task `name`, deferred by the workers on the
    schedule `cron` (minute hour day month weekday, in the workers' local time). However many
    workers run, each scheduled run is deferred once (Procrastinate keeps a row per run). With
    local jobs nothing is scheduled: `make run` has no worker; the task can still be called."""

    def register(func: Callable[..., R]) -> Callable[..., R]:
        _TASKS[name] = func
        app.periodic(cron=cron, periodic_id=name)(app.task(name=name, queue=queue)(_closing(func)))
        return func

    return register


def _closing(func: Callable[..., R]) -> Callable[..., R]:
    """The task as a worker runs it: on a thread whose database connections are closed after
    (Django's are per thread; a worker's thread must not keep one open between jobs)."""

    def run(**kwargs: Any) -> R:
        try:
            return func(**kwargs)
        finally:
            connections.close_all()

    run.__name__ = run.__qualname__ = func.__name__
    run.__module__ = func.__module__
    return run


def defer(name: str, **kwargs: Any) -> None:
    """Queue the task `name` with these arguments, in the caller's transaction: it runs only if
    that transaction commits (queue: a row written now; local: a thread started on commit)."""
    if name not in _TASKS:
        raise KeyError(f"no task {name!r}")
    if queued():
        app.configure_task(name=name).defer(**kwargs)
        return
    transaction.on_commit(lambda: run_locally(name, kwargs))


def run_locally(name: str, kwargs: dict[str, Any]) -> None:
    """Run a task on this process's job thread (one job at a time, in order)."""
    global _local_pool
    with _local_lock:
        if _local_pool is None:
            _local_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huzhu-job")
        _local_pool.submit(_run_logged, name, kwargs)


def local_jobs_wait(timeout: float = 60.0) -> None:
    """Wait until the jobs this process queued locally so far have run (tests; a command
    that must not exit before its jobs)."""
    with _local_lock:
        pool = _local_pool
    if pool is not None:
        pool.submit(lambda: None).result(timeout=timeout)


def _run_logged(name: str, kwargs: dict[str, Any]) -> None:
    try:
        _TASKS[name](**kwargs)
    except Exception:  # a task records its own failure; this is what it could not record
        logger.exception("job %s %s failed", name, kwargs)
    finally:
        connections.close_all()


def left_over(hook: Callable[[], list[tuple[str, dict[str, Any]]]]) -> None:
    """Register a hook that names the jobs of its kind a stopped local runner left unfinished."""
    _LEFT_OVER.append(hook)


def jobs_left_over() -> int:
    """Local jobs only: run, here and now, the jobs a stopped server left unfinished (their
    work was rolled back with the process); returns how many ran. In queue mode the queue
    keeps them and a worker runs them: nothing to do."""
    if queued():
        return 0
    ran = 0
    for hook in _LEFT_OVER:
        for name, kwargs in hook():
            _TASKS[name](**kwargs)
            ran += 1
    return ran


def queue_depth() -> dict[str, int]:
    """The queue's jobs waiting (`todo`) and running (`doing`), by state; empty for local jobs."""
    if not queued():
        return {}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT status, count(*) FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing') GROUP BY status"
        )
        found = {str(status): int(n) for status, n in cur.fetchall()}
    return {state: found.get(state, 0) for state in ("todo", "doing")}


def live_workers() -> int:
    """Workers whose heartbeat is fresher than HUZHU_WORKER_STALLED seconds (queue only)."""
    if not queued():
        return 0
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - make_interval(secs => %s)",
            [settings.HUZHU_WORKER_STALLED],
        )
        return int(cur.fetchone()[0])


# -- the worker ---------------------------------------------------------------------------------


async def _put_back_stalled(worker_app: Any, stalled: float) -> int:
    """Put the jobs of workers silent for `stalled` seconds back in the queue (Procrastinate
    leaves them `doing` for ever otherwise); returns how many."""
    lost = list(await worker_app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled))
    for job in lost:
        logger.warning("job %s (%s) lost its worker: queued again", job.id, job.task_name)
        await worker_app.job_manager.retry_job(job)
    return len(lost)


async def _keep_putting_back(worker_app: Any, every: float, stalled: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await _put_back_stalled(worker_app, stalled)
        except Exception:  # the database away for a moment: the next round tries again
            logger.exception("could not look for stalled jobs")


async def _work(*, concurrency: int, wait: bool) -> None:
    worker_app = app.with_connector(app.connector.get_worker_connector())  # type: ignore[attr-defined]
    heartbeat = float(settings.HUZHU_WORKER_HEARTBEAT)
    stalled = float(settings.HUZHU_WORKER_STALLED)
    async with worker_app.open_async():
        await _put_back_stalled(worker_app, stalled)
        worker = asyncio.create_task(
            worker_app.run_worker_async(
                concurrency=concurrency,
                wait=wait,
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=stalled,
                delete_jobs="successful",
                install_signal_handlers=wait,
            )
        )
        keeper = asyncio.create_task(_keep_putting_back(worker_app, heartbeat, stalled))
        try:
            await worker
        finally:
            keeper.cancel()


def worker_run(*, concurrency: int = 1, wait: bool = True) -> None:
    """Run a worker until it is stopped (SIGINT/SIGTERM finish the jobs in hand first), or with
    `wait=False` until the queue is empty."""
    if not queued():
        raise RuntimeError("huzhu worker needs HUZHU_JOBS=queue on PostgreSQL")
    asyncio.run(_work(concurrency=concurrency, wait=wait))
