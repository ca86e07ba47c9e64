"""Uploaded workbooks: a zip bomb is refused before it is opened (a 300 KB .xlsx once grew a
worker from 320 MB to 3.35 GB), and cells are read as Excel shows them (INTERFACES.md "Files":
a number formatted `00000000` keeps its zeros, a date cell with a time of day is that date)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from huzhu.cli import main
from huzhu.core import tabular as tb
from huzhu.members.models import Card, Member
from huzhu.members.roster import members_import
from tests.conftest import new_id_number

HEADER = ["id_number", "name", "unit_code", "card_no", "joined_on"]


def workbook(*rows: list[Any], header: list[str] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def repacked(data: bytes, *, pad_sheet: int = 0, extra_parts: int = 0) -> bytes:
    """`data` with `pad_sheet` spaces in its sheet (valid XML, which unpacks a thousand times
    larger than it packs) and `extra_parts` empty parts added."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml" and pad_sheet:
                body = body.replace(b"<sheetData>", b"<sheetData>" + b" " * pad_sheet, 1)
            target.writestr(info.filename, body)
        for n in range(extra_parts):
            target.writestr(f"customXml/item{n}.xml", b"")
    return out.getvalue()


def damaged(data: bytes, edits: list[tuple[bytes, bytes]]) -> bytes:
    """`data` with each (old, new) replacement made once in its sheet."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                for old, new in edits:
                    assert old in body
                    body = body.replace(old, new, 1)
            target.writestr(info.filename, body)
    return out.getvalue()


@pytest.fixture
def bomb() -> bytes:
    """A roster of one good row that unpacks its sheet to 50 MB from about 50 KB."""
    return repacked(workbook([new_id_number(), "孙丽", "U1"]), pad_sheet=50_000_000)


def test_a_zip_bomb_is_refused_from_the_command_line_with_exit_2(
    tree, bomb, tmp_path, capsys, settings
):
    sheet = zipfile.ZipFile(io.BytesIO(bomb)).getinfo("xl/worksheets/sheet1.xml")
    assert len(bomb) < 200_000 and sheet.file_size > 1000 * sheet.compress_size
    path = tmp_path / "花名册.xlsx"
    path.write_bytes(bomb)
    assert main(["import", "members", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}：{path} 疑为压缩炸弹" in err and "xl/worksheets/sheet1.xml" in err
    assert not Member.objects.exists()
    # The bound is a setting: an operator who must take such files can.
    settings.HUZHU_XLSX_MAX_RATIO = 100_000
    assert main(["import", "members", str(path)]) == 0
    assert Member.objects.count() == 1


def test_a_zip_bomb_is_refused_by_the_api_naming_the_file(tree, bomb, xicheng_admin, api_as):
    r = api_as(xicheng_admin).upload("/imports/members", "roster.xlsx", bomb)
    assert r.status_code == 400
    (error,) = r.json()["error"]["details"]["errors"]
    assert (
        error["file"] == "roster.xlsx" and "roster.xlsx 疑为压缩炸弹，被拒收" in (error["reason"])
    )
    assert not Member.objects.exists()


def test_a_zip_bomb_is_refused_on_the_console_import_page(tree, bomb, xicheng_admin):
    client = Client()
    client.force_login(xicheng_admin)
    upload = SimpleUploadedFile("roster.xlsx", bomb)
    r = client.post("/console/import/members/", {"file": upload})
    assert r.status_code == 400
    html = r.content.decode()
    assert 'role="alert"' in html and "roster.xlsx 疑为压缩炸弹，被拒收" in html
    assert not Member.objects.exists()


def test_a_workbook_that_unpacks_to_more_than_the_setting_is_refused(tree, settings):
    rows = [[new_id_number(), f"会员{n}", "U1"] for n in range(300)]
    data = workbook(*rows)
    unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    settings.HUZHU_XLSX_MAX_BYTES = unpacked - 1
    with pytest.raises(tb.TableError) as refused:
        members_import(data, file="big.xlsx")
    (error,) = refused.value.errors
    assert error.file == "big.xlsx"
    assert error.reason == (
        f"big.xlsx 被拒收：解压后将有 {unpacked:,} 字节（最多 {unpacked - 1:,}）"
    )
    settings.HUZHU_XLSX_MAX_BYTES = unpacked
    assert members_import(data, file="big.xlsx").created == 300


def test_a_workbook_with_a_huge_list_of_parts_is_refused(tree):
    data = repacked(workbook([new_id_number(), "孙丽", "U1"]), extra_parts=25_000)
    with pytest.raises(tb.TableError) as refused:
        members_import(data, file="parts.xlsx")
    assert "parts.xlsx 被拒收：其部件清单占" in refused.value.errors[0].reason
    assert not Member.objects.exists()


def _laughs() -> bytes:
    """A billion laughs: ten entities, each ten of the one before (10^10 characters)."""
    entities = [b'<!ENTITY e0 "ha">']
    for n in range(1, 11):
        entities.append(b'<!ENTITY e%d "%s">' % (n, (b"&e%d;" % (n - 1)) * 10))
    return b"<!DOCTYPE worksheet [" + b"".join(entities) + b"]><worksheet"


@pytest.mark.parametrize(
    "damage",
    [
        [(b"</sheetData>", b"<row><c")],  # not well-formed
        [(b"<worksheet", _laughs()), (b'<c r="A1"', b'&e10;<c r="A1"')],
    ],
    ids=["not-well-formed", "billion-laughs"],
)
def test_a_damaged_workbook_is_a_400_naming_the_file_never_a_500(
    tree, xicheng_admin, api_as, damage
):
    data = damaged(workbook([new_id_number(), "孙丽", "U1", 12345]), damage)
    r = api_as(xicheng_admin).upload("/imports/members", "damaged.xlsx", data)
    assert r.status_code == 400, r.content
    (error,) = r.json()["error"]["details"]["errors"]
    assert error["file"] == "damaged.xlsx" and "不是可读取的 .xlsx 工作簿" in error["reason"]


def test_huzhus_own_exports_pass_the_checks(tree, make_member, tmp_path):
    from huzhu.members.roster_export import members_export

    for n in range(200):
        make_member(tree.u1, name=f"会员{n}")
    out = tmp_path / "roster.xlsx"
    members_export(out)
    tb.xlsx_check(out.read_bytes(), out.name)  # raises nothing


# -- cells as Excel shows them --------------------------------------------------------------------


def test_a_zero_padded_card_number_keeps_its_zeros_and_a_date_its_day(tree):
    first, second = new_id_number(), new_id_number()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append([first, "孙丽", "U1", 12345, dt.datetime(2019, 3, 8, 14, 30)])
    sheet.append([second, "周强", "U1", 54321])
    sheet["D2"].number_format = "00000000"  # Excel shows 00012345
    buf = io.BytesIO()
    book.save(buf)
    # The second card number names a style the workbook lacks: Excel shows it as General.
    data = damaged(buf.getvalue(), [(b'<c r="D3"', b'<c r="D3" s="9999"')])
    report = members_import(data, file="roster.xlsx")
    assert report.created == 2
    member = Member.objects.get(name="孙丽")
    assert Card.objects.get(member=member).card_no == "00012345"
    assert member.joined_on == dt.date(2019, 3, 8)
    assert Card.objects.get(member__name="周强").card_no == "54321"


CELLS = [
    # value, number format, as Excel shows it (and so as it is read)
    (12345, "00000000", "00012345"),
    (7, "000", "007"),
    (-42, "0000", "-0042"),
    (123, "#0000", "0123"),
    (5, "[Red]000;[Blue]000", "005"),
    (12345.0, "00000000", "00012345"),
    (12345, "General", "12345"),
    (3.0, "General", "3"),
    (123456, "000", "123456"),  # wider than the format: nothing to pad
    (12.5, "00000", "12.5"),  # a fraction is never rounded to fit a format: amounts stay exact
    (1234.5, "#,##0.00", "1234.5"),
    (9, "0", "9"),
    (dt.datetime(2026, 1, 5, 23, 59, 59), "yyyy-mm-dd hh:mm", "2026-01-05"),
    (dt.datetime(2026, 1, 5), "yyyy-mm-dd", "2026-01-05"),
]


def test_cells_are_read_as_excel_shows_them(db):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["code"])
    for value, number_format, _shown in CELLS:
        sheet.append([value])
        sheet.cell(row=sheet.max_row, column=1).number_format = number_format
    buf = io.BytesIO()
    book.save(buf)
    table = tb.read_table(buf.getvalue(), file="cells.xlsx", columns=[tb.Column("code", "编码")])
    assert table.df["code"].to_list() == [shown for _v, _f, shown in CELLS]
