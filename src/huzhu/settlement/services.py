"""`import settlements`: match the bureau's rows to members, adjudicate, book the differences.

Exactly once: one transaction per file, under a lock that lets one import run at a time. A
resent row is ignored, a changed resend refused; a crash leaves nothing behind, so a rerun ends
in the same state as one clean run. Only members touched by the file are recomputed, and every
difference between what the rules say now and what the ledger holds becomes a new entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from django.db import connection, transaction
from django.utils import timezone

from huzhu.accounts.models import User
from huzhu.audit.services import audit_record
from huzhu.core import idnumber
from huzhu.core import tabular as tb
from huzhu.core.bulk import (
    fen_text,
    insert_frame,
    is_postgres,
    query_frame,
    temp_keys,
    update_frame,
)
from huzhu.core.errors import Busy
from huzhu.core.pii import vault
from huzhu.members.models import Member
from huzhu.protection.models import (
    Claim,
    ClaimSource,
    ClaimState,
    Enrollment,
    LedgerEntry,
    PlanVersion,
)
from huzhu.protection.plans import terms_of
from huzhu.reports.services import summaries_apply_entries
from huzhu.settlement.engine import VersionSpec, adjudicate
from huzhu.settlement.models import Settlement, SettlementImport

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
TRUE_WORDS = ["1", "是", "true", "y", "yes"]
FALSE_WORDS = ["0", "否", "false", "n", "no"]
LOCK_KEY = 784513
CENT = Decimal("0.01")
Progress = Callable[[str, int], None]


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
            "paid_by_plan": self.paid_by_plan,
            "reasons": self.reasons,
            "errors": [e.as_dict() for e in self.errors],
        }


def _is_reversal() -> pl.Expr:
    return pl.col("reverses").is_not_null()


def _content_hash(df: pl.DataFrame) -> pl.Series:
    """A hash of a row's meaning (normalised values, so `100` and `100.00` are the same)."""
    parts = [
        pl.col("id_number"),
        pl.col("name").fill_null(""),
        pl.col("hospital").fill_null(""),
        pl.col("admitted_on").fill_null(""),
        pl.col("discharged_on").fill_null(""),
        pl.col("settled_on").fill_null(""),
        *[
            pl.col(f"{c}_fen").cast(pl.String).fill_null("")
            for c in ("total_cost", "fund_paid", "in_scope_self_pay", "out_of_scope_self_pay")
        ],
        pl.col("diagnosis_code").fill_null(""),
        pl.col("is_accident_b").cast(pl.String),
        pl.col("reverses").fill_null(""),
    ]
    joined = df.select(pl.concat_str(parts, separator="\x1f").alias("k"))["k"].to_list()
    return pl.Series("content_hash", [hashlib.sha256(k.encode()).hexdigest() for k in joined])


def _validate(table: tb.Table) -> tuple[pl.DataFrame, list[tb.RowError]]:
    df = table.df.with_columns(
        pl.col("id_number").str.to_uppercase().str.replace_all(r"\s", ""),
        pl.col("is_accident").str.to_lowercase(),
        pl.col("diagnosis_code").str.to_uppercase(),
    )
    table.df = df
    normal = ~_is_reversal()

    def only_normal(expr: pl.Expr) -> pl.Expr:
        return pl.when(normal).then(expr).otherwise(None)

    amounts = ["total_cost", "fund_paid", "in_scope_self_pay", "out_of_scope_self_pay"]
    admitted, discharged, settled = (
        tb.as_date("admitted_on"),
        tb.as_date("discharged_on"),
        tb.as_date("settled_on"),
    )
    checks: dict[str, list[pl.Expr]] = {
        "settlement_id": [
            tb.required("settlement_id"),
            pl.when(pl.col("settlement_id").str.len_chars() > 64)
            .then(pl.lit("longer than 64 characters"))
            .otherwise(None),
        ],
        "id_number": [
            tb.required("id_number"),
            idnumber.problems_expr("id_number", today=timezone.localdate()),
        ],
        "admitted_on": [
            only_normal(tb.required("admitted_on")),
            only_normal(tb.date_problem("admitted_on")),
        ],
        "discharged_on": [
            only_normal(tb.required("discharged_on")),
            only_normal(tb.date_problem("discharged_on")),
            only_normal(
                pl.when(discharged < admitted)
                .then(
                    pl.format(
                        "discharged on {} before admission on {}",
                        pl.col("discharged_on"),
                        pl.col("admitted_on"),
                    )
                )
                .otherwise(None)
            ),
        ],
        "settled_on": [
            only_normal(tb.required("settled_on")),
            only_normal(tb.date_problem("settled_on")),
            only_normal(
                pl.when(settled < admitted)
                .then(
                    pl.format(
                        "settled on {} before admission on {}",
                        pl.col("settled_on"),
                        pl.col("admitted_on"),
                    )
                )
                .otherwise(None)
            ),
        ],
        "in_scope_self_pay": [only_normal(tb.required("in_scope_self_pay"))],
        "is_accident": [
            pl.when(
                pl.col("is_accident").is_not_null()
                & ~pl.col("is_accident").is_in(TRUE_WORDS + FALSE_WORDS)
            )
            .then(pl.format("not 1/0 or 是/否: {}", pl.col("is_accident")))
            .otherwise(None)
        ],
        "reverses": [
            pl.when(pl.col("reverses") == pl.col("settlement_id"))
            .then(pl.lit("a settlement cannot reverse itself"))
            .otherwise(None)
        ],
    }
    for a in amounts:
        checks.setdefault(a, []).append(only_normal(tb.amount_problem(a)))
    errors = tb.collect_errors(table, checks)
    df = df.with_columns(
        *[pl.when(normal).then(tb.as_fen(a)).otherwise(None).alias(f"{a}_fen") for a in amounts],
        pl.col("is_accident").is_in(TRUE_WORDS).fill_null(False).alias("is_accident_b"),
    )
    return df, errors


def settlements_import(
    data: bytes,
    *,
    file: str,
    actor: User | None = None,
    keep_valid: bool = False,
    progress: Progress | None = None,
) -> SettlementReport:
    """Import a settlement file (INTERFACES.md "settlements" and "Adjudication rules")."""
    say = progress or (lambda _s, _n: None)
    table = tb.read_table(data, file=file, columns=SETTLEMENT_COLUMNS)
    say("read", table.df.height)
    df, errors = _validate(table)
    df = df.with_columns(_content_hash(df))
    report = SettlementReport(file=file, rows=df.height)
    sid_header = table.header_of("settlement_id")

    # Duplicates inside the file: the same content is one row; different content is refused.
    if df["settlement_id"].is_duplicated().any():
        df = _drop_repeats(df, errors, sid_header, file)

    with transaction.atomic():
        _lock_imports()
        keys = pl.concat([df["settlement_id"], df["reverses"].drop_nulls()]).unique()
        temp_keys("_sids", keys.to_list(), sql_type="TEXT")
        known = query_frame(
            f"SELECT s.settlement_id, s.id, s.content_hash, s.reverses, s.reversed_by, s.member_id "
            f'FROM "{Settlement._meta.db_table}" s JOIN "_sids" k ON k.k = s.settlement_id',
            [],
            KNOWN_SCHEMA,
        )
        changed = df.join(
            known.select("settlement_id", pl.col("content_hash").alias("old")),
            on="settlement_id",
            how="inner",
        ).filter(pl.col("content_hash") != pl.col("old"))
        for row, sid in changed.select(tb.ROW, "settlement_id").iter_rows():
            errors.append(
                tb.RowError(
                    row,
                    sid_header,
                    f"{sid} was received before with different content "
                    "(send a reversal and a new settlement)",
                    file,
                )
            )
        known_ids = known["settlement_id"].implode()
        resent = df.filter(pl.col("settlement_id").is_in(known_ids))
        fresh = df.filter(~pl.col("settlement_id").is_in(known_ids))
        errors.extend(_reversal_problems(fresh, known, table, file))
        report.errors = sorted(set(errors))
        if report.errors and not keep_valid:
            raise tb.TableError(report.errors)
        bad_rows = [e.row for e in report.errors]
        fresh = fresh.filter(~pl.col(tb.ROW).is_in(bad_rows))
        report.resent = resent.height
        say("validated", fresh.height)
        batch = SettlementImport.objects.create(
            file_name=file[:255], file_sha256=hashlib.sha256(data).hexdigest(), actor=actor
        )
        fresh = _insert_settlements(fresh, batch, report)
        say("stored", report.new)
        targets = fresh.filter(_is_reversal()).select("reverses", "settlement_id")
        if targets.height:
            update_frame(
                Settlement._meta.db_table,
                "settlement_id",
                targets.select(
                    pl.col("reverses").alias("settlement_id"),
                    pl.col("settlement_id").alias("reversed_by"),
                ),
            )
        report.reversals = targets.height
        members = (
            pl.concat(
                [
                    fresh["member_id"],
                    known.filter(pl.col("settlement_id").is_in(targets["reverses"].implode()))[
                        "member_id"
                    ],
                ]
            )
            .drop_nulls()
            .unique()
            .sort()
            .to_list()
        )
        report.members_recomputed = len(members)
        entries = recompute_members(
            members,
            unmatched_sids=targets["reverses"].to_list(),
            batch=str(batch.pk),
            report=report,
            in_hand=_as_settlement_frame(fresh, reversed_now=targets["reverses"]),
            in_hand_batch=batch.pk,
        )
        say("paid", entries)
        batch.finished_at = timezone.now()
        batch.summary = {k: v for k, v in report.as_dict().items() if k != "errors"}
        batch.save(update_fields=["finished_at", "summary"])
        audit_record(
            actor=actor,
            action="settlements.import",
            obj=batch,
            rows=report.rows,
            new=report.new,
            entries=report.entries,
        )
    return report


def _drop_repeats(
    df: pl.DataFrame, errors: list[tb.RowError], sid_header: str, file: str
) -> pl.DataFrame:
    """Keep the first row of each settlement_id; a later row with other content is an error."""
    first = df.group_by("settlement_id", maintain_order=True).agg(
        pl.col(tb.ROW).first().alias("first_row"),
        pl.col("content_hash").first().alias("first_hash"),
    )
    df = df.join(first, on="settlement_id", how="left")
    for row, sid, first_row in (
        df.filter(
            (pl.col(tb.ROW) != pl.col("first_row"))
            & (pl.col("content_hash") != pl.col("first_hash"))
        )
        .select(tb.ROW, "settlement_id", "first_row")
        .iter_rows()
    ):
        errors.append(
            tb.RowError(
                row, sid_header, f"{sid} appears on row {first_row} with different content", file
            )
        )
    return df.filter(pl.col(tb.ROW) == pl.col("first_row")).drop("first_row", "first_hash")


KNOWN_SCHEMA = {
    "settlement_id": pl.String,
    "id": pl.Int64,
    "content_hash": pl.String,
    "reverses": pl.String,
    "reversed_by": pl.String,
    "member_id": pl.Int64,
}


def _reversal_problems(
    fresh: pl.DataFrame, known: pl.DataFrame, table: tb.Table, file: str
) -> list[tb.RowError]:
    """A reversal names a settlement received before or in this file, which is no reversal
    itself and not reversed already (by an earlier file or an earlier row of this one)."""
    errors: list[tb.RowError] = []
    header = table.header_of("reverses")
    in_file = set(fresh.filter(~_is_reversal())["settlement_id"].to_list())
    old = {
        sid: (rev, by)
        for sid, rev, by in known.select("settlement_id", "reverses", "reversed_by").iter_rows()
    }
    claimed: dict[str, str] = {}
    for row, sid, target in (
        fresh.filter(_is_reversal()).select(tb.ROW, "settlement_id", "reverses").iter_rows()
    ):
        before = old.get(target)
        if before is None and target not in in_file:
            errors.append(tb.RowError(row, header, f"reverses unknown settlement {target}", file))
        elif before is not None and before[0]:
            errors.append(tb.RowError(row, header, f"{target} is itself a reversal", file))
        elif (before is not None and before[1]) or target in claimed:
            by = before[1] if before is not None and before[1] else claimed[target]
            errors.append(tb.RowError(row, header, f"{target} is already reversed by {by}", file))
        else:
            claimed[target] = sid
    return errors


def _lock_imports() -> None:
    """One settlement import at a time; a second one waits (PostgreSQL: advisory lock; SQLite:
    the write transaction itself serialises)."""
    if is_postgres():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '600s'")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            except Exception as exc:  # lock timeout
                raise Busy("another settlement import is running; try again later") from exc


def _insert_settlements(
    fresh: pl.DataFrame, batch: SettlementImport, report: SettlementReport
) -> pl.DataFrame:
    """Store the new rows; returns them with their primary key (`spk`) and `member_id`."""
    v = vault()
    numbers = fresh["id_number"].unique()
    # One keyed hash and one ciphertext per person, not per row.
    people = pl.DataFrame(
        {
            "id_number": numbers,
            "id_hash": [v.lookup_hash(n) for n in numbers.to_list()],
            "id_cipher": [v.encrypt(n) for n in numbers.to_list()],
        },
        schema={"id_number": pl.String, "id_hash": pl.String, "id_cipher": pl.String},
    )
    members = query_frame(
        f'SELECT m.id_hash, m.id FROM "{Member._meta.db_table}" m '
        f'JOIN "{temp_keys("_hashes", people["id_hash"].to_list(), sql_type="TEXT")}" k '
        f"ON k.k = m.id_hash",
        [],
        {"id_hash": pl.String, "member_id": pl.Int64},
    )
    first_id = reserve_ids(Settlement._meta.db_table, fresh.height)
    fresh = (
        fresh.join(people, on="id_number", how="left")
        .join(members, on="id_hash", how="left")
        # In settlement_id order: both unique indexes then fill from their right edge.
        .sort("settlement_id")
        .with_row_index("spk", offset=first_id)
        .with_columns(pl.col("spk").cast(pl.Int64))
    )
    report.matched = fresh.filter(pl.col("member_id").is_not_null() & ~_is_reversal()).height
    columns = fresh.select(
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
    report.new = insert_frame(Settlement._meta.db_table, columns)
    return fresh


def reserve_ids(table: str, count: int) -> int:
    """The first of `count` consecutive primary keys nobody else will use (the caller holds the
    import lock; on PostgreSQL the sequence is advanced past them)."""
    with connection.cursor() as cur:
        if is_postgres():
            cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (seq,) = cur.fetchone()
            cur.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
            (top,) = cur.fetchone()
            cur.execute("SELECT nextval(%s)", [seq])
            (nxt,) = cur.fetchone()
            first = max(int(top) + 1, int(nxt))
            cur.execute("SELECT setval(%s, %s)", [seq, first + max(count, 1) - 1])
            return first
        cur.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
        (top,) = cur.fetchone()
        return int(top) + 1


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


SETTLEMENT_FRAME: dict[str, Any] = {
    "spk": pl.Int64,
    "sid": pl.String,
    "member_id": pl.Int64,
    "admitted_on": pl.Date,
    "discharged_on": pl.Date,
    "settled_on": pl.Date,
    "in_fen": "fen",
    "out_fen": "fen",
    "diagnosis_code": pl.String,
    "is_accident": pl.Boolean,
    "reversed": pl.Boolean,
}
EXISTING_FRAME: dict[str, Any] = {
    "claim_id": pl.Int64,
    "spk": pl.Int64,
    "version_id": pl.Int64,
    "old_base": "fen",
    "old_target": "fen",
    "old_reason": pl.String,
    "net": "fen",
}


def _as_settlement_frame(fresh: pl.DataFrame, *, reversed_now: pl.Series) -> pl.DataFrame:
    """This file's new rows (reversal rows left out) as `_settlement_frame` would read them back
    from the database, so that they need not be."""
    return fresh.filter(~_is_reversal()).select(
        "spk",
        pl.col("settlement_id").alias("sid"),
        "member_id",
        tb.as_date("admitted_on"),
        tb.as_date("discharged_on"),
        tb.as_date("settled_on"),
        pl.col("in_scope_self_pay_fen").cast(pl.Int64).alias("in_fen"),
        pl.col("out_of_scope_self_pay_fen").fill_null(0).cast(pl.Int64).alias("out_fen"),
        pl.col("diagnosis_code").fill_null(""),
        pl.col("is_accident_b").alias("is_accident"),
        pl.col("settlement_id").is_in(reversed_now.implode()).alias("reversed"),
    )


def _settlement_frame(
    member_ids: list[int], unmatched_sids: list[str], *, skip_batch: int | None = None
) -> pl.DataFrame:
    """All settlements (reversed ones too, but not reversal rows) of these members, and the
    given unmatched settlements; those of batch `skip_batch` left out."""
    s = Settlement._meta.db_table
    cols = (
        "s.id, s.settlement_id, s.member_id, s.admitted_on, s.discharged_on, s.settled_on, "
        "s.in_scope_self_pay, COALESCE(s.out_of_scope_self_pay, 0), s.diagnosis_code, "
        "s.is_accident, CASE WHEN s.reversed_by <> '' THEN 1 ELSE 0 END"
    )
    skip = [] if skip_batch is None else [skip_batch]
    but = " AND s.batch_id <> %s" if skip else ""
    temp_keys("_members", member_ids)
    frames = [
        query_frame(
            f'SELECT {cols} FROM "{s}" s JOIN "_members" k ON k.k = s.member_id '
            f"WHERE s.reverses = ''{but}",
            skip,
            SETTLEMENT_FRAME,
        )
    ]
    if unmatched_sids:
        temp_keys("_unmatched", unmatched_sids, sql_type="TEXT")
        frames.append(
            query_frame(
                f'SELECT {cols} FROM "{s}" s JOIN "_unmatched" k ON k.k = s.settlement_id '
                f"WHERE s.member_id IS NULL AND s.reverses = ''{but}",
                skip,
                SETTLEMENT_FRAME,
            )
        )
    return pl.concat(frames)


def recompute_members(
    member_ids: list[int],
    *,
    unmatched_sids: list[str] | None = None,
    batch: str = "",
    report: SettlementReport | None = None,
    in_hand: pl.DataFrame | None = None,
    in_hand_batch: int | None = None,
) -> int:
    """Re-adjudicate these members' settlements (and the given unmatched ones) and book every
    difference as a ledger entry. Returns the number of entries written.

    `in_hand` are the rows of batch `in_hand_batch` as `_settlement_frame` reads them (the
    import has them in memory): not read back from the database."""
    settlements = _settlement_frame(member_ids, unmatched_sids or [], skip_batch=in_hand_batch)
    # Claims can exist only for settlements stored before: the ones in hand were just added.
    may_have_claims = settlements["spk"]
    if in_hand is not None:
        settlements = pl.concat([in_hand, settlements.select(in_hand.columns)])
    if settlements.height == 0:
        return 0
    enrollments = query_frame(
        f'SELECT e.member_id, e.version_id, e.unit_id FROM "{Enrollment._meta.db_table}" e '
        f'JOIN "_members" k ON k.k = e.member_id',
        [],
        {"member_id": pl.Int64, "version_id": pl.Int64, "unit_id": pl.Int64},
    )
    result = adjudicate(settlements, enrollments.drop("unit_id"), version_specs())
    return _book(result, settlements, enrollments, batch, report, may_have_claims)


def _book(
    result: pl.DataFrame,
    settlements: pl.DataFrame,
    enrollments: pl.DataFrame,
    batch: str,
    report: SettlementReport | None,
    may_have_claims: pl.Series,
) -> int:
    """Create or update claims, and write one ledger entry per claim whose net differs.

    `may_have_claims`: the settlements whose claims are looked up (the others have none)."""
    claims, entries = Claim._meta.db_table, LedgerEntry._meta.db_table
    temp_keys("_spks", may_have_claims.to_list())
    existing = query_frame(
        f"SELECT c.id, c.settlement_id, c.version_id, c.base_amount, c.target, c.reason, "
        f'COALESCE(n.net, 0) FROM "{claims}" c JOIN "_spks" k ON k.k = c.settlement_id '
        f'LEFT JOIN (SELECT e.claim_id, SUM(e.amount) AS net FROM "{entries}" e '
        f'JOIN "{claims}" c2 ON c2.id = e.claim_id JOIN "_spks" k2 ON k2.k = c2.settlement_id '
        f"GROUP BY e.claim_id) n ON n.claim_id = c.id",
        [],
        EXISTING_FRAME,
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    df = (
        result.join(settlements.select("spk", "member_id"), on="spk", how="left")
        .with_columns(pl.col("version_id").fill_null(-1).alias("vkey"))
        .join(
            existing.with_columns(pl.col("version_id").fill_null(-1).alias("vkey")).drop(
                "version_id"
            ),
            on=["spk", "vkey"],
            how="left",
        )
        .with_columns(
            pl.col("reason").fill_null(""),
            pl.col("net").fill_null(0),
            pl.when(pl.col("target_fen") > 0)
            .then(pl.lit(ClaimState.APPROVED.value))
            .otherwise(pl.lit(ClaimState.REJECTED.value))
            .alias("state"),
        )
    )
    new = df.filter(pl.col("claim_id").is_null())
    first = reserve_ids(claims, new.height)
    new = (
        new.sort("spk", "version_id", nulls_last=True)  # indexes filled in order, as above
        .with_row_index("new_id", offset=first)
        .with_columns(pl.col("new_id").cast(pl.Int64))
    )
    insert_frame(
        claims,
        new.select(
            pl.col("new_id").alias("id"),
            pl.lit(ClaimSource.SETTLEMENT.value).alias("source"),
            "state",
            "member_id",
            "version_id",
            "plan_code",
            pl.col("spk").alias("settlement_id"),
            fen_text(pl.col("base_fen")).alias("base_amount"),
            fen_text(pl.col("target_fen")).alias("target"),
            "reason",
            pl.lit(False).alias("fast_track"),
            pl.lit("").alias("description"),
            pl.lit(now).alias("created_at"),
            pl.lit(now).alias("updated_at"),
        ),
    )
    old = df.filter(
        pl.col("claim_id").is_not_null()
        & (
            (pl.col("base_fen") != pl.col("old_base"))
            | (pl.col("target_fen") != pl.col("old_target"))
            | (pl.col("reason") != pl.col("old_reason").fill_null(""))
        )
    )
    update_frame(
        claims,
        "id",
        old.select(
            pl.col("claim_id").alias("id"),
            "state",
            fen_text(pl.col("base_fen")).alias("base_amount"),
            fen_text(pl.col("target_fen")).alias("target"),
            "reason",
            pl.lit(now).alias("updated_at"),
        ),
    )
    moves = (
        pl.concat(
            [
                new.select(
                    pl.col("new_id").alias("claim_id"),
                    "member_id",
                    "plan_code",
                    "version_id",
                    "target_fen",
                    "net",
                ),
                df.filter(pl.col("claim_id").is_not_null()).select(
                    "claim_id", "member_id", "plan_code", "version_id", "target_fen", "net"
                ),
            ]
        )
        .with_columns((pl.col("target_fen") - pl.col("net")).alias("delta"))
        .filter(pl.col("delta") != 0)
    )
    insert_frame(
        entries,
        moves.select(
            "claim_id",
            "member_id",
            pl.when((pl.col("net") == 0) & (pl.col("delta") > 0))
            .then(pl.lit("payout"))
            .when(pl.col("delta") > 0)
            .then(pl.lit("adjustment"))
            .otherwise(pl.lit("clawback"))
            .alias("kind"),
            fen_text(pl.col("delta")).alias("amount"),
            pl.lit(now).alias("created_at"),
            pl.lit(batch).alias("batch"),
            pl.lit("").alias("memo"),
        ),
    )
    # What the summaries would look up: the enrolment's unit and the plan's benefit.
    benefits = dict(PlanVersion.objects.values_list("id", "plan__benefit"))
    keys = moves.join(
        enrollments.filter(pl.col("unit_id").is_not_null()),
        on=["member_id", "version_id"],
        how="inner",
    ).select(
        "claim_id",
        "unit_id",
        pl.col("version_id").replace_strict(benefits, return_dtype=pl.String).alias("benefit"),
        "plan_code",
    )
    summaries_apply_entries(
        moves.select("claim_id", pl.col("delta").alias("fen"), pl.lit(now).alias("created_at")),
        keys=keys,
        new_claims=new["new_id"],
    )
    versions = moves["version_id"].drop_nulls().unique().to_list()
    PlanVersion.objects.filter(pk__in=versions, frozen_at__isnull=True).update(
        frozen_at=timezone.now()
    )
    if report is not None:
        report.entries += moves.height
        for code, total in moves.group_by("plan_code").agg(pl.col("delta").sum()).iter_rows():
            before = Decimal(report.paid_by_plan.get(code or "-", "0"))
            report.paid_by_plan[code or "-"] = str((before + Decimal(total) / 100).quantize(CENT))
        for reason, count in df.group_by("reason").len().iter_rows():
            key = reason or "PAID"
            report.reasons[key] = report.reasons.get(key, 0) + count
    return moves.height
