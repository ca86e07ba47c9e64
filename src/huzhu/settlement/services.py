"""`import settlements`: match the bureau's rows to members, adjudicate, book the differences.

Exactly once: one transaction per file, under a lock that lets one import run at a time. A
resent row is ignored, a changed resend refused; a crash leaves nothing behind, so a rerun ends
in the same state as one clean run. Only members touched by the file are recomputed, and every
difference between what the rules say now and what the ledger holds becomes a new entry.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import locking, metrics
from huzhu.core import tabular as tb
from huzhu.core.bulk import (
    Background,
    fen_text,
    frame_csv,
    insert_frame,
    is_postgres,
    query_frame,
    temp_keys,
    update_frame,
)
from huzhu.core.pii import vault
from huzhu.members.models import Member
from huzhu.protection.models import (
    Claim,
    PlanVersion,
)
from huzhu.protection.plans import terms_of
from huzhu.settlement.booking import Booked, adjudicate_and_book
from huzhu.settlement.checks import normalise, rows_to_store
from huzhu.settlement.engine import VersionSpec
from huzhu.settlement.models import Settlement, SettlementImport
from huzhu.settlement.touched import Touched, as_settlement_frame, is_reversal, read_touched

SETTLEMENT_COLUMNS = (
    tb.Column("settlement_id", "结算流水号", required=True),
    tb.Column("id_number", "身份证号", required=True),
    tb.Column("name", "姓名"),
    tb.Column("hospital", "医疗机构"),
    tb.Column("admitted_on", "入院日期", required=True),
    tb.Column("discharged_on", "出院日期", required=True),
    tb.Column("settled_on", "结算日期", required=True),
    tb.Column("total_cost", "医疗费用总额"),
    tb.Column("fund_paid", "统筹基金支付"),
    tb.Column("in_scope_self_pay", "医保范围内个人自付", required=True),
    tb.Column("out_of_scope_self_pay", "自费金额"),
    tb.Column("diagnosis_code", "诊断编码"),
    tb.Column("is_accident", "是否意外"),
    tb.Column("reverses", "冲销流水号"),
)
LOCK_KEY = 784513
STORE_SLICE = 250_000  # settlements per COPY
CENT = Decimal("0.01")
Progress = Callable[[str, int], None]
log = logging.getLogger(__name__)
_last_mark: ContextVar[float] = ContextVar("_last_mark", default=0.0)


def _stage(name: str) -> None:
    """Log (at DEBUG) the seconds since the previous stage of this import: where the time goes
    (`HUZHU_LOG_LEVEL=DEBUG huzhu import settlements FILE`; bench/settlements.py prints them)."""
    now = time.perf_counter()
    before = _last_mark.get() or now
    _last_mark.set(now)
    log.debug("stage %s %.3f s", name, now - before)


@dataclass
class SettlementReport:
    file: str
    rows: int = 0
    new: int = 0
    resent: int = 0
    reversals: int = 0
    matched: int = 0
    members_recomputed: int = 0
    entries: int = 0
    claims_taken_over: int = 0  # claims filed by hand whose stay arrived in this file
    duplicate_claims: int = 0  # claims filed by hand closed as duplicates of its stays
    paid_by_plan: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    errors: list[tb.RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "new": self.new,
            "resent": self.resent,
            "reversals": self.reversals,
            "matched": self.matched,
            "members_recomputed": self.members_recomputed,
            "entries": self.entries,
            "claims_taken_over": self.claims_taken_over,
            "duplicate_claims": self.duplicate_claims,
            "paid_by_plan": self.paid_by_plan,
            "reasons": self.reasons,
            "errors": [e.as_dict() for e in self.errors],
        }


def settlements_import(
    data: bytes,
    *,
    file: str,
    actor: User | None = None,
    keep_valid: bool = False,
    progress: Progress | None = None,
    before_commit: Callable[[SettlementReport], None] | None = None,
) -> SettlementReport:
    """Import a settlement file (INTERFACES.md "settlements" and "Adjudication rules"), in one
    transaction. On PostgreSQL the database work runs on threads of its own (`Background`) so
    that two cores work at once: known settlements are looked up while ID numbers are
    normalised, members matched while rows are checked, touched members read (on a second
    connection) while rows are prepared, and each COPY runs while the next rows are computed."""
    say = progress or (lambda _s, _n: None)
    _last_mark.set(started := time.perf_counter())
    table = tb.read_table(data, file=file, columns=SETTLEMENT_COLUMNS)
    say("read", table.df.height)
    _stage("read")
    report = SettlementReport(file=file, rows=table.df.height)
    # A second connection reads beside the writes, unless an outer transaction holds writes
    # that it could not see (then every statement goes through this one).
    reads_apart = is_postgres() and not connection.in_atomic_block
    with transaction.atomic(), Background(reads_apart=reads_apart) as bg:
        _lock_imports()
        specs, benefits = version_specs(), version_benefits()
        # Made now, while the connection is free (if the file is refused, it is rolled back).
        batch = SettlementImport.objects.create(
            file_name=file[:255], file_sha256=hashlib.sha256(data).hexdigest(), actor=actor
        )
        keys = pl.concat([table.df["settlement_id"], table.df["reverses"].drop_nulls()])
        known_job = bg.submit_read(_known_settlements, keys.drop_nulls().unique())
        normalise(table)
        known: pl.DataFrame = bg.result(known_job)
        _stage("known settlement ids")
        known_ids = known["settlement_id"].implode()
        # Members are matched while the rows are checked.
        people = _people(table.df.filter(~pl.col("settlement_id").is_in(known_ids))["id_number"])
        _stage("ID numbers hashed and encrypted")
        match_job = bg.submit_read(_match_members, people["id_hash"])
        fresh = rows_to_store(table, known, report, keep_valid=keep_valid, stage=_stage)
        say("validated", fresh.height)
        # Each person with the member they are (null: no member).
        people = people.join(bg.result(match_job), on="id_hash", how="left")
        _stage("members matched")
        first_id = reserve_ids(Settlement._meta.db_table, fresh.height)
        targets = fresh.filter(is_reversal()).select("reverses", "settlement_id")
        report.reversals = targets.height
        touched = _touched_members(fresh, people, known, targets)
        report.members_recomputed = touched.len()
        # What the rules need besides this file: read while its rows are prepared for storing.
        stored_job = bg.submit_read(read_touched, touched, targets["reverses"])
        fresh = _number_settlements(fresh, people, first_id, report)
        report.new = fresh.height
        # In slices, so that the first COPY starts while the next slice's rows are prepared.
        stored = _store_settlements(bg, fresh, targets, batch)
        _stage("settlements prepared")
        touched_now: Touched = bg.result(stored_job)
        _stage("members' settlements, enrolments and claims read")
        in_hand = as_settlement_frame(fresh, reversed_now=targets["reverses"])
        booked = adjudicate_and_book(
            touched_now.reversing(targets["reverses"]),
            in_hand,
            specs=specs,
            benefits=benefits,
            bg=bg,
            batch=str(batch.pk),
            actor=actor,
            # Numbers taken from the sequence need no wait for the settlements being written.
            reserve=lambda n: bg.result(bg.submit_read(reserve_ids, Claim._meta.db_table, n)),
            stage=_stage,
            before_summaries=lambda: say("stored", sum(bg.result(job) for job in stored)),
        )
        _report_booked(report, booked)
        say("paid", booked.entries)
        _finish(batch, report, actor=actor, before_commit=before_commit)
    _stage("commit")
    metrics.SETTLEMENT_ROWS.inc(report.rows)
    metrics.SETTLEMENT_SECONDS.inc(time.perf_counter() - started)
    return report


def _touched_members(
    fresh: pl.DataFrame, people: pl.DataFrame, known: pl.DataFrame, targets: pl.DataFrame
) -> pl.Series:
    """The members whose stays the file changes: those of its new settlements, and those of
    the settlements it reverses."""
    return (
        pl.concat(
            [
                fresh.select("id_number").join(people, on="id_number")["member_id"],
                known.filter(pl.col("settlement_id").is_in(targets["reverses"].implode()))[
                    "member_id"
                ],
            ]
        )
        .drop_nulls()
        .unique()
        .sort()
    )


def _store_settlements(
    bg: Background, fresh: pl.DataFrame, targets: pl.DataFrame, batch: SettlementImport
) -> list[Any]:
    """The new settlements written in slices (the first COPY starts while the next slice's
    rows are prepared), and the reversed ones marked; returns the jobs that count the rows."""
    stored = [
        bg.submit(insert_frame, Settlement._meta.db_table, rows, csv=frame_csv(rows))
        for rows in (_settlement_rows(part, batch) for part in fresh.iter_slices(STORE_SLICE))
    ]
    bg.submit(
        update_frame,
        Settlement._meta.db_table,
        "settlement_id",
        targets.select(
            pl.col("reverses").alias("settlement_id"),
            pl.col("settlement_id").alias("reversed_by"),
        ),
    )
    return stored


def _finish(
    batch: SettlementImport,
    report: SettlementReport,
    *,
    actor: User | None,
    before_commit: Callable[[SettlementReport], None] | None,
) -> None:
    """The batch's summary and audit record, then `before_commit(report)`, last in the import's
    transaction (a background job marks itself done there, committed with the import)."""
    batch.finished_at = timezone.now()
    batch.summary = {k: v for k, v in report.as_dict().items() if k != "errors"}
    batch.save(update_fields=["finished_at", "summary"])
    audit_record(
        actor=actor,
        action=Action.SETTLEMENTS_IMPORT,
        obj=batch,
        rows=report.rows,
        new=report.new,
        entries=report.entries,
        claims_taken_over=report.claims_taken_over,
        duplicate_claims=report.duplicate_claims,
    )
    if before_commit is not None:
        before_commit(report)


def _report_booked(report: SettlementReport, booked: Booked) -> None:
    report.entries += booked.entries
    report.claims_taken_over += booked.taken_over
    report.duplicate_claims += booked.duplicates
    for code, total in booked.moves.group_by("plan_code").agg(pl.col("delta").sum()).iter_rows():
        before = Decimal(report.paid_by_plan.get(code or "-", "0"))
        report.paid_by_plan[code or "-"] = str((before + Decimal(total) / 100).quantize(CENT))
    for reason, count in booked.rows.group_by("reason").len().iter_rows():
        key = reason or "PAID"
        report.reasons[key] = report.reasons.get(key, 0) + count


KNOWN_SCHEMA = {
    "settlement_id": pl.String,
    "id": pl.Int64,
    "content_hash": pl.String,
    "reverses": pl.String,
    "reversed_by": pl.String,
    "member_id": pl.Int64,
}


def _known_settlements(keys: pl.Series, *, conn: Any) -> pl.DataFrame:
    """The stored settlements among these settlement_ids (a `Background` job)."""
    temp_keys("_sids", keys, sql_type="TEXT", indexed=False, conn=conn)
    return query_frame(
        f"SELECT s.settlement_id, s.id, s.content_hash, s.reverses, s.reversed_by, s.member_id "
        f'FROM "{Settlement._meta.db_table}" s JOIN "_sids" k ON k.k = s.settlement_id',
        [],
        KNOWN_SCHEMA,
        conn=conn,
    )


def _lock_imports() -> None:
    """One settlement import at a time, and no decision on a member's money meanwhile (they
    take the same lock shared: protection.ledger.ledger_lock); a second import waits
    (PostgreSQL: advisory lock; SQLite: the write transaction itself serialises)."""
    locking.advisory_lock(
        locking.SETTLEMENT_IMPORT,
        timeout="600s",
        message=_("另一个结算文件正在导入，请稍后再试"),
    )


def _people(id_numbers: pl.Series) -> pl.DataFrame:
    """One keyed hash and one ciphertext per person, not per row."""
    v = vault()
    numbers = id_numbers.drop_nulls().unique()  # a missing one is a reported error
    return pl.DataFrame(
        {
            "id_number": numbers,
            "id_hash": [v.lookup_hash(n) for n in numbers.to_list()],
            "id_cipher": [v.encrypt(n) for n in numbers.to_list()],
        },
        schema={"id_number": pl.String, "id_hash": pl.String, "id_cipher": pl.String},
    )


def _match_members(id_hashes: pl.Series, *, conn: Any) -> pl.DataFrame:
    """The members with these keyed ID hashes (a `Background` job)."""
    temp_keys("_hashes", id_hashes, sql_type="TEXT", indexed=False, conn=conn)
    return query_frame(
        f'SELECT m.id_hash, m.id FROM "{Member._meta.db_table}" m '
        f'JOIN "_hashes" k ON k.k = m.id_hash',
        [],
        {"id_hash": pl.String, "member_id": pl.Int64},
        conn=conn,
    )


def _number_settlements(
    fresh: pl.DataFrame, people: pl.DataFrame, first_id: int, report: SettlementReport
) -> pl.DataFrame:
    """The new rows with their person's hash, ciphertext and member (`people`), and their
    primary key (`spk`, from `first_id`)."""
    fresh = (
        fresh.join(people, on="id_number", how="left")
        # Numbered in member order: the primary key and the (member, admitted_on) index then
        # fill in key order, and so do all three indexes of the claims (numbered likewise).
        # Measured on 1M settlements: about 5 s less than settlement_id order, whose gain
        # (its unique index filled from its right edge) is smaller than the claims' loss.
        .sort("member_id", "admitted_on", "settlement_id", nulls_last=True)
        .with_row_index("spk", offset=first_id)
        .with_columns(pl.col("spk").cast(pl.Int64))
    )
    report.matched = fresh.filter(pl.col("member_id").is_not_null() & ~is_reversal()).height
    return fresh


def _settlement_rows(fresh: pl.DataFrame, batch: SettlementImport) -> pl.DataFrame:
    """The new rows as the settlement table's columns."""
    return fresh.select(
        pl.col("spk").alias("id"),
        "settlement_id",
        "id_hash",
        "id_cipher",
        "member_id",
        pl.col("name").fill_null(""),
        pl.col("hospital").fill_null(""),
        tb.as_date("admitted_on"),
        tb.as_date("discharged_on"),
        tb.as_date("settled_on"),
        *[
            fen_text(pl.col(f"{c}_fen")).alias(c)
            for c in ("total_cost", "fund_paid", "in_scope_self_pay", "out_of_scope_self_pay")
        ],
        pl.col("diagnosis_code").fill_null(""),
        pl.col("is_accident_b").alias("is_accident"),
        pl.col("reverses").fill_null(""),
        pl.lit("").alias("reversed_by"),
        "content_hash",
        pl.lit(batch.pk).alias("batch_id"),
    )


def reserve_ids(table: str, count: int, *, conn: Any = None) -> int:
    """The first of `count` consecutive primary keys nobody else will use (the caller holds the
    import lock; on PostgreSQL the sequence is advanced past them, for good: a sequence is not
    transactional). `conn`: a psycopg connection to use instead of Django's."""

    def one(sql: str, params: list[Any] | None = None) -> Any:
        if conn is not None:
            return conn.execute(sql, params).fetchone()[0]
        with connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]

    top = int(one(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"'))
    if conn is None and not is_postgres():
        return top + 1
    seq = one("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    first = max(top + 1, int(one("SELECT nextval(%s)", [seq])))
    one("SELECT setval(%s, %s)", [seq, first + max(count, 1) - 1])
    return first


def version_specs() -> list[VersionSpec]:
    versions = list(PlanVersion.objects.select_related("plan"))
    by_end = {(v.plan_id, v.period_end): v.pk for v in versions}
    return [
        VersionSpec(
            version_id=v.pk,
            terms=terms_of(v),
            previous_version_id=by_end.get((v.plan_id, v.period_start - timedelta(days=1))),
        )
        for v in versions
    ]


def version_benefits() -> dict[int, str]:
    """Each plan version's benefit, as the summaries are keyed."""
    return dict(PlanVersion.objects.values_list("id", "plan__benefit"))
