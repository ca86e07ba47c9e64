"""Roster import and export (INTERFACES.md "Files": orgs and members)."""

from __future__ import annotations

import io

import openpyxl
import pytest

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.core.tabular import TableError
from huzhu.members.models import Card, Member, Organisation
from huzhu.members.roster import members_import, orgs_import
from huzhu.members.roster_export import members_export
from huzhu.members.services import member_find
from tests.conftest import new_id_number

HEADER_EN = "id_number,name,unit_code,unit_name,district,phone,card_no,joined_on"
HEADER_ZH = "身份证号,姓名,单位编码,单位名称,所属区,手机号,互助服务卡号,入会日期"


def csv_bytes(*lines: str, header: str = HEADER_EN, encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode(encoding)


def errors_of(data: bytes, file: str = "roster.csv", **kw) -> list[tuple[int, str, str]]:
    with pytest.raises(TableError) as exc:
        members_import(data, file=file, **kw)
    return [(e.row, e.column, e.reason) for e in exc.value.errors]


def test_import_creates_members_with_masked_and_encrypted_ids(tree):
    number = new_id_number()
    report = members_import(
        csv_bytes(f"{number},王芳,U1,,,13800138000,62000001,2020-05-01"), file="r.csv"
    )
    assert (report.created, report.updated) == (1, 0)
    member = Member.objects.get()
    assert member.id_masked == number[:6] + "********" + number[-4:]
    assert number not in member.id_cipher
    assert member_find(number) == member
    assert member.phone_masked == "138****8000"
    assert Card.objects.get().card_no == "62000001"


def test_chinese_headers_and_gb18030_as_excel_writes_it(tree):
    number = new_id_number()
    data = csv_bytes(
        f"{number},李娜,U2,西城环卫工会,西城区,,,", header=HEADER_ZH, encoding="gb18030"
    )
    members_import(data, file="名册.csv")
    assert Member.objects.get().name == "李娜"


def test_utf8_with_bom(tree):
    data = b"\xef\xbb\xbf" + csv_bytes(f"{new_id_number()},赵敏,U1,,,,,")
    assert members_import(data, file="r.csv").created == 1


def test_headers_match_case_insensitively(tree):
    data = csv_bytes(f"{new_id_number()},赵敏,U1", header="ID_Number,NAME,Unit_Code")
    assert members_import(data, file="r.csv").created == 1


def test_xlsx_first_sheet_with_excel_dates(tree):
    import datetime as dt

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["身份证号", "姓名", "单位编码", "入会日期"])
    number = new_id_number()
    sheet.append([number, "孙丽", "U3", dt.datetime(2019, 3, 8)])
    buf = io.BytesIO()
    book.save(buf)
    members_import(buf.getvalue(), file="roster.xlsx")
    member = Member.objects.get()
    assert member.joined_on == dt.date(2019, 3, 8)
    assert member.unit.code == "U3"


def test_every_bad_row_is_reported_with_row_and_column_and_nothing_is_written(tree):
    good = new_id_number()
    data = csv_bytes(
        f"{good},好人,U1,,,,,",  # row 2: fine
        "110102198501010010,坏号,U1,,,,,",  # row 3: bad check character
        f"{new_id_number()},,U1,,,,,",  # row 4: no name
        f"{new_id_number()},电话错,U1,,,12345,,",  # row 5: bad phone
        f"{new_id_number()},日期错,U1,,,,,2020-13-01",  # row 6: bad date
        f"{good},重复,U1,,,,,",  # row 7: duplicate of row 2
        f"{new_id_number()},区不是单位,BJ02,,,,,",  # row 8: not a workplace union
        f"{new_id_number()},卡号错,U1,,,,A-1,",  # row 9: bad card number
    )
    problems = errors_of(data)
    assert [(row, col) for row, col, _ in problems] == [
        (3, "id_number"),
        (4, "name"),
        (5, "phone"),
        (6, "joined_on"),
        (7, "id_number"),
        (8, "unit_code"),
        (9, "card_no"),
    ]
    reasons = dict(((row, col), reason) for row, col, reason in problems)
    assert "校验位" in reasons[(3, "id_number")]
    assert reasons[(4, "name")] == "必填"
    assert "首次出现在第 2 行" in reasons[(7, "id_number")]
    assert "不是基层工会" in reasons[(8, "unit_code")]
    assert Member.objects.count() == 0


def test_missing_required_column_is_reported_on_the_header_row(tree):
    problems = errors_of(csv_bytes("x,y", header="name,unit_code"))
    assert problems == [(1, "id_number", "缺少必需的列（id_number / 身份证号）")]


def test_error_columns_use_the_header_as_written(tree):
    data = csv_bytes(",张三,U1", header="身份证号,姓名,单位编码")
    assert errors_of(data) == [(2, "身份证号", "必填")]


def test_keep_valid_imports_the_good_rows_and_reports_the_bad(tree):
    data = csv_bytes(
        f"{new_id_number()},好人,U1",
        "110102198501010010,坏号,U1",
        header="id_number,name,unit_code",
    )
    report = members_import(data, file="r.csv", keep_valid=True)
    assert (report.created, report.skipped) == (1, 1)
    assert [(e.row, e.column) for e in report.errors] == [(3, "id_number")]


def test_bad_file_keeps_existing_data_untouched(tree, make_member):
    number = new_id_number()
    make_member(tree.u1, name="原名", id_number=number)
    data = csv_bytes(f"{number},新名,U1", "bad,坏,U1", header="id_number,name,unit_code")
    errors_of(data)
    assert Member.objects.get().name == "原名"


def test_known_id_number_updates_the_member(tree, make_member):
    number = new_id_number()
    make_member(tree.u1, name="原名", id_number=number)
    report = members_import(
        csv_bytes(f"{number},新名,U2", header="id_number,name,unit_code"), file="r.csv"
    )
    assert (report.created, report.updated) == (0, 1)
    member = Member.objects.get()
    assert (member.name, member.unit.code) == ("新名", "U2")


def test_unknown_unit_is_created_under_the_named_district(tree):
    data = csv_bytes(f"{new_id_number()},周杰,U9,新单位工会,怀柔区,,,")
    report = members_import(data, file="r.csv")
    unit = Organisation.objects.get(code="U9")
    assert (unit.name, unit.parent, unit.kind) == ("新单位工会", tree.huairou, "unit")
    assert report.orgs_created == 1


def test_unknown_district_is_created_under_the_root(tree):
    members_import(csv_bytes(f"{new_id_number()},周杰,U9,新单位工会,雄安区,,,"), file="r.csv")
    district = Organisation.objects.get(name="雄安区")
    assert (district.parent, district.kind) == (tree.city, "district")


def test_card_number_of_another_member_is_refused(tree, make_member):
    from huzhu.members.services import card_issue

    card_issue(member=make_member(tree.u1), card_no="62000009")
    problems = errors_of(csv_bytes(f"{new_id_number()},张三,U1,,,,62000009,"))
    assert problems == [(2, "card_no", "卡号 62000009 属于另一名会员")]


def test_new_card_number_replaces_the_active_card(tree, make_member):
    from huzhu.members.services import card_issue

    number = new_id_number()
    member = make_member(tree.u1, id_number=number)
    card_issue(member=member, card_no="62000001")
    members_import(csv_bytes(f"{number},张三,U1,,,,62000002,"), file="r.csv")
    cards = dict(Card.objects.values_list("card_no", "status"))
    assert cards == {"62000001": "replaced", "62000002": "active"}


def test_unreadable_encoding_is_a_clear_error(tree):
    data = HEADER_EN.encode() + b"\n\xff\xfe\xfa,\x81\n"
    problems = errors_of(data)
    assert problems[0][2] == "文件既不是 UTF-8 也不是 GB18030 编码的文本"


def test_broken_xlsx_is_a_clear_error(tree):
    problems = errors_of(b"PK\x03\x04 not really a zip", file="r.xlsx")
    assert "不是可读取的 .xlsx" in problems[0][2]


def test_district_admin_cannot_import_into_another_district(tree, make_staff):
    admin = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    problems = errors_of(csv_bytes(f"{new_id_number()},张三,U3"), actor=admin)
    assert problems == [(2, "unit_code", "U3 不在您的组织范围内")]


def test_export_round_trips_through_import(tree, make_member, tmp_path):
    members_import(
        csv_bytes(
            f"{new_id_number()},王芳,U1,,,13800138000,62000001,2020-05-01",
            f"{new_id_number()},李娜,U3,,,,,",
        ),
        file="r.csv",
    )
    for suffix in (".csv", ".xlsx"):
        out = tmp_path / f"roster{suffix}"
        assert members_export(out) == 2
        report = members_import(out.read_bytes(), file=out.name)
        assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert AuditEvent.objects.filter(action="members.export").count() == 2


def test_orgs_import_any_order_and_errors(db):
    data = (
        "code,name,parent_code,kind\n"
        "U1,某单位工会,D1,unit\n"
        "D1,某区总工会,C,district\n"
        "C,市总工会,,city\n"
    ).encode()
    assert orgs_import(data, file="orgs.csv").created == 3
    assert Organisation.objects.get(code="U1").path.startswith(
        Organisation.objects.get(code="C").path
    )
    bad = (
        "编码,名称,上级编码,类型\nU2,单位,NOPE,unit\nD2,区,U1,district\nX,乡,C,village\n"
    ).encode()
    with pytest.raises(TableError) as exc:
        orgs_import(bad, file="orgs.csv")
    assert [(e.row, e.column) for e in exc.value.errors] == [
        (2, "上级编码"),
        (3, "上级编码"),
        (4, "类型"),
    ]


def test_import_through_the_api_reports_rows(tree, xicheng_admin, api_as):
    data = csv_bytes(f"{new_id_number()},好人,U1", "bad,坏号,U1", header="id_number,name,unit_code")
    r = api_as(xicheng_admin).upload("/imports/members", "r.csv", data)
    assert r.status_code == 400
    assert r.json()["error"]["details"]["errors"][0]["row"] == 3
    r = api_as(xicheng_admin).upload("/imports/members", "r.csv", data, keep_valid="true")
    assert r.status_code == 200
    assert r.json()["created"] == 1


def test_import_page_shows_the_report(tree, xicheng_admin):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    client = Client()
    client.force_login(xicheng_admin)
    data = csv_bytes("bad,坏号,U1", header="id_number,name,unit_code")
    r = client.post("/console/import/members/", {"file": SimpleUploadedFile("r.csv", data)})
    assert r.status_code == 400
    html = r.content.decode()
    assert "未导入任何数据" in html and "<td>2</td>" in html and "id_number" in html
