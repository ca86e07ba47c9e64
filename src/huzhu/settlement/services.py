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
from huzhu.core.bulk import bulk_insert, bulk_update, is_postgres, lookup_many
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
    df = df.filter(pl.col(tb.ROW) == pl.col("first_row")).drop("first_row", "first_hash")

    with transaction.atomic():
        _lock_imports()
        known = lookup_many(
            Settlement._meta.db_table,
            "settlement_id",
            ["id", "content_hash", "reverses", "reversed_by"],
            df["settlement_id"].to_list() + df["reverses"].drop_nulls().to_list(),
        )
        for row, sid, h in df.select(tb.ROW, "settlement_id", "content_hash").iter_rows():
            old = known.get(sid)
            if old is not None and old[1] != h:
                errors.append(
                    tb.RowError(
                        row,
                        sid_header,
                        f"{sid} was received before with different "
                        "content (send a reversal and a new settlement)",
                        file,
                    )
                )
        resent = df.filter(pl.col("settlement_id").is_in(list(known)))
        fresh = df.filter(~pl.col("settlement_id").is_in(list(known)))
        # Reversals must name a settlement received before or in this file, not a reversal,
        # and not one reversed already by another row.
        in_file = dict(fresh.filter(~_is_reversal()).select("settlement_id", tb.ROW).iter_rows())
        rev_header = table.header_of("reverses")
        claimed: dict[str, str] = {}
        for row, sid, target in (
            fresh.filter(_is_reversal()).select(tb.ROW, "settlement_id", "reverses").iter_rows()
        ):
            old = known.get(target)
            if old is None and target not in in_file:
                errors.append(
                    tb.RowError(row, rev_header, f"reverses unknown settlement {target}", file)
                )
            elif old is not None and old[2]:
                errors.append(tb.RowError(row, rev_header, f"{target} is itself a reversal", file))
            elif (old is not None and old[3]) or target in claimed:
                by = old[3] if old is not None and old[3] else claimed[target]
                errors.append(
                    tb.RowError(row, rev_header, f"{target} is already reversed by {by}", file)
                )
            else:
                claimed[target] = sid
        report.errors = sorted(set(errors))
        if report.errors and not keep_valid:
            raise tb.TableError(report.errors)
        bad_rows = {e.row for e in report.errors}
        fresh = fresh.filter(~pl.col(tb.ROW).is_in(list(bad_rows)))
        report.resent = resent.height
        say("validated", fresh.height)
        batch = SettlementImport.objects.create(
            file_name=file[:255], file_sha256=hashlib.sha256(data).hexdigest(), actor=actor
        )
        _insert_settlements(fresh, batch, report)
        say("stored", report.new)
        targets = fresh.filter(_is_reversal()).select("reverses", "settlement_id")
        if targets.height:
            bulk_update(
                Settlement._meta.db_table,
                "settlement_id",
                ["reversed_by"],
                [(by, target) for target, by in targets.iter_rows()],
            )
        report.reversals = targets.height
        members = _touched_members(fresh)
        report.members_recomputed = len(members)
        entries = recompute_members(
            members, new_unmatched=fresh, batch=str(batch.pk), report=report
        )
        say("paid", entries)
        batch.finished_at = timezone.now()
        batch.summary = {k: v for k, v in report.as_dict().items() if k != "errors"}
        batch.save(update_fields=["finished_at", "summary"])
        audit_record(
            actor=actor,
            action="settlements.import",
            obj=batch,
            reason="",
            rows=report.rows,
            new=report.new,
            entries=report.entries,
        )
    return report


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
) -> None:
    v = vault()
    hashes = [v.lookup_hash(i) for i in fresh["id_number"].to_list()]
    fresh_h = fresh.with_columns(pl.Series("id_hash", hashes))
    member_of = lookup_many(Member._meta.db_table, "id_hash", "id", hashes)
    adapt = connection.ops.adapt_decimalfield_value

    def money(f: int | None) -> object:
        return None if f is None else adapt(Decimal(f) / 100, 14, 2)

    def rows():  # type: ignore[no-untyped-def]
        for r in fresh_h.iter_rows(named=True):
            member_id = member_of.get(r["id_hash"])
            if member_id is not None and r["reverses"] is None:
                report.matched += 1
            yield (
                r["settlement_id"],
                r["id_hash"],
                v.encrypt(r["id_number"]),
                member_id,
                r["name"] or "",
                r["hospital"] or "",
                r["admitted_on"],
                r["discharged_on"],
                r["settled_on"],
                money(r["total_cost_fen"]),
                money(r["fund_paid_fen"]),
                money(r["in_scope_self_pay_fen"]),
                money(r["out_of_scope_self_pay_fen"]),
                r["diagnosis_code"] or "",
                r["is_accident_b"],
                r["reverses"] or "",
                "",
                r["content_hash"],
                batch.pk,
            )

    report.new = bulk_insert(
        Settlement._meta.db_table,
        [
            "settlement_id",
            "id_hash",
            "id_cipher",
            "member_id",
            "name",
            "hospital",
            "admitted_on",
            "discharged_on",
            "settled_on",
            "total_cost",
            "fund_paid",
            "in_scope_self_pay",
            "out_of_scope_self_pay",
            "diagnosis_code",
            "is_accident",
            "reverses",
            "reversed_by",
            "content_hash",
            "batch_id",
        ],
        rows(),
    )


def _touched_members(fresh: pl.DataFrame) -> list[int]:
    sids = fresh["settlement_id"].to_list() + fresh["reverses"].drop_nulls().to_list()
    found = lookup_many(Settlement._meta.db_table, "settlement_id", "member_id", sids)
    return sorted({m for m in found.values() if m is not None})


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


SETTLEMENT_FRAME = {
    "spk": pl.Int64,
    "sid": pl.String,
    "member_id": pl.Int64,
    "admitted_on": pl.Date,
    "discharged_on": pl.Date,
    "settled_on": pl.Date,
    "in_fen": pl.Int64,
    "out_fen": pl.Int64,
    "diagnosis_code": pl.String,
    "is_accident": pl.Boolean,
    "reversed": pl.Boolean,
}


def _frame(sql: str, params: list[Any]) -> pl.DataFrame:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    df = pl.DataFrame(rows, schema=list(SETTLEMENT_FRAME), orient="row", infer_schema_length=None)
    return df.with_columns(
        *[
            pl.col(c).cast(pl.String).str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d")
            for c in ("admitted_on", "discharged_on", "settled_on")
        ],
        *[
            (pl.col(c).cast(pl.String).cast(pl.Decimal(14, 2)) * 100).cast(pl.Int64)
            for c in ("in_fen", "out_fen")
        ],
        pl.col("is_accident").cast(pl.Boolean),
        pl.col("reversed").cast(pl.Boolean),
    ).cast(SETTLEMENT_FRAME)  # type: ignore[arg-type]


def _settlement_frame(member_ids: list[int], unmatched_sids: list[str]) -> pl.DataFrame:
    table = Settlement._meta.db_table
    cols = (
        "id, settlement_id, member_id, admitted_on, discharged_on, settled_on, "
        "in_scope_self_pay, COALESCE(out_of_scope_self_pay, 0), diagnosis_code, is_accident, "
        "reversed_by <> ''"
    )
    frames = []
    base = f"SELECT {cols} FROM \"{table}\" WHERE reverses = '' AND "
    for start in range(0, len(member_ids), 900):
        part = member_ids[start : start + 900]
        frames.append(_frame(base + f"member_id IN ({', '.join(['%s'] * len(part))})", list(part)))
    for start in range(0, len(unmatched_sids), 900):
        sids = unmatched_sids[start : start + 900]
        frames.append(
            _frame(
                base + f"member_id IS NULL AND settlement_id IN ({', '.join(['%s'] * len(sids))})",
                list(sids),
            )
        )
    if not frames:
        return pl.DataFrame(schema=SETTLEMENT_FRAME)
    return pl.concat(frames)


def recompute_members(
    member_ids: list[int],
    *,
    new_unmatched: pl.DataFrame | None = None,
    batch: str = "",
    report: SettlementReport | None = None,
) -> int:
    """Re-adjudicate these members' settlements (and new unmatched ones) and book differences."""
    unmatched: list[str] = []
    if new_unmatched is not None and new_unmatched.height:
        unmatched = new_unmatched.filter(~_is_reversal())["settlement_id"].to_list()
        unmatched += new_unmatched["reverses"].drop_nulls().to_list()
    settlements = _settlement_frame(member_ids, unmatched)
    if settlements.height == 0:
        return 0
    enrollments = pl.DataFrame(
        list(
            Enrollment.objects.filter(member_id__in=member_ids).values_list(
                "member_id", "version_id"
            )
        )
        if len(member_ids) < 20_000
        else [
            r
            for r in Enrollment.objects.values_list("member_id", "version_id")
            if r[0] in set(member_ids)
        ],
        schema={"member_id": pl.Int64, "version_id": pl.Int64},
        orient="row",
    )
    result = adjudicate(settlements, enrollments, version_specs())
    return _book(result, settlements, batch, report)


def _book(
    result: pl.DataFrame, settlements: pl.DataFrame, batch: str, report: SettlementReport | None
) -> int:
    """Create or update claims, and write one ledger entry per claim whose net differs."""
    spks = settlements["spk"].to_list()
    claims_table, entries_table = Claim._meta.db_table, LedgerEntry._meta.db_table
    existing: dict[tuple[int, int | None], tuple[int, int, int, str]] = {}
    with connection.cursor() as cur:
        for start in range(0, len(spks), 900):
            part = spks[start : start + 900]
            marks = ", ".join(["%s"] * len(part))
            cur.execute(
                f"SELECT c.id, c.settlement_id, c.version_id, c.base_amount, c.reason, "
                f'COALESCE((SELECT SUM(e.amount) FROM "{entries_table}" e '
                f"WHERE e.claim_id = c.id), 0) "
                f'FROM "{claims_table}" c WHERE c.settlement_id IN ({marks})',
                part,
            )
            for cid, spk, vid, base, reason, net in cur.fetchall():
                existing[(spk, vid)] = (
                    cid,
                    round(Decimal(str(base)) * 100),
                    round(Decimal(str(net)) * 100),
                    reason,
                )
    member_of = dict(
        zip(settlements["spk"].to_list(), settlements["member_id"].to_list(), strict=True)
    )
    adapt = connection.ops.adapt_decimalfield_value
    now = connection.ops.adapt_datetimefield_value(timezone.now())

    def money(f: int) -> object:
        return adapt(Decimal(f) / 100, 14, 2)

    new_claims: list[tuple[object, ...]] = []
    updates: list[tuple[object, ...]] = []
    pending_entries: list[tuple[tuple[int, int | None], int, int]] = []  # key, delta, net_before
    for spk, vid, code, base, target, reason in result.iter_rows():
        key = (spk, vid)
        reason = reason or ""
        state = ClaimState.APPROVED if target > 0 else ClaimState.REJECTED
        old = existing.get(key)
        if old is None:
            new_claims.append(
                (
                    ClaimSource.SETTLEMENT,
                    state,
                    member_of[spk],
                    vid,
                    code,
                    spk,
                    money(base),
                    money(target),
                    reason,
                    False,
                    "",
                    now,
                    now,
                )
            )
            net = 0
        else:
            net = old[2]
            updates.append((state, money(base), money(target), reason, now, old[0]))
        if target != net:
            pending_entries.append((key, target - net, net))
        if report is not None:
            report.reasons[reason or "PAID"] = report.reasons.get(reason or "PAID", 0) + 1
    bulk_insert(
        claims_table,
        [
            "source",
            "state",
            "member_id",
            "version_id",
            "plan_code",
            "settlement_id",
            "base_amount",
            "target",
            "reason",
            "fast_track",
            "description",
            "created_at",
            "updated_at",
        ],
        new_claims,
    )
    bulk_update(
        claims_table, "id", ["state", "base_amount", "target", "reason", "updated_at"], updates
    )
    if not pending_entries:
        return 0
    claim_ids: dict[tuple[int, int | None], int] = {k: v[0] for k, v in existing.items()}
    new_keys = {k for k, _d, _n in pending_entries if k not in claim_ids}
    if new_keys:
        wanted = sorted({k[0] for k in new_keys})
        with connection.cursor() as cur:
            for start in range(0, len(wanted), 900):
                part = wanted[start : start + 900]
                cur.execute(
                    f'SELECT id, settlement_id, version_id FROM "{claims_table}" '
                    f"WHERE settlement_id IN ({', '.join(['%s'] * len(part))})",
                    part,
                )
                for cid, spk, vid in cur.fetchall():
                    claim_ids[(spk, vid)] = cid
    codes = dict(((spk, vid), code) for spk, vid, code, *_ in result.iter_rows())
    rows = []
    for key, delta, net in pending_entries:
        kind = "payout" if net == 0 and delta > 0 else ("adjustment" if delta > 0 else "clawback")
        rows.append((claim_ids[key], member_of[key[0]], kind, money(delta), now, batch, ""))
        if report is not None:
            code = codes[key] or "-"
            report.paid_by_plan[code] = str(
                Decimal(report.paid_by_plan.get(code, "0")) + Decimal(delta) / 100
            )
    bulk_insert(
        entries_table,
        ["claim_id", "member_id", "kind", "amount", "created_at", "batch", "memo"],
        rows,
    )
    summaries_apply_entries([(r[0], r[3], r[4]) for r in rows])
    touched_versions = {k[1] for k, d, _n in pending_entries if k[1] is not None}
    PlanVersion.objects.filter(pk__in=touched_versions, frozen_at__isnull=True).update(
        frozen_at=timezone.now()
    )
    if report is not None:
        report.entries += len(rows)
    return len(rows)
