"""The one writer of cells for files people open in spreadsheet software (INTERFACES.md
"Exports never carry live formulas"): the roster (.xlsx or CSV), the payouts CSV, the bank file,
the statistics workbooks and the settlement job report all write through it.

Text that begins like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return, or the
full-width `＝＋－＠` that input methods type) is what someone who can name a unit or a member
would use to make a spreadsheet run something, e.g. `=HYPERLINK("http://…?x="&A2,"x")` or
`=cmd|' /C calc'!A0`. Such text is still written, but so that spreadsheet software shows it as
text: in .xlsx as a string cell (openpyxl would make any string starting with `=` a formula)
marked "quote prefix", as Excel marks text typed after an apostrophe; in CSV, where a cell has no
type, prefixed with `'`. Numbers stay numbers: a Decimal, an int, and a plain decimal string such
as `-100.00` in an amount column are data that no spreadsheet evaluates, and are written as they
are.

Written elsewhere, byte for byte: the backup archive's tables (a restore must give back the
stored values), the bulk `COPY` streams of core.bulk, and the synthetic data sets of `huzhu
generate` (files to import, made from huzhu's own lists of names, units and hospitals: no text
in them comes from anyone).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
# A number as an amount column holds it (ASCII digits only): no spreadsheet makes it a formula.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# What XML 1.0 cannot carry (control characters, U+FFFE, U+FFFF, lone surrogates): an .xlsx
# holding one cannot be opened at all.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Spreadsheet error values: openpyxl writes a string equal to one as an error cell.
_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))
_NATIVE = (bool, int, float, Decimal, dt.date, dt.datetime, dt.time, dt.timedelta)


def starts_like_formula(text: str) -> bool:
    """Whether spreadsheet software could take `text` for a formula (or a command)."""
    return bool(text) and text[0] in FORMULA_STARTS and _PLAIN_NUMBER.fullmatch(text) is None


# -- CSV ------------------------------------------------------------------------------------------


def csv_cell(value: object) -> object:
    """A value as a CSV cell: formula-like text prefixed with `'`, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if starts_like_formula(value) else value
    if isinstance(value, int | Decimal | float):  # bool too: csv writes True / False
        return value
    return csv_cell(str(value))  # dates, lazy translations and anything else: their text


class CsvWriter:
    """`csv.writer` with every cell through `csv_cell`."""

    def __init__(self, fh: IO[str], **fmtparams: Any):
        self._writer = csv.writer(fh, **fmtparams)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        self._writer.writerows([csv_cell(v) for v in row] for row in rows)


def csv_writer(fh: IO[str], **fmtparams: Any) -> CsvWriter:
    return CsvWriter(fh, **fmtparams)


def csv_text(header: Sequence[object], rows: Iterable[Iterable[object]], **fmtparams: Any) -> str:
    """A whole CSV table as text."""
    buf = io.StringIO()
    writer = csv_writer(buf, **fmtparams)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# -- .xlsx ----------------------------------------------------------------------------------------


def xlsx_text(text: str) -> str:
    """Text as an .xlsx cell keeps it: line ends as LF (XML reads a CR as one), and U+FFFD for
    each character XML 1.0 cannot carry."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class SheetColumn:
    """A column of a workbook: its header, the number format of its cells, its width."""

    header: str
    number_format: str | None = None
    width: float | None = None


def xlsx_bytes(
    columns: Sequence[str | SheetColumn],
    rows: Iterable[Sequence[object]],
    *,
    title: str | None = None,
    bold_header: bool = False,
    freeze_header: bool = False,
) -> bytes:
    """A workbook of one sheet: the header, then the rows. Text is always a string cell (never a
    formula or an error value); Decimal, int and float are numbers, dates are dates. Written in
    openpyxl's write-only mode (a row at a time) into memory."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    cols = [c if isinstance(c, SheetColumn) else SheetColumn(str(c)) for c in columns]
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=xlsx_text(title)[:31] if title else None)
    for index, col in enumerate(cols, start=1):
        if col.width is not None:
            sheet.column_dimensions[get_column_letter(index)].width = col.width
    if freeze_header:
        sheet.freeze_panes = "A2"

    def text_cell(value: str, *, bold: bool = False) -> object:
        text = xlsx_text(value)
        risky = starts_like_formula(value) or starts_like_formula(text) or text in _ERROR_CODES
        if not risky and not bold:
            return text  # openpyxl makes it a string cell itself
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"  # set after the value: assigning a value infers the type again
        if risky:
            cell.quotePrefix = True
        if bold:
            cell.font = Font(bold=True)
        return cell

    def value_cell(value: object, col: SheetColumn | None) -> object:
        if value is None:
            return None
        if isinstance(value, str):
            return text_cell(value)
        if not isinstance(value, _NATIVE):
            return text_cell(str(value))
        if col is not None and col.number_format and not isinstance(value, bool):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = col.number_format
            return cell
        return value

    sheet.append([text_cell(c.header, bold=bold_header) for c in cols])
    for row in rows:
        sheet.append([value_cell(v, cols[i] if i < len(cols) else None) for i, v in enumerate(row)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
