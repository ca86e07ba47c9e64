"""A typo must not create a union (issue 16): an unknown `unit_code` in a roster creates the unit
only when the row names it (`unit_name`), under the district the row names; the report lists
every organisation the import created, each one audited. Without a name it is a bad row naming
file, row and column, and nothing is written."""

from __future__ import annotations

import pytest

from huzhu import cli
from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.core.tabular import TableError
from huzhu.members.models import Member, Organisation
from huzhu.members.roster import members_import
from tests.conftest import new_id_number

HEADER = "id_number,name,unit_code,unit_name,district"


def roster(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def refused_rows(data: bytes, **kw) -> list[tuple[str, int, str, str]]:
    with pytest.raises(TableError) as exc:
        members_import(data, file="r.csv", **kw)
    return [(e.file, e.row, e.column, e.reason) for e in exc.value.errors]


def test_an_unknown_unit_code_without_a_name_is_a_bad_row_and_nothing_is_written(tree, make_member):
    known = new_id_number()
    make_member(tree.u1, name="原名", id_number=known)
    orgs, events = Organisation.objects.count(), AuditEvent.objects.count()
    problems = refused_rows(roster(f"{known},新名,U1,,", f"{new_id_number()},王五,X999,,西城区"))
    assert problems == [
        ("r.csv", 3, "unit_code", "未知的单位编码 X999（没有哪一行写明它的单位名称）")
    ]
    assert Organisation.objects.count() == orgs and AuditEvent.objects.count() == events
    assert Member.objects.get().name == "原名"


def test_a_named_unit_is_created_under_its_district_listed_and_audited(tree, city_admin):
    report = members_import(
        roster(
            f"{new_id_number()},王五,U8,新单位工会,西城区",
            f"{new_id_number()},赵六,U8,,",  # the unit named on row 2
            f"{new_id_number()},钱七,U9,雄安工会,雄安区",  # a new district, under the root
        ),
        file="r.csv",
        actor=city_admin,
    )
    assert report.created == 3
    district = Organisation.objects.get(name="雄安区")
    assert report.as_dict()["created_orgs"] == [
        {"code": "U8", "name": "新单位工会", "kind": "unit", "parent_code": "BJ02"},
        {"code": district.code, "name": "雄安区", "kind": "district", "parent_code": "BJ"},
        {"code": "U9", "name": "雄安工会", "kind": "unit", "parent_code": district.code},
    ]
    assert report.orgs_created == 3
    events = AuditEvent.objects.filter(action="org.create", data__file="r.csv").order_by("id")
    assert [(e.object_id, e.actor_id, e.data["file"]) for e in events] == [
        (str(Organisation.objects.get(code=c).pk), city_admin.pk, "r.csv")
        for c in ("U8", district.code, "U9")
    ]


def test_a_unit_named_two_ways_or_placed_two_ways_is_a_bad_row(tree):
    problems = refused_rows(
        roster(
            f"{new_id_number()},王五,U8,新单位工会,西城区",
            f"{new_id_number()},赵六,U8,另一个工会,",
            f"{new_id_number()},钱七,U8,,怀柔区",
        )
    )
    assert problems == [
        ("r.csv", 2, "unit_code", "单位 U8 无法新建（见第 3 行）"),
        ("r.csv", 3, "unit_name", "单位 U8 在第 2 行的名称是 新单位工会"),
        ("r.csv", 4, "district", "单位 U8 在第 2 行所属的区是 西城区"),
    ]
    assert not Organisation.objects.filter(code="U8").exists()


def test_a_district_admin_creates_units_only_in_its_own_district(tree, make_staff):
    admin = make_staff(Role.DISTRICT_ADMIN, tree.xicheng)
    problems = refused_rows(
        roster(
            f"{new_id_number()},王五,U8,新单位工会,怀柔区",  # another district
            f"{new_id_number()},赵六,U9,雄安工会,雄安区",  # a district only the city may create
        ),
        actor=admin,
    )
    assert problems == [
        ("r.csv", 2, "district", "怀柔区 不在您的组织范围内"),
        ("r.csv", 3, "district", "未知的区 雄安区（只有市总工会可以新建区）"),
    ]
    report = members_import(
        roster(f"{new_id_number()},王五,U8,新单位工会,"), file="r.csv", actor=admin
    )
    assert report.as_dict()["created_orgs"] == [
        {"code": "U8", "name": "新单位工会", "kind": "unit", "parent_code": "BJ02"}
    ]


def test_keep_valid_skips_the_typo_and_reports_only_what_it_created(tree):
    report = members_import(
        roster(f"{new_id_number()},王五,X999,,", f"{new_id_number()},赵六,U8,新单位工会,西城区"),
        file="r.csv",
        keep_valid=True,
    )
    assert (report.created, report.skipped) == (1, 1)
    assert [(e.row, e.column) for e in report.errors] == [(2, "unit_code")]
    assert [o["code"] for o in report.as_dict()["created_orgs"]] == ["U8"]
    assert not Organisation.objects.filter(code="X999").exists()


def test_the_upload_answer_lists_the_created_organisations(tree, city_admin, api_as):
    api = api_as(city_admin)
    r = api.upload(
        "/imports/members", "r.csv", roster(f"{new_id_number()},王五,U8,新单位工会,西城区")
    )
    assert r.status_code == 200, r.content
    assert r.json()["created_orgs"] == [
        {"code": "U8", "name": "新单位工会", "kind": "unit", "parent_code": "BJ02"}
    ]
    r = api.upload("/imports/members", "r.csv", roster(f"{new_id_number()},赵六,X999,,"))
    assert r.status_code == 400
    assert r.json()["error"]["details"]["errors"] == [
        {
            "file": "r.csv",
            "row": 2,
            "column": "unit_code",
            "reason": "未知的单位编码 X999（没有哪一行写明它的单位名称）",
        }
    ]


def test_the_command_line_exits_2_naming_file_row_and_column_and_lists_what_it_created(
    tree, tmp_path, capsys
):
    path = tmp_path / "名册.csv"
    path.write_bytes(roster(f"{new_id_number()},王五,X999,,"))
    assert cli.main(["import", "members", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}：第 2 行：unit_code 列：未知的单位编码 X999" in err, err
    assert not Organisation.objects.filter(code="X999").exists() and not Member.objects.exists()
    path.write_bytes(roster(f"{new_id_number()},王五,U8,新单位工会,西城区"))
    assert cli.main(["import", "members", str(path)]) == 0
    assert "created unit U8 新单位工会 under BJ02" in capsys.readouterr().out


def test_the_console_import_page_lists_the_created_organisations(tree, city_admin):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    client = Client()
    client.force_login(city_admin)
    data = roster(f"{new_id_number()},王五,U8,新单位工会,西城区")
    page = client.post(
        "/console/import/members/", {"file": SimpleUploadedFile("r.csv", data)}
    ).content.decode()
    assert "本次导入新建的组织" in page and "新单位工会" in page and "BJ02" in page
    data = roster(f"{new_id_number()},赵六,X999,,")
    r = client.post("/console/import/members/", {"file": SimpleUploadedFile("r.csv", data)})
    assert r.status_code == 400 and "未知的单位编码 X999" in r.content.decode()
