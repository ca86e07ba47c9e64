"""Scheduled work of the statistics (huzhu.core.jobs): the nightly check that every summary
still equals its recount from the rows it counts."""

from __future__ import annotations

import logging

from huzhu.core import jobs
from huzhu.reports.services import summaries_differences

logger = logging.getLogger("huzhu.reports")


@jobs.periodic("huzhu.summaries_check", cron="30 3 * * *")
def summaries_check(timestamp: int | None = None) -> int:
    """汇总核对: every night, compare the kept figures with a recount from the raw rows and log
    an ERROR naming the tables and keys that differ (a log collector's alert), `huzhu stats
    recount` being the cure. Returns the number of differing keys."""
    differences = summaries_differences()
    if differences:
        tables = sorted({d.table for d in differences})
        logger.error(
            "summaries differ from their rows at %d key(s) in %s, e.g. %s: stored %s, recounted "
            "%s; rebuild them with `huzhu stats recount`",
            len(differences),
            ", ".join(tables),
            differences[0].key,
            differences[0].stored,
            differences[0].recounted,
        )
    else:
        logger.info("summaries equal their recount")
    return len(differences)
