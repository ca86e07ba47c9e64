"""A settlement file's rows checked (INTERFACES "settlements"): each problem of each row with
file, row and column, repeats inside the file, settlements received before with other content,
reversals of nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.core import idnumber
from huzhu.core import tabular as tb
from huzhu.settlement.touched import is_reversal

if TYPE_CHECKING:
    from huzhu.settlement.services import SettlementReport


TRUE_WORDS = ["1", "是", "true", "y", "yes"]


FALSE_WORDS = ["0", "否", "false", "n", "no"]


def _content_hash(df: pl.DataFrame) -> pl.Series:
    """A hash of a row's meaning (normalised values, so `100` and `100.00` are the same)."""
    parts = [
        pl.col("id_number").fill_null(""),  # missing: reported as an error, not hashed away
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


def normalise(table: tb.Table) -> None:
    """ID numbers in their one spelling (core.idnumber: NFKC, no spaces, capitals), and so on,
    before anything looks at them."""
    table.df = table.df.with_columns(
        idnumber.normalize_series(table.df["id_number"]),
        pl.col("is_accident").str.to_lowercase(),
        pl.col("diagnosis_code").str.to_uppercase(),
    )


AMOUNTS = ("total_cost", "fund_paid", "in_scope_self_pay", "out_of_scope_self_pay")


def _only_normal(expr: pl.Expr) -> pl.Expr:
    """A check of a settlement row; a reversal's amounts and dates are ignored."""
    return pl.when(~is_reversal()).then(expr).otherwise(None)


def _a_date(column: str, *, after_admission: str = "") -> list[pl.Expr]:
    """A required date of a settlement row, not before its admission when `after_admission`
    says so (a translated reason with `%(day)s` and `%(admitted)s`)."""
    checks = [_only_normal(tb.required(column)), _only_normal(tb.date_problem(column))]
    if after_admission:
        early = tb.reason_expr(after_admission, day=pl.col(column), admitted=pl.col("admitted_on"))
        before = tb.as_date(column) < tb.as_date("admitted_on")
        checks.append(_only_normal(pl.when(before).then(early).otherwise(None)))
    return checks


def _checks() -> dict[str, list[pl.Expr]]:
    checks: dict[str, list[pl.Expr]] = {
        "settlement_id": [
            tb.required("settlement_id"),
            pl.when(pl.col("settlement_id").str.len_chars() > 64)
            .then(pl.lit(_("超过 64 个字符")))
            .otherwise(None),
        ],
        "id_number": [
            tb.required("id_number"),
            idnumber.problems_expr("id_number", today=timezone.localdate()),
        ],
        "admitted_on": _a_date("admitted_on"),
        "discharged_on": _a_date(
            "discharged_on", after_admission=_("出院日期 %(day)s 早于入院日期 %(admitted)s")
        ),
        "settled_on": _a_date(
            "settled_on", after_admission=_("结算日期 %(day)s 早于入院日期 %(admitted)s")
        ),
        "in_scope_self_pay": [_only_normal(tb.required("in_scope_self_pay"))],
        "is_accident": [
            pl.when(
                pl.col("is_accident").is_not_null()
                & ~pl.col("is_accident").is_in(TRUE_WORDS + FALSE_WORDS)
            )
            .then(
                pl.format(tb.cell_reason(_("不是 1/0 或 是/否：%(value)s")), pl.col("is_accident"))
            )
            .otherwise(None)
        ],
        "reverses": [
            pl.when(pl.col("reverses") == pl.col("settlement_id"))
            .then(pl.lit(_("一笔结算不能冲销它自己")))
            .otherwise(None)
        ],
    }
    for a in AMOUNTS:
        checks.setdefault(a, []).append(_only_normal(tb.amount_problem(a)))
    return checks


def _validate(table: tb.Table) -> tuple[pl.DataFrame, list[tb.RowError]]:
    """Every problem of every row (`_normalise` first), and the rows with amounts in fen."""
    errors = tb.collect_errors(table, _checks())
    normal = ~is_reversal()
    df = table.df.with_columns(
        *[pl.when(normal).then(tb.as_fen(a)).otherwise(None).alias(f"{a}_fen") for a in AMOUNTS],
        pl.col("is_accident").is_in(TRUE_WORDS).fill_null(False).alias("is_accident_b"),
    )
    return df, errors


def rows_to_store(
    table: tb.Table,
    known: pl.DataFrame,
    report: SettlementReport,
    *,
    keep_valid: bool,
    stage: Callable[[str], None],
) -> pl.DataFrame:
    """The file's rows checked: each problem of each row, a settlement repeated in the file
    with other content, one received before with other content, a reversal of nothing. With
    problems, TableError (or, `keep_valid`, the good rows only); returns the new settlements,
    counting the resent ones in `report`."""
    file, sid_header = table.file, table.header_of("settlement_id")
    known_ids = known["settlement_id"].implode()
    df, errors = _validate(table)
    stage("validate")
    # Duplicates inside the file: the same content is one row; different content is refused.
    df = df.with_columns(_content_hash(df))
    if df["settlement_id"].is_duplicated().any():
        df = _drop_repeats(df, errors, sid_header, file)
    stage("content hash")
    errors.extend(_changed_content(df, known, sid_header, file))
    resent = df.filter(pl.col("settlement_id").is_in(known_ids))
    fresh = df.filter(~pl.col("settlement_id").is_in(known_ids))
    errors.extend(_reversal_problems(fresh, known, table, file))
    report.errors = sorted(set(errors))
    if report.errors and not keep_valid:
        raise tb.TableError(report.errors)
    bad_rows = [e.row for e in report.errors]
    fresh = fresh.filter(~pl.col(tb.ROW).is_in(bad_rows))
    report.resent = resent.height
    return fresh


def _changed_content(
    df: pl.DataFrame, known: pl.DataFrame, sid_header: str, file: str
) -> list[tb.RowError]:
    """Settlements received before with other content: a correction is a reversal and a new
    settlement, never the same id again."""
    changed = df.join(
        known.select("settlement_id", pl.col("content_hash").alias("old")),
        on="settlement_id",
        how="inner",
    ).filter(pl.col("content_hash") != pl.col("old"))
    return [
        tb.RowError(
            row,
            sid_header,
            _("%(sid)s 以前已收到过，内容不同（请发送一笔冲销和一笔新的结算）") % {"sid": sid},
            file,
        )
        for row, sid in changed.select(tb.ROW, "settlement_id").iter_rows()
    ]


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
                row,
                sid_header,
                _("%(sid)s 在第 %(row)s 行也出现过，内容不同") % {"sid": sid, "row": first_row},
                file,
            )
        )
    return df.filter(pl.col(tb.ROW) == pl.col("first_row")).drop("first_row", "first_hash")


def _reversal_problems(
    fresh: pl.DataFrame, known: pl.DataFrame, table: tb.Table, file: str
) -> list[tb.RowError]:
    """A reversal names a settlement received before or in this file, which is no reversal
    itself and not reversed already (by an earlier file or an earlier row of this one)."""
    errors: list[tb.RowError] = []
    header = table.header_of("reverses")
    in_file = set(fresh.filter(~is_reversal())["settlement_id"].to_list())
    old = {
        sid: (rev, by)
        for sid, rev, by in known.select("settlement_id", "reverses", "reversed_by").iter_rows()
    }
    claimed: dict[str, str] = {}
    for row, sid, target in (
        fresh.filter(is_reversal()).select(tb.ROW, "settlement_id", "reverses").iter_rows()
    ):
        before = old.get(target)
        if before is None and target not in in_file:
            reason = _("冲销的结算 %(target)s 不存在") % {"target": target}
            errors.append(tb.RowError(row, header, reason, file))
        elif before is not None and before[0]:
            reason = _("%(target)s 本身是一笔冲销") % {"target": target}
            errors.append(tb.RowError(row, header, reason, file))
        elif (before is not None and before[1]) or target in claimed:
            by = before[1] if before is not None and before[1] else claimed[target]
            reason = _("%(target)s 已被 %(by)s 冲销") % {"target": target, "by": by}
            errors.append(tb.RowError(row, header, reason, file))
        else:
            claimed[target] = sid
    return errors
