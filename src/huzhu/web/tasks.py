"""The console's background jobs (huzhu.core.jobs): a settlement file's import."""

from __future__ import annotations

from huzhu.core import jobs
from huzhu.web import services


@jobs.task(services.SETTLEMENT_TASK, queue="imports")
def settlement_import(job_id: int) -> None:
    """Import an uploaded settlement file (结算数据导入); safe to run again after a crash."""
    services.settlement_job_run(job_id)


jobs.left_over(services.settlement_jobs_unfinished)
