"""Excel exports of the statistics: Chinese headers, a frozen header row, real numbers with
number formats (money '#,##0.00'), so that the sheets add up in Excel."""

from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from huzhu.reports.selectors import COUNT, MONEY, PERCENT, Report

FORMATS = {MONEY: "#,##0.00", COUNT: "#,##0", PERCENT: "0.00%"}


def report_xlsx(report: Report) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = str(report.title)[:31]
    ws.append([str(c.label) for c in report.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in report.rows:
        ws.append(list(row))
    for index, column in enumerate(report.columns, start=1):
        letter = get_column_letter(index)
        fmt = FORMATS.get(column.kind)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = fmt
        width = max([len(str(column.label)) * 2] + [len(str(r[index - 1])) for r in report.rows])
        ws.column_dimensions[letter].width = min(max(10, width + 2), 60)
    ws.freeze_panes = "A2"
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
