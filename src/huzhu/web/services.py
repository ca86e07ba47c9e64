"""Writes of the console that are not a domain's own: settlement imports run as background jobs.

`settlement_job_queue` keeps the upload (sealed, in the default storage) and queues its import
in one transaction; `settlement_job_run` is the work itself, which a worker (huzhu.core.jobs)
runs and may run again after a crash: it imports the file and marks the job done in one
transaction, so a second run finds it done and changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import Role, User
from huzhu.core import jobs, sealed
from huzhu.core.bulk import is_postgres
from huzhu.core.config import write_private
from huzhu.core.errors import DomainError, Forbidden
from huzhu.core.tabular import TableError
from huzhu.web.models import JobStatus, SettlementJob

logger = logging.getLogger("huzhu.web")

SETTLEMENT_TASK = "huzhu.settlement_import"


def may_import_settlements(user: User) -> bool:
    """The bureau's files cover the whole city: city federation staff at the root only."""
    return (
        user.is_authenticated
        and user.role == Role.CITY_ADMIN
        and user.org is not None
        and user.org.parent_id is None
    )


def _media(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def settlement_job_create(
    *, data: bytes, file_name: str, actor: User, keep_valid: bool = False
) -> SettlementJob:
    """Keep the uploaded file, sealed, in the default storage and record its job (not queued:
    `settlement_job_queue` queues it)."""
    if not may_import_settlements(actor):
        raise Forbidden("forbidden", _("只有市总工会管理员可以导入医保结算数据"))
    if not data:
        raise DomainError("empty_file", _("文件是空的"), field="file")
    suffix = Path(file_name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise DomainError("invalid_file", _("请上传 CSV 或 Excel（.xlsx）文件"), field="file")
    # The bureau's rows (ID numbers, diagnoses) leave this process encrypted only.
    key = sealed.new_key()
    name = f"settlements/{timezone.now():%Y%m%d}/{uuid.uuid4().hex}{suffix}.sealed"
    stored = default_storage.save(name, ContentFile(b"".join(sealed.seal([data], key))))
    return SettlementJob.objects.create(
        file_path=stored,
        key_cipher=sealed.seal_key(key),
        file_name=Path(file_name).name[:255],
        keep_valid=keep_valid,
        created_by=actor,
    )


def settlement_job_queue(
    *, data: bytes, file_name: str, actor: User, keep_valid: bool = False
) -> SettlementJob:
    """Record the job and queue its import in one transaction: a queued import always has its
    job, and a job is never left without its import queued."""
    with transaction.atomic():
        job = settlement_job_create(
            data=data, file_name=file_name, actor=actor, keep_valid=keep_valid
        )
        jobs.defer(SETTLEMENT_TASK, job_id=job.pk)
    return job


def settlement_job_file(job: SettlementJob) -> bytes:
    """The uploaded file as it was sent (read back from the storage and unsealed)."""
    with default_storage.open(job.file_path, "rb") as fh:
        if not job.key_cipher:  # kept before files were sealed
            return bytes(fh.read())
        return b"".join(sealed.unseal(fh, sealed.unseal_key(job.key_cipher)))


class _Progress:
    """Writes the running stage and count where other connections can read them while the
    import's transaction is open (see SettlementJob)."""

    def __init__(self, job: SettlementJob) -> None:
        self._job = job
        self._conn: Any = None
        if is_postgres():
            self._conn = connection.get_new_connection(connection.get_connection_params())
            self._conn.autocommit = True

    def __call__(self, stage: str, count: int) -> None:
        if self._conn is None:
            path = _media(self._job.progress_path)
            tmp = path.with_name(path.name + ".tmp")
            write_private(tmp, json.dumps({"stage": stage, "count": count}).encode())
            os.replace(tmp, path)
            return
        # Never waits: a row locked by the import's own transaction (its end) is skipped.
        with self._conn.cursor() as cur:
            cur.execute(
                "UPDATE web_settlementjob SET stage = %s, count = %s WHERE id = ("
                " SELECT id FROM web_settlementjob WHERE id = %s FOR UPDATE SKIP LOCKED)",
                (stage, count, self._job.pk),
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        else:
            _media(self._job.progress_path).unlink(missing_ok=True)


class _AlreadyDone(Exception):
    """Another run of the same job committed first: this one is rolled back."""


def _mark_done(job_id: int) -> Any:
    """The import's last step, in its transaction: the job is marked done with its report."""

    def mark(report: Any) -> None:
        job = SettlementJob.objects.select_for_update().get(pk=job_id)
        if job.status == JobStatus.DONE:
            raise _AlreadyDone
        job.status, job.report = JobStatus.DONE, report.as_dict()
        job.stage, job.count, job.error = "done", report.rows, ""
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "report", "stage", "count", "error", "finished_at"])

    return mark


def settlement_job_run(job_id: int) -> SettlementJob:
    """Import the job's file with huzhu.settlement, recording progress and the outcome.

    Safe to run again: a job found running was left by a run that died (its import rolled back
    with it) and is imported now; a job done or failed is left as it is."""
    from huzhu.settlement.services import settlements_import

    job = SettlementJob.objects.select_related("created_by__org").get(pk=job_id)
    if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return job
    SettlementJob.objects.filter(pk=job_id).update(status=JobStatus.RUNNING)
    progress = _Progress(job)
    try:
        settlements_import(
            settlement_job_file(job),
            file=job.file_name,
            actor=job.created_by,
            keep_valid=job.keep_valid,
            progress=progress,
            before_commit=_mark_done(job_id),
        )
        return SettlementJob.objects.get(pk=job_id)
    except _AlreadyDone:
        return SettlementJob.objects.get(pk=job_id)
    except TableError as exc:
        error = _("文件有 %(n)s 处错误，未导入任何数据") % {"n": len(exc.errors)}
        return _failed(job, error, {"errors": [e.as_dict() for e in exc.errors]})
    except DomainError as exc:
        return _failed(job, exc.message, None)
    except Exception as exc:  # the page must say it failed, not spin forever
        logger.exception("settlement job %s failed", job_id)
        return _failed(job, f"{type(exc).__name__}: {exc}", None)
    finally:
        progress.close()


def _failed(job: SettlementJob, error: str, report: dict[str, Any] | None) -> SettlementJob:
    job.status, job.error, job.report = JobStatus.FAILED, error, report
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "report", "error", "finished_at"])
    return job


def settlement_jobs_unfinished() -> list[tuple[str, dict[str, Any]]]:
    """The imports a stopped server left queued or running (local jobs: `huzhu serve` runs
    them again before it starts)."""
    waiting = SettlementJob.objects.filter(status__in=(JobStatus.PENDING, JobStatus.RUNNING))
    ids = waiting.order_by("pk").values_list("pk", flat=True)
    return [(SETTLEMENT_TASK, {"job_id": pk}) for pk in ids]
