"""Writes of the console that are not a domain's own: settlement imports run in the background.

`settlement_job_create` stores the upload and queues a job; `settlement_job_start` runs it in
a thread after commit; `settlement_job_run` is the work itself (tests call it directly).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import Role, User
from huzhu.core.config import write_private
from huzhu.core.errors import DomainError, Forbidden
from huzhu.core.tabular import TableError
from huzhu.web.models import JobStatus, SettlementJob

logger = logging.getLogger("huzhu.web")


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
    """Keep the uploaded file under MEDIA_ROOT and queue its import."""
    if not may_import_settlements(actor):
        raise Forbidden("forbidden", _("只有市总工会管理员可以导入医保结算数据"))
    if not data:
        raise DomainError("empty_file", _("文件是空的"), field="file")
    suffix = Path(file_name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise DomainError("invalid_file", _("请上传 CSV 或 Excel（.xlsx）文件"), field="file")
    relative = f"settlements/{timezone.now():%Y%m%d}/{uuid.uuid4().hex}{suffix}"
    write_private(_media(relative), data)  # the bureau's rows: ID numbers and diagnoses
    return SettlementJob.objects.create(
        file_path=relative,
        file_name=Path(file_name).name[:255],
        keep_valid=keep_valid,
        created_by=actor,
    )


def settlement_job_start(job: SettlementJob) -> None:
    """Run the job in a daemon thread once the transaction that queued it has committed."""

    def start() -> None:
        threading.Thread(
            target=settlement_job_run, args=(job.pk,), name=f"settlement-job-{job.pk}", daemon=True
        ).start()

    transaction.on_commit(start)


def _write_progress(job: SettlementJob, stage: str, count: int) -> None:
    path = _media(job.progress_path)
    tmp = path.with_name(path.name + ".tmp")
    write_private(tmp, json.dumps({"stage": stage, "count": count}).encode())
    os.replace(tmp, path)


def settlement_job_run(job_id: int) -> SettlementJob:
    """Import the job's file with huzhu.settlement, recording progress and the outcome."""
    from huzhu.settlement.services import settlements_import

    try:
        job = SettlementJob.objects.select_related("created_by__org").get(pk=job_id)
        if job.status != JobStatus.PENDING:
            return job
        job.status = JobStatus.RUNNING
        job.save(update_fields=["status"])

        def progress(stage: str, count: int) -> None:
            _write_progress(job, stage, count)

        try:
            report = settlements_import(
                _media(job.file_path).read_bytes(),
                file=job.file_name,
                actor=job.created_by,
                keep_valid=job.keep_valid,
                progress=progress,
            )
            job.status, job.report = JobStatus.DONE, report.as_dict()
            job.stage, job.count = "done", report.rows
        except TableError as exc:
            job.status = JobStatus.FAILED
            job.error = _("文件有 %(n)s 处错误，未导入任何数据") % {"n": len(exc.errors)}
            job.report = {"errors": [e.as_dict() for e in exc.errors]}
        except DomainError as exc:
            job.status, job.error = JobStatus.FAILED, exc.message
        except Exception as exc:  # the page must say it failed, not spin forever
            logger.exception("settlement job %s failed", job_id)
            job.status, job.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "report", "stage", "count", "error", "finished_at"])
        _media(job.progress_path).unlink(missing_ok=True)
        return job
    finally:
        # A job's thread opened its own connections (Django's are per thread): close them.
        if threading.current_thread() is not threading.main_thread():
            connections.close_all()
