"""INTERFACES "Bounds" for members: a joining date lies from 1900-01-01 to 2099-12-31 in ASCII
digits, through the API, the services and the roster file (exit 2 naming row and column);
names longer than their columns are a 422 naming the field, never the database's error."""

from __future__ import annotations

from datetime import date

import openpyxl
import pytest

from huzhu import cli
from huzhu.core.errors import DomainError
from huzhu.members.models import Member, Organisation
from huzhu.members.services import member_create_or_update
from tests.conftest import new_id_number, refused_naming

BAD_DAYS = [
    "0001-01-01",
    "1899-12-31",
    "2100-01-01",
    "9999-12-31",
    "٢٠٢٠-01-01",
    "２０２０-01-01",
    "2020-02-30",
    1700000000,
    "1700000000",
]


@pytest.mark.parametrize("joined_on", BAD_DAYS)
def test_a_joining_date_outside_1900_to_2099_is_refused_naming_the_field(
    tree, xicheng_admin, api_as, joined_on
):
    body = {"id_number": new_id_number(), "name": "李四", "unit_code": "U1", "joined_on": joined_on}
    r = api_as(xicheng_admin).post("/members", body)
    assert refused_naming(r, "joined_on"), r.content
    assert not Member.objects.exists()


@pytest.mark.parametrize("joined_on", ["1900-01-01", "2099-12-31"])
def test_a_joining_date_on_the_bounds_is_accepted(tree, xicheng_admin, api_as, joined_on):
    body = {"id_number": new_id_number(), "name": "李四", "unit_code": "U1", "joined_on": joined_on}
    r = api_as(xicheng_admin).post("/members", body)
    assert r.status_code == 201, r.content
    assert r.json()["joined_on"] == joined_on


def test_the_service_refuses_a_joining_date_out_of_bounds(tree):
    with pytest.raises(DomainError) as exc:
        member_create_or_update(
            id_number=new_id_number(), name="李四", unit=tree.u1, joined_on=date(1, 1, 1)
        )
    assert exc.value.details["field"] == "joined_on"
    assert not Member.objects.exists()


def test_names_longer_than_their_columns_are_refused_naming_the_field(tree, xicheng_admin, api_as):
    api = api_as(xicheng_admin)
    body = {"id_number": new_id_number(), "name": "张" * 101, "unit_code": "U1"}
    assert refused_naming(api.post("/members", body), "name")
    assert api.post("/members", {**body, "name": "张" * 100}).status_code == 201
    org = {"code": "U9", "name": "工" * 201, "kind": "unit", "parent_code": "BJ02"}
    assert refused_naming(api.post("/orgs", org), "name")
    assert refused_naming(api.patch("/orgs/U1", {"name": "工" * 201}), "name")
    assert not Organisation.objects.filter(code="U9").exists()


def test_an_xlsx_roster_with_a_date_cell_out_of_bounds_exits_2_naming_row_and_column(
    tree, tmp_path, capsys
):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["身份证号", "姓名", "单位编码", "入会日期"])
    sheet.append([new_id_number(), "张三", "U1", date(1900, 1, 1)])
    sheet.append([new_id_number(), "李四", "U1", "1899-12-31"])  # Excel has no date before 1900
    sheet.append([new_id_number(), "王五", "U1", date(2100, 1, 1)])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    assert cli.main(["import", "members", str(path)]) == 2
    err = capsys.readouterr().err
    assert "第 3 行：入会日期 列：应在 1900-01-01 至 2099-12-31 之间：1899-12-31" in err
    assert "第 4 行：入会日期 列：应在 1900-01-01 至 2099-12-31 之间：2100-01-01" in err
    assert "第 2 行" not in err
    assert not Member.objects.exists()
