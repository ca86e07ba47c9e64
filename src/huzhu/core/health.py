"""Health of an app server, for a load balancer and an operator: alive (the process answers) and
ready (it can serve: the database answers and is migrated, the job queue answers, the file
storage takes a write).
Each check says "ok" or what failed, in a line without secrets."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

_migrated = False  # once the database was seen fully migrated, it stays so for this process


def _database() -> str:
    global _migrated
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    if not _migrated:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return f"{len(pending)} migration(s) not applied"
        _migrated = True
    return "ok"


def _storage() -> str:
    name = default_storage.save(
        f"health/probe-{os.getpid()}-{secrets.token_hex(4)}", ContentFile(b"ok")
    )
    try:
        with default_storage.open(name, "rb") as fh:
            if fh.read() != b"ok":
                return "the probe file read back differently"
    finally:
        default_storage.delete(name)
    return "ok"


def _queue() -> str:
    """The job queue answers (PostgreSQL); local jobs need nothing. A queue without a live
    worker is still ready to take jobs: the server serves, and says so to the operator."""
    from huzhu.core import jobs

    if not jobs.queued():
        return "ok"
    return "ok" if jobs.live_workers() else "ok (no live worker)"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "queue": _queue,
    "storage": _storage,
}


def readiness() -> dict[str, str]:
    """Every check's answer: "ok", or the kind of failure (never its details: the answer is
    public, for the load balancer)."""
    answers = {}
    for name, check in CHECKS.items():
        try:
            answers[name] = check()
        except DatabaseError as exc:
            answers[name] = f"unavailable ({type(exc).__name__})"
        except Exception as exc:  # a disk, or an object store's client error
            answers[name] = f"unavailable ({type(exc).__name__})"
    return answers
