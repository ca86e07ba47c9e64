"""Excel exports of the statistics: Chinese headers, a frozen header row, real numbers with
number formats (money '#,##0.00'), so that the sheets add up in Excel. Cells are written by
core.sheets: a unit or activity named like a formula is text."""

from __future__ import annotations

from huzhu.core.sheets import SheetColumn, xlsx_bytes
from huzhu.reports.selectors import COUNT, MONEY, PERCENT, Report

FORMATS = {MONEY: "#,##0.00", COUNT: "#,##0", PERCENT: "0.00%"}


def report_xlsx(report: Report) -> bytes:
    columns = []
    for index, column in enumerate(report.columns):
        width = max([len(str(column.label)) * 2] + [len(str(r[index])) for r in report.rows])
        columns.append(
            SheetColumn(
                str(column.label),
                number_format=FORMATS.get(column.kind),
                width=min(max(10, width + 2), 60),
            )
        )
    return xlsx_bytes(
        columns, report.rows, title=str(report.title), bold_header=True, freeze_header=True
    )
