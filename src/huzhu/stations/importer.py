"""`huzhu import stations FILE`: stations from CSV or .xlsx, validated as a whole first.

Same contract as the rosters (members/roster.py): every bad cell is reported with file, row,
column and reason; nothing is written unless every row is good or the caller keeps the valid
rows. A known `code` updates its station. Coordinates are GCJ-02 unless the `crs` column says
`wgs84`, because stations are placed by picking them on a Chinese map.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import polars as pl
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.core import bounds
from huzhu.core import tabular as tb
from huzhu.core.bulk import bulk_insert, bulk_update
from huzhu.core.errors import Forbidden
from huzhu.members import rules as member_rules
from huzhu.members.models import Organisation
from huzhu.members.roster import ImportReport, outside_reason
from huzhu.stations import geo, rules
from huzhu.stations.hours import parse_hours, parse_week
from huzhu.stations.models import SERVICE_FIELDS, Station
from huzhu.stations.selectors import STATION_ADMIN_ROLES

STATION_COLUMNS = (
    tb.Column("code", "驿站编码", required=True),
    tb.Column("name", "驿站名称", required=True),
    tb.Column("org_code", "所属工会编码", required=True),
    tb.Column("address", "地址", required=True),
    tb.Column("lat", "纬度", required=True),
    tb.Column("lng", "经度", required=True),
    tb.Column("crs", "坐标系"),
    tb.Column("hours", "开放时间", required=True),
    tb.Column("hours_exceptions", "例外日期"),
    tb.Column("services", "服务项目"),
    tb.Column("host", "承办单位"),
    tb.Column("district", "所属区"),
    tb.Column("capacity", "容纳人数"),
    tb.Column("contact_name", "联系人"),
    tb.Column("contact_phone", "联系电话"),
    tb.Column("status", "状态"),
)

_STATUS_WORDS = {
    "active": "active",
    "正常": "active",
    "开放": "active",
    "正常开放": "active",
    "suspended": "suspended",
    "暂停": "suspended",
    "暂停服务": "suspended",
    "closed": "closed",
    "撤销": "closed",
    "已撤销": "closed",
    "关闭": "closed",
}
_CRS_WORDS = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "火星坐标": "gcj02",
    "高德": "gcj02",
}

# Stored columns written by the import, in this order (the key `code` first).
_FIELDS = (
    "code",
    "name",
    "host",
    "org_id",
    "address",
    "district",
    *SERVICE_FIELDS,
)

Progress = Callable[[str, int], None]


def _number_problem(name: str, low: float, high: float) -> pl.Expr:
    c = pl.col(name)
    value = c.cast(pl.Float64, strict=False)
    return (
        pl.when(c.is_null())
        .then(None)
        .when(value.is_null() | value.is_nan())
        .then(pl.format(tb.cell_reason(_("不是数字：%(value)s")), c))
        .when((value < low) | (value > high))
        .then(
            pl.format(
                _("超出范围 %(low)s…%(high)s：%(value)s")
                % {"low": low, "high": high, "value": "{}"},
                c,
            )
        )
        .otherwise(None)
    )


def _capacity_problem() -> pl.Expr:
    """How many people a station takes: empty, or a whole number up to MAX_QUOTA."""
    return (
        pl.when(pl.col("capacity").is_null())
        .then(None)
        .when(~pl.col("capacity").str.contains(r"^[0-9]+$"))
        .then(pl.format(tb.cell_reason(_("人数不是整数：%(value)s")), pl.col("capacity")))
        .when(
            (pl.col("capacity").str.len_chars() > 7)
            | (pl.col("capacity").cast(pl.Int64, strict=False) > bounds.MAX_QUOTA)
        )
        .then(
            pl.format(
                _("最多 %(max)s 人：%(value)s") % {"max": f"{bounds.MAX_QUOTA:,}", "value": "{}"},
                pl.col("capacity"),
            )
        )
        .otherwise(None)
    )


def _checks(df: pl.DataFrame) -> dict[str, list[pl.Expr]]:
    first_row = pl.col(tb.ROW).first().over("code")
    text_limit = [
        (name, limit)
        for name, limit in (
            ("name", 200),
            ("address", 300),
            ("host", 200),
            ("district", 50),
            ("contact_name", 100),
            ("contact_phone", 30),
        )
    ]
    checks: dict[str, list[pl.Expr]] = {
        "code": [
            tb.required("code"),
            pl.when(~pl.col("code").str.contains(member_rules.CODE_PATTERN))
            .then(
                pl.format(
                    _("编码只能由字母、数字和 . _ - 组成：%(code)s") % {"code": "{}"},
                    pl.col("code"),
                )
            )
            .otherwise(None),
            pl.when(pl.col(tb.ROW) != first_row)
            .then(
                pl.format(
                    _("%(label)s 重复（首次出现在第 %(row)s 行）") % {"label": "code", "row": "{}"},
                    first_row,
                )
            )
            .otherwise(None),
        ],
        "name": [tb.required("name")],
        "org_code": [tb.required("org_code")],
        "address": [tb.required("address")],
        "lat": [tb.required("lat"), _number_problem("lat", -90.0, 90.0)],
        "lng": [tb.required("lng"), _number_problem("lng", -180.0, 180.0)],
        "hours": [tb.required("hours")],
        "crs": [
            pl.when(pl.col("crs").is_not_null() & ~pl.col("crs").is_in(list(_CRS_WORDS)))
            .then(
                pl.format(tb.cell_reason(_("crs 只能是 wgs84 或 gcj02：%(value)s")), pl.col("crs"))
            )
            .otherwise(None)
        ],
        "status": [
            pl.when(pl.col("status").is_not_null() & ~pl.col("status").is_in(list(_STATUS_WORDS)))
            .then(
                pl.format(
                    tb.cell_reason(_("status 只能是 active、suspended 或 closed：%(value)s")),
                    pl.col("status"),
                )
            )
            .otherwise(None)
        ],
        "capacity": [_capacity_problem()],
    }
    for name, limit in text_limit:
        checks.setdefault(name, []).append(
            pl.when(pl.col(name).str.len_chars() > limit)
            .then(pl.lit(_("超过 %(n)s 个字符") % {"n": limit}))
            .otherwise(None)
        )
    return checks


def _orgs_and_stations(
    df: pl.DataFrame,
) -> tuple[dict[str, Organisation], dict[str, dict[str, Any]]]:
    """The organisations the rows name, and the stations already stored under their codes."""
    orgs = {
        o.code: o
        for o in Organisation.objects.filter(
            code__in=df["org_code"].drop_nulls().unique().to_list()
        )
    }
    known = {
        s["code"]: s
        for s in Station.objects.filter(code__in=df["code"].drop_nulls().unique().to_list()).values(
            "id", "org__path", *_FIELDS
        )
    }
    return orgs, known


def _row_values(
    r: dict[str, Any],
    *,
    refuse: Callable[[str, str], None],
    orgs: dict[str, Organisation],
    scope: str,
    existing: dict[str, Any] | None,
    bad: Callable[[], bool],
) -> tuple[Any, ...] | None:
    """One row's station as stored (`_FIELDS`), or None after refusing what is wrong with it:
    an organisation unknown or outside the importer's, a station of another organisation,
    opening hours or services that do not parse. `bad` says whether the row has been refused
    (by this or by the checks of its cells)."""
    org = orgs.get(r["org_code"] or "")
    if r["org_code"] and org is None:
        refuse("org_code", _("未知的组织 %(code)s") % {"code": r["org_code"]})
    elif org is not None and not in_subtree(org.path, scope):
        refuse("org_code", outside_reason(org.code))
    if existing is not None and not in_subtree(existing["org__path"], scope):
        refuse("code", _("驿站 %(code)s 属于您组织范围以外的组织") % {"code": r["code"]})
    hours = None
    try:
        parse_week(r["hours"] or "")
        try:
            hours = parse_hours(r["hours"] or "", r["hours_exceptions"] or "")
        except ValueError as exc:
            refuse("hours_exceptions", str(exc))
    except ValueError as exc:
        refuse("hours", str(exc))
    try:
        services = rules.parse_services(r["services"] or "")
    except ValueError as exc:
        refuse("services", str(exc))
        services = 0
    if org is None or hours is None or bad():
        return None
    lat, lng = geo.to_wgs84(float(r["lat"]), float(r["lng"]), _CRS_WORDS[r["crs"] or "gcj02"])
    return (
        r["code"],
        r["name"],
        r["host"] or "",
        org.pk,
        r["address"],
        r["district"] or "",
        lat,
        lng,
        hours.weekly_text,
        hours.exceptions_text,
        services,
        int(r["capacity"]) if r["capacity"] else None,
        r["contact_name"] or "",
        r["contact_phone"] or "",
        _STATUS_WORDS[r["status"] or "active"],
    )


def stations_import(
    data: bytes,
    *,
    file: str,
    actor: User | None = None,
    keep_valid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import stations. Every row's organisation must be in the actor's subtree, and so must
    the station a known code points at."""
    say = progress or (lambda _stage, _n: None)
    if actor is not None and actor.role not in STATION_ADMIN_ROLES:
        raise Forbidden("forbidden", _("您的角色不能导入驿站"))
    scope = "/" if actor is None else staff_scope_path(actor)
    table = tb.read_table(data, file=file, columns=STATION_COLUMNS)
    df = table.df.with_columns(
        pl.col("crs").str.to_lowercase().str.replace_all(r"\s", ""),
        pl.col("status").str.to_lowercase(),
    )
    table.df = df
    say("read", df.height)
    errors = tb.collect_errors(table, _checks(df))
    bad_cells = {(e.row, e.column) for e in errors}
    bad_rows = {e.row for e in errors}

    def refuse(row: int, column: str, reason: str) -> None:
        header = table.header_of(column)
        if (row, header) not in bad_cells:
            errors.append(tb.RowError(row, header, reason, file))
            bad_cells.add((row, header))
            bad_rows.add(row)

    orgs, known = _orgs_and_stations(df)
    now = timezone.now()
    new_rows: list[tuple[Any, ...]] = []
    changed_rows: list[tuple[Any, ...]] = []
    unchanged = 0
    for r in df.iter_rows(named=True):
        row = int(r[tb.ROW])
        existing = known.get(r["code"] or "")
        values = _row_values(
            r,
            refuse=functools.partial(refuse, row),
            orgs=orgs,
            scope=scope,
            existing=existing,
            bad=lambda row=row: row in bad_rows,  # type: ignore[misc]
        )
        if values is None:
            continue
        if existing is None:
            new_rows.append((*values, "", 1, now, now))
        elif tuple(existing[f] for f in _FIELDS) == values:
            unchanged += 1
        else:
            changed_rows.append((*values[1:], now, existing["id"]))

    report = ImportReport(file=file, rows=df.height, errors=sorted(set(errors)))
    if report.errors and not keep_valid:
        raise tb.TableError(report.errors)
    report.skipped = len({e.row for e in report.errors})
    say("validated", df.height - report.skipped)
    with transaction.atomic():
        _write(report, new_rows=new_rows, changed_rows=changed_rows)
        report.unchanged = unchanged
        report.audit(actor=actor, action=Action.STATIONS_IMPORT, scope=scope)
    say("written", report.created + report.updated)
    return report


def _write(
    report: ImportReport, *, new_rows: list[tuple[Any, ...]], changed_rows: list[tuple[Any, ...]]
) -> None:
    table = Station._meta.db_table
    columns = [*_FIELDS, "note", "qr_version", "created_at", "updated_at"]
    report.created = bulk_insert(table, columns, new_rows)
    report.updated = bulk_update(table, "id", [*_FIELDS[1:], "updated_at"], changed_rows)
