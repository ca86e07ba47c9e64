"""Enrolments (参保) from a file: `huzhu import enrollments FILE` (INTERFACES.md "Files")."""

from __future__ import annotations

from typing import Any

import polars as pl
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import idnumber
from huzhu.core import tabular as tb
from huzhu.core.bulk import bulk_insert, bulk_update, lookup_many
from huzhu.core.pii import vault
from huzhu.members.models import Member
from huzhu.members.roster import ImportReport, Progress
from huzhu.protection.models import Enrollment, PlanVersion

ENROLLMENT_COLUMNS = (
    tb.Column("id_number", "身份证号", required=True),
    tb.Column("plan_code", "计划编码", required=True),
    tb.Column("period_start", "保障开始日期", required=True),
    tb.Column("paid_on", "缴费日期"),
    tb.Column("amount", "缴费金额"),
)


def enrollments_import(
    data: bytes,
    *,
    file: str,
    actor: User | None = None,
    keep_valid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Enrol members in plan versions; a known (member, version) updates payment date and amount."""
    table = tb.read_table(data, file=file, columns=ENROLLMENT_COLUMNS)
    df = table.df.with_columns(idnumber.normalize_series(table.df["id_number"]))
    table.df = df
    errors = tb.collect_errors(
        table,
        {
            "id_number": [
                tb.required("id_number"),
                idnumber.problems_expr("id_number", today=timezone.localdate()),
            ],
            "plan_code": [tb.required("plan_code")],
            "period_start": [tb.required("period_start"), tb.date_problem("period_start")],
            "paid_on": [tb.date_problem("paid_on")],
            "amount": [tb.amount_problem("amount")],
        },
    )
    versions = {
        (code, start.isoformat()): (vid, payer)
        for vid, code, start, payer in PlanVersion.objects.values_list(
            "id", "plan__code", "period_start", "payer"
        )
    }
    v = vault()
    df = df.with_columns(
        pl.Series("id_hash", [v.lookup_hash(i) if i else "" for i in df["id_number"].to_list()])
    )
    members = lookup_many(
        Member._meta.db_table, "id_hash", ["id", "unit_id"], df["id_hash"].to_list()
    )
    rows = _enrolment_rows(table, df, errors, versions=versions, members=members)
    report = ImportReport(file=file, rows=df.height, errors=sorted(set(errors)))
    if report.errors and not keep_valid:
        raise tb.TableError(report.errors)
    report.skipped = df.height - len(rows)
    with transaction.atomic():
        _write_enrolments(rows, report)
        audit_record(
            actor=actor,
            action=Action.ENROLLMENTS_IMPORT,
            object_type="file",
            object_id=file[:64],
            rows=report.rows,
            created=report.created,
            updated=report.updated,
        )
    return report


EnrolmentRow = tuple[
    int, int, int, str | None, str, str
]  # member, unit, version, paid, amount, payer


def _enrolment_rows(
    table: tb.Table,
    df: pl.DataFrame,
    errors: list[tb.RowError],
    *,
    versions: dict[tuple[str, str], tuple[int, str]],
    members: dict[str, Any],
) -> list[EnrolmentRow]:
    """The rows to store; adds to `errors` an unknown version or member, or an enrolment given
    twice."""
    file = table.file
    bad = {e.row for e in errors}
    seen: dict[tuple[int, int], int] = {}
    rows: list[EnrolmentRow] = []
    for row, h, code, start, paid_on, amount in df.select(
        tb.ROW, "id_hash", "plan_code", "period_start", "paid_on", "amount"
    ).iter_rows():
        if row in bad:
            continue
        version = versions.get((code, start))
        if version is None:
            errors.append(
                tb.RowError(
                    row,
                    table.header_of("period_start"),
                    _("计划 %(code)s 没有从 %(start)s 开始的版本") % {"code": code, "start": start},
                    file,
                )
            )
            continue
        member = members.get(h)
        if member is None:
            errors.append(
                tb.RowError(row, table.header_of("id_number"), _("不是已登记的会员"), file)
            )
            continue
        key = (member[0], version[0])
        if key in seen:
            errors.append(
                tb.RowError(
                    row,
                    table.header_of("id_number"),
                    _("在 %(code)s %(start)s 中重复参保（首次出现在第 %(row)s 行）")
                    % {"code": code, "start": start, "row": seen[key]},
                    file,
                )
            )
            continue
        seen[key] = row
        rows.append((member[0], member[1], version[0], paid_on, amount or "0.00", version[1]))
    return rows


def _write_enrolments(rows: list[EnrolmentRow], report: ImportReport) -> None:
    """New enrolments inserted, changed ones updated, in bulk; counted in `report`."""
    existing = (
        {
            (m, ver): (eid, paid, str(amt))
            for eid, m, ver, paid, amt in Enrollment.objects.filter(
                member_id__in=list({r[0] for r in rows})
            ).values_list("id", "member_id", "version_id", "paid_on", "amount")
        }
        if len(rows) < 50_000
        else {
            (m, ver): (eid, paid, str(amt))
            for eid, m, ver, paid, amt in Enrollment.objects.values_list(
                "id", "member_id", "version_id", "paid_on", "amount"
            )
        }
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    new, changed = [], []
    for member_id, unit_id, version_id, paid_on, amount, payer in rows:
        old = existing.get((member_id, version_id))
        if old is None:
            new.append((member_id, unit_id, version_id, paid_on, amount, payer, now))
        elif (old[1].isoformat() if old[1] else None, old[2]) != (paid_on, amount):
            changed.append((paid_on, amount, old[0]))
        else:
            report.unchanged += 1
    report.created = bulk_insert(
        Enrollment._meta.db_table,
        ["member_id", "unit_id", "version_id", "paid_on", "amount", "payer", "created_at"],
        new,
    )
    report.updated = bulk_update(Enrollment._meta.db_table, "id", ["paid_on", "amount"], changed)


def contribution_statement(unit_id: int, year: int) -> list[dict[str, Any]]:
    """Contributions per plan version paid for a unit's members in a year."""
    from django.db.models import Count

    from huzhu.core.aggregates import MoneySum

    rows = (
        Enrollment.objects.filter(unit_id=unit_id, version__period_start__year=year)
        .values("version__plan__code", "version__period_start", "payer")
        .annotate(members=Count("id"), total=MoneySum("amount"))
        .order_by("version__plan__code")
    )
    return [dict(r) for r in rows]
