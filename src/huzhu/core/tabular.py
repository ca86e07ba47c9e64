"""Reading the tables people upload (CSV in UTF-8, UTF-8 with BOM or GB18030; `.xlsx`) as columns.

Every upload becomes a Polars DataFrame of strings with canonical column names and a `_row`
column holding the row number as a spreadsheet shows it (the header is row 1). Validation is a set
of column expressions, each giving null or a reason per row, so a million rows are checked at once
and every bad cell is reported with its file, row and column.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from django.utils.translation import gettext as _

from huzhu.core import bounds

ROW = "_row"
MAX_COLUMNS = 200


def max_rows() -> int:
    """The most data rows one upload may hold (`HUZHU_MAX_ROWS`, default 5,000,000)."""
    import os

    return int(os.environ.get("HUZHU_MAX_ROWS", 5_000_000))


@dataclass(frozen=True, order=True)
class RowError:
    """One bad cell (or a whole-file problem, with row 1 for the header or 0 for the file)."""

    row: int
    column: str
    reason: str
    file: str = field(default="", compare=False)

    def __str__(self) -> str:
        values = {"file": self.file, "row": self.row, "column": self.column, "reason": self.reason}
        if self.row == 0:  # the file as a whole
            return _("%(file)s：%(reason)s") % values if self.file else self.reason
        if self.file and self.column:
            return _("%(file)s：第 %(row)s 行：%(column)s 列：%(reason)s") % values
        if self.file:
            return _("%(file)s：第 %(row)s 行：%(reason)s") % values
        if self.column:
            return _("第 %(row)s 行：%(column)s 列：%(reason)s") % values
        return _("第 %(row)s 行：%(reason)s") % values

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "row": self.row, "column": self.column, "reason": self.reason}


class TableError(Exception):
    """The file as a whole cannot be read, or some rows are bad; `errors` lists every problem."""

    def __init__(self, errors: Sequence[RowError]):
        self.errors = sorted(errors)
        super().__init__(
            "\n".join(str(e) for e in self.errors[:20])
            + (
                "\n" + _("…… 另有 %(n)s 处") % {"n": len(self.errors) - 20}
                if len(self.errors) > 20
                else ""
            )
        )


@dataclass(frozen=True)
class Column:
    """A column of a file format: its canonical (English) name and Chinese header."""

    name: str
    zh: str
    required: bool = False


@dataclass
class Table:
    """An uploaded table: all cells as stripped strings (null when empty), canonical names."""

    file: str
    df: pl.DataFrame
    headers: dict[str, str]  # canonical name -> the header as written in the file

    def header_of(self, name: str) -> str:
        return self.headers.get(name, name)

    def __len__(self) -> int:
        return self.df.height


def _norm_header(h: object) -> str:
    return re.sub(r"\s+", "", str(h or "")).lstrip("\ufeff").casefold()


def decode_csv_bytes(data: bytes, file: str) -> str:
    """UTF-8 (with or without BOM), else GB18030 as Excel writes it; else a clear error."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            line = data[: utf8_error.start].count(b"\n") + 1
            raise TableError(
                [RowError(line, "", _("文件既不是 UTF-8 也不是 GB18030 编码的文本"), file)]
            ) from None


# A number format that pads with zeros: `00000000` shows 12345 as 00012345 (a card number, a
# unit code typed as a number). Colour and locale tags (`[Red]`, `[$-804]`) and leading `#`s
# show no zeros; the zeros counted are the digits shown.
_ZERO_PADDED = re.compile(r"(?:\[[^\]]*\])*#*(0+)")


def _padded(value: int | float, number_format: str | None) -> str | None:
    """An integer as a zero-padded format shows it (at least two zeros), else None. Only whole
    numbers: a fraction shown rounded would change an amount, so it is read as it is."""
    if not number_format or (isinstance(value, float) and not value.is_integer()):
        return None
    match = _ZERO_PADDED.fullmatch(number_format.split(";", 1)[0].strip())
    if match is None or len(match.group(1)) < 2 or abs(value) >= 1e15:
        return None
    whole = int(value)
    return ("-" if whole < 0 else "") + str(abs(whole)).zfill(len(match.group(1)))


def _cell_text(value: object, number_format: str | None = None) -> str | None:
    """A cell's value as text, as Excel shows it where that matters: zero-padded numbers keep
    their zeros, whole numbers have no `.0`, and a date cell is its date (a time of day in it,
    as Excel keeps for a date typed with one, is dropped)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float) and (shown := _padded(value, number_format)) is not None:
        return shown
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    text = str(value).strip()
    return text or None


# An .xlsx is a zip, checked before anything unpacks it: once a 300 KB file unpacked to 3 GB in a
# worker. Its parts' declared sizes are what zipfile unpacks at most (a part that unpacks to more
# fails its CRC check), so they bound the work.
_ZIP_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
# The directory of a workbook's parts is a few KB; zipfile makes an object per entry, so a
# directory of millions of empty entries would fill memory before any size could be checked.
MAX_ZIP_DIRECTORY = 1024 * 1024
# Parts smaller than this unpacked are not held to the ratio: they cannot hurt, and small
# repetitive parts compress well.
RATIO_FROM_BYTES = 1024 * 1024


def _zip_directory_size(data: bytes) -> int | None:
    """The size of the zip's central directory as zipfile finds it (the end record, or the
    ZIP64 end record before its locator); None without an end record (zipfile then refuses)."""
    end = len(data) - 22
    if not (end >= 0 and data[end : end + 4] == _ZIP_END and data[-2:] == b"\x00\x00"):
        end = data.rfind(_ZIP_END, max(0, len(data) - 22 - 0xFFFF))
        if end < 0 or len(data) < end + 22:
            return None
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    locator = end - 20
    if locator >= 56 and data[locator : locator + 4] == _ZIP64_LOCATOR:
        record = locator - 56
        if data[record : record + 4] == _ZIP64_END:
            size = int.from_bytes(data[record + 40 : record + 48], "little")
    return size


# What a damaged or hostile workbook raises while it is opened or read: a part that fails its CRC
# check or is missing, XML that is not well-formed or expands too far (ParseError is a
# SyntaxError).
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    KeyError,
    IndexError,
    OSError,
    EOFError,
    ValueError,
    SyntaxError,
)


def _unreadable(exc: BaseException, file: str) -> TableError:
    reason = _("不是可读取的 .xlsx 工作簿（%(error)s）") % {"error": exc}
    return TableError([RowError(0, "", reason, file)])


def xlsx_check(data: bytes, file: str) -> None:
    """Refuse a workbook whose parts would unpack to more than HUZHU_XLSX_MAX_BYTES together, or
    with a part that unpacks to more than HUZHU_XLSX_MAX_RATIO times its packed size (a zip
    bomb), before anything unpacks it: TableError naming the file."""
    from django.conf import settings

    directory = _zip_directory_size(data)
    if directory is not None and directory > MAX_ZIP_DIRECTORY:
        raise TableError(
            [
                RowError(
                    0,
                    "",
                    _("%(file)s 被拒收：其部件清单占 %(size)s 字节（最多 %(max)s）")
                    % {"file": file, "size": f"{directory:,}", "max": f"{MAX_ZIP_DIRECTORY:,}"},
                    file,
                )
            ]
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except _UNREADABLE as exc:
        raise _unreadable(exc, file) from None
    max_bytes, max_ratio = settings.HUZHU_XLSX_MAX_BYTES, settings.HUZHU_XLSX_MAX_RATIO
    errors: list[RowError] = []
    for part in parts:
        if part.file_size > RATIO_FROM_BYTES and part.file_size > max_ratio * part.compress_size:
            ratio = part.file_size // max(1, part.compress_size)
            errors.append(
                RowError(
                    0,
                    "",
                    _(
                        "%(file)s 疑为压缩炸弹，被拒收：其部件 %(part)s 解压后是压缩大小的 "
                        "%(ratio)s 倍（最多 %(max)s 倍）"
                    )
                    % {
                        "file": file,
                        "part": part.filename[:100],
                        "ratio": f"{ratio:,}",
                        "max": f"{max_ratio:,}",
                    },
                    file,
                )
            )
    total = sum(part.file_size for part in parts)
    if total > max_bytes:
        errors.append(
            RowError(
                0,
                "",
                _("%(file)s 被拒收：解压后将有 %(size)s 字节（最多 %(max)s）")
                % {"file": file, "size": f"{total:,}", "max": f"{max_bytes:,}"},
                file,
            )
        )
    if errors:
        raise TableError(errors)


def _read_xlsx(data: bytes, file: str) -> tuple[list[str], list[list[str | None]]]:
    import openpyxl

    xlsx_check(data, file)
    try:
        # Read-only: rows are parsed as they are read, never the whole sheet at once.
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except _UNREADABLE as exc:
        raise _unreadable(exc, file) from None
    try:
        return _xlsx_rows(book.worksheets[0], file)
    except _UNREADABLE as exc:
        raise _unreadable(exc, file) from None
    finally:
        book.close()


def _number_format(cell: Any) -> str | None:
    try:
        return str(cell.number_format)
    except IndexError:  # a style the workbook lacks: Excel shows the number as General
        return None


def _xlsx_rows(sheet: Any, file: str) -> tuple[list[str], list[list[str | None]]]:
    declared = sheet.max_column or 0
    if declared > MAX_COLUMNS:
        raise TableError([RowError(1, "", _too_many_columns(declared), file)])
    rows = sheet.iter_rows(max_col=MAX_COLUMNS + 1)
    try:
        header_cells = tuple(c.value for c in next(rows))
    except StopIteration:
        raise TableError([RowError(1, "", _("第一个工作表是空的"), file)]) from None
    # iter_rows pads to max_col; the header ends at its last filled cell.
    while header_cells and header_cells[-1] is None:
        header_cells = header_cells[:-1]
    if len(header_cells) > MAX_COLUMNS:
        raise TableError([RowError(1, "", _too_many_columns(len(header_cells)), file)])
    width = len(header_cells)
    headers = [str(h).strip() if h is not None else "" for h in header_cells]
    body: list[list[str | None]] = []
    limit = max_rows()
    for number, cells in enumerate(rows, start=2):
        if number - 1 > limit:
            raise TableError([RowError(number, "", _too_many_rows(limit), file)])
        texts: list[str | None] = []
        for col, cell in enumerate(cells[:width]):
            value = cell.value
            if isinstance(value, str) and value.strip().startswith("="):
                raise TableError([RowError(number, headers[col], _("不接受公式"), file)])
            number_format = _number_format(cell) if isinstance(value, int | float) else None
            texts.append(_cell_text(value, number_format))
        texts.extend([None] * (width - len(texts)))
        body.append(texts)
    return headers, body


def _read_csv(data: bytes, file: str) -> pl.DataFrame:
    text = decode_csv_bytes(data, file)
    first_line = text.split("\n", 1)[0]
    if first_line.count(",") + 1 > MAX_COLUMNS:
        reason = _("列数过多（超过 %(max)s 列）") % {"max": MAX_COLUMNS}
        raise TableError([RowError(1, "", reason, file)])
    try:
        return pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            infer_schema=False,
            has_header=True,
            raise_if_empty=True,
        )
    except pl.exceptions.NoDataError:
        raise TableError([RowError(1, "", _("文件是空的"), file)]) from None
    except (pl.exceptions.ComputeError, pl.exceptions.PolarsError) as exc:
        message = str(exc).splitlines()[0]
        reason = _("不是可读取的 CSV 文件：%(error)s") % {"error": message}
        raise TableError([RowError(0, "", reason, file)]) from None


def _too_many_columns(n: int) -> str:
    return _("列数过多（%(n)s > %(max)s）") % {"n": n, "max": MAX_COLUMNS}


def _too_many_rows(limit: int) -> str:
    return _("超过 %(max)s 行") % {"max": f"{limit:,}"}


def read_table(
    data: bytes,
    *,
    file: str,
    columns: Sequence[Column],
) -> Table:
    """Read `data` (named `file`, whose suffix picks the format) against a file format.

    Headers match case-insensitively in English or Chinese; unknown columns are ignored. Missing
    required columns, duplicate columns and unreadable files raise TableError.
    """
    suffix = Path(file).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        headers, body = _read_xlsx(data, file)
        raw = pl.DataFrame(
            {f"c{i}": [row[i] for row in body] for i in range(len(headers))},
            schema={f"c{i}": pl.String for i in range(len(headers))},
        )
        raw.columns = [f"c{i}" for i in range(len(headers))]
        file_headers = headers
    elif suffix in (".csv", ".txt", ""):
        raw = _read_csv(data, file)
        file_headers = list(raw.columns)
        raw.columns = [f"c{i}" for i in range(len(file_headers))]
    else:
        reason = _("不支持的文件类型 %(suffix)s（请用 .csv 或 .xlsx）") % {"suffix": repr(suffix)}
        raise TableError([RowError(0, "", reason, file)])

    if raw.height > max_rows():
        raise TableError([RowError(max_rows() + 2, "", _too_many_rows(max_rows()), file)])
    lookup: dict[str, Column] = {}
    for col in columns:
        lookup[_norm_header(col.name)] = col
        lookup[_norm_header(col.zh)] = col
    errors: list[RowError] = []
    chosen: dict[str, str] = {}  # canonical -> internal column
    headers_written: dict[str, str] = {}
    for i, header in enumerate(file_headers):
        found = lookup.get(_norm_header(header))
        if found is None:
            continue
        col = found
        if col.name in chosen:
            errors.append(
                RowError(
                    1,
                    header,
                    _("列重复（另有 %(other)s）") % {"other": headers_written[col.name]},
                    file,
                )
            )
            continue
        chosen[col.name] = f"c{i}"
        headers_written[col.name] = header
    for col in columns:
        if col.required and col.name not in chosen:
            errors.append(
                RowError(
                    1,
                    col.name,
                    _("缺少必需的列（%(name)s / %(zh)s）") % {"name": col.name, "zh": col.zh},
                    file,
                )
            )
    if errors:
        raise TableError(errors)

    exprs = [
        pl.col(internal).str.strip_chars().replace("", None).alias(name)
        for name, internal in chosen.items()
    ]
    exprs += [pl.lit(None, dtype=pl.String).alias(c.name) for c in columns if c.name not in chosen]
    df = raw.with_row_index(ROW, offset=2).select([pl.col(ROW).cast(pl.Int64), *exprs])
    # Rows with no cell filled in (trailing blank lines of a spreadsheet) are not data.
    names = [c.name for c in columns]
    df = df.filter(pl.any_horizontal([pl.col(n).is_not_null() for n in names]))
    return Table(file=file, df=df, headers=headers_written)


# -- column checks: each returns an expression giving null (fine) or a reason per row -------------
# ASCII digits only ([0-9], never \d: in Polars' regex \d is every script's digits), and the
# bounds of core.bounds: amounts at most 99,999,999.99 (8 digits before the point), dates from
# 1900-01-01 to 2099-12-31.

AMOUNT_RE = "^-?" + bounds.MONEY_PATTERN.removeprefix("^")  # -?[0-9]{1,8}(\.[0-9]{1,2})?
_ANY_AMOUNT_RE = r"^-?[0-9]+(\.[0-9]{1,2})?$"  # the shape of an amount, of any size
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def required(name: str) -> pl.Expr:
    return pl.when(pl.col(name).is_null()).then(pl.lit(_("必填"))).otherwise(None)


def cell_reason(template: str) -> str:
    """A translated reason with one `%(value)s` (the cell's text) made a `pl.format` template."""
    return template % {"value": "{}"}


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def reason_expr(template: str, **values: pl.Expr) -> pl.Expr:
    """A translated reason whose `%(name)s` placeholders are filled, per row, by `values`, in
    whatever order the translation puts them."""
    names = _PLACEHOLDER.findall(template)
    return pl.format(_PLACEHOLDER.sub("{}", template), *(values[n] for n in names))


def _parsed_date(name: str) -> pl.Expr:
    c = pl.col(name)
    return pl.when(c.str.contains(DATE_RE)).then(c.str.strptime(pl.Date, "%Y-%m-%d", strict=False))


def date_problem(name: str) -> pl.Expr:
    c = pl.col(name)
    parsed = _parsed_date(name)
    return (
        pl.when(c.is_null())
        .then(None)
        .when(parsed.is_null())
        .then(pl.format(cell_reason(_("不是日期（YYYY-MM-DD）：%(value)s")), c))
        .when((parsed < pl.lit(bounds.MIN_DATE)) | (parsed > pl.lit(bounds.MAX_DATE)))
        .then(pl.format(bounds.between(bounds.MIN_DATE, bounds.MAX_DATE, "{}"), c))
        .otherwise(None)
    )


def amount_problem(name: str, *, allow_negative: bool = False) -> pl.Expr:
    c = pl.col(name)
    expr = (
        pl.when(c.is_null())
        .then(None)
        .when(~c.str.contains(_ANY_AMOUNT_RE))
        .then(pl.format(cell_reason(_("不是金额（元，最多两位小数）：%(value)s")), c))
    )
    if not allow_negative:
        negative = cell_reason(_("不能为负数：%(value)s"))
        expr = expr.when(c.str.starts_with("-")).then(pl.format(negative, c))
    too_large = _("不能超过 %(max)s：%(value)s") % {"max": bounds.MAX_MONEY, "value": "{}"}
    expr = expr.when(~c.str.contains(AMOUNT_RE)).then(pl.format(too_large, c))
    return expr.otherwise(None)


def as_date(name: str) -> pl.Expr:
    """`YYYY-MM-DD` text within bounds → Date; null for anything date_problem refuses."""
    parsed = _parsed_date(name)
    return pl.when((parsed >= pl.lit(bounds.MIN_DATE)) & (parsed <= pl.lit(bounds.MAX_DATE))).then(
        parsed
    )


def as_fen(name: str) -> pl.Expr:
    """Yuan text with at most two decimals → integer fen (exact; no float on the way). Null for
    anything amount_problem refuses (with or without a sign), so no value overflows: at most
    9,999,999,999 fen."""
    c = pl.col(name)
    neg = c.str.starts_with("-")
    body = pl.when(c.str.contains(AMOUNT_RE)).then(c.str.strip_chars_start("-"))
    whole = body.str.split(".").list.get(0, null_on_oob=True).cast(pl.Int64, strict=False)
    frac = (
        body.str.split(".")
        .list.get(1, null_on_oob=True)
        .fill_null("")
        .str.pad_end(2, "0")
        .str.slice(0, 2)
        .cast(pl.Int64, strict=False)
    )
    fen = whole * 100 + frac
    return pl.when(neg).then(-fen).otherwise(fen)


def collect_errors(table: Table, checks: Mapping[str, Iterable[pl.Expr]]) -> list[RowError]:
    """Evaluate every check at once; return one RowError per bad cell, in row order."""
    exprs: list[pl.Expr] = []
    labels: list[str] = []
    for column, column_checks in checks.items():
        for i, expr in enumerate(column_checks):
            label = f"{column}\x1f{i}"
            exprs.append(expr.alias(label))
            labels.append(label)
    if not exprs or table.df.height == 0:
        return []
    found = table.df.select(pl.col(ROW), *exprs)
    errors: list[RowError] = []
    seen: set[tuple[int, str]] = set()
    # Checks run in the order given; the first failing check of a cell is its reason.
    for label in labels:
        column = label.split("\x1f", 1)[0]
        bad = found.filter(pl.col(label).is_not_null()).select(ROW, label)
        header = table.header_of(column)
        for row, reason in bad.iter_rows():
            if (row, header) not in seen:
                seen.add((row, header))
                errors.append(RowError(row, header, reason, table.file))
    errors.sort()
    return errors
