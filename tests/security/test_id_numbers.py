"""One person, one member (issue 16): an ID number is read after NFKC normalisation, so the
full-width spelling of a number is that number, and a digit of another script (Arabic-Indic `١`)
is refused, wherever a number enters: the API, the console, the admin and every file."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client

from huzhu.accounts.models import Role
from huzhu.core.idnumber import check_char
from huzhu.core.tabular import TableError
from huzhu.members.models import Member
from huzhu.members.roster import members_import
from huzhu.members.services import member_find
from huzhu.protection.enrollments import enrollments_import
from huzhu.protection.models import Enrollment
from huzhu.settlement.models import Settlement
from huzhu.settlement.services import settlements_import
from tests.benefits.conftest import make_activity
from tests.conftest import refused_naming

NUMBER = "110101199201010036"  # the number


def full_width(number: str, at: int) -> str:
    """`number` with the digit at `at` written full width (`０`-`９`)."""
    return number[:at] + chr(0xFF10 + int(number[at])) + number[at + 1 :]


def arabic_indic(number: str, at: int) -> str:
    """`number` with the digit at `at` written in Arabic-Indic (`٠`-`٩`)."""
    return number[:at] + chr(0x0660 + int(number[at])) + number[at + 1 :]


def _ending_in_005x() -> str:
    """A valid number whose serial is 005 and whose check character is X (the issue's `…005X`)."""
    day = date(1980, 1, 1)
    while check_char(first17 := f"110101{day:%Y%m%d}005") != "X":
        day += timedelta(days=1)
    return first17 + "X"


ENDING_X = _ending_in_005x()


def roster(*lines: str) -> bytes:
    return ("\n".join(["id_number,name,unit_code", *lines]) + "\n").encode()


def refused_rows(data: bytes, importer=members_import, file: str = "r.csv") -> list[tuple]:
    with pytest.raises(TableError) as exc:
        importer(data, file=file)
    return [(e.file, e.row, e.column, e.reason) for e in exc.value.errors]


def test_three_spellings_of_one_number_make_one_member_through_the_api(tree, city_admin, api_as):
    api = api_as(city_admin)
    first = api.post("/members", {"id_number": NUMBER, "name": "王五", "unit_code": "U1"})
    again = api.post(
        "/members", {"id_number": full_width(NUMBER, 5), "name": "王五", "unit_code": "U1"}
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other_script = api.post(
        "/members", {"id_number": arabic_indic(NUMBER, 5), "name": "王五", "unit_code": "U1"}
    )
    assert refused_naming(other_script, "id_number"), other_script.content
    assert other_script.json()["error"]["code"] == "invalid_id_number"
    assert Member.objects.count() == 1
    assert member_find(NUMBER).pk == first.json()["id"]


def test_a_roster_with_two_spellings_of_one_number_is_a_bad_row(tree):
    spelt_again = ENDING_X[:14] + "０05X"  # the issue's …005X and …０05X: created=2
    problems = refused_rows(roster(f"{ENDING_X},王五,U1", f"{spelt_again},王五,U1"))
    assert problems == [("r.csv", 3, "id_number", "id_number 重复（首次出现在第 2 行）")]
    assert not Member.objects.exists()


def test_a_roster_row_in_another_spelling_updates_the_member(tree, make_member):
    member = make_member(tree.u1, name="原名", id_number=ENDING_X)
    report = members_import(roster(f"{ENDING_X[:14]}００５x,新名,U1"), file="r.csv")
    assert (report.created, report.updated) == (0, 1)
    assert Member.objects.get().pk == member.pk and Member.objects.get().name == "新名"


@pytest.mark.parametrize(
    "spelling",
    [
        arabic_indic(NUMBER, 5),
        NUMBER[:5] + "\u0967" + NUMBER[6:],  # Devanagari १
        NUMBER[:17] + "\u06f6",  # Extended Arabic-Indic ۶ as the check digit
        NUMBER[:5] + "\u0e51" + NUMBER[6:],  # Thai ๑
    ],
)
def test_a_number_in_another_script_is_refused_by_the_api_and_is_a_bad_roster_row(
    tree, city_admin, api_as, spelling
):
    r = api_as(city_admin).post(
        "/members", {"id_number": spelling, "name": "赵六", "unit_code": "U1"}
    )
    assert refused_naming(r, "id_number"), r.content
    problems = refused_rows(roster(f"{NUMBER},王五,U1", f"{spelling},赵六,U1"), file="名册.csv")
    assert problems == [("名册.csv", 3, "id_number", "应为 17 位半角数字加 1 位数字或 X")]
    assert not Member.objects.exists()


def test_a_province_code_not_in_use_is_refused(tree, city_admin, api_as):
    first17 = "99" + NUMBER[2:17]
    unknown_province = first17 + check_char(first17)
    r = api_as(city_admin).post(
        "/members", {"id_number": unknown_province, "name": "王五", "unit_code": "U1"}
    )
    assert refused_naming(r, "id_number"), r.content
    assert r.json()["error"]["message"] == "身份证号前两位 99 不是在用的省级行政区代码"
    english = api_as(city_admin).post(
        "/members",
        {"id_number": unknown_province, "name": "王五", "unit_code": "U1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert english.json()["error"]["message"] == (
        "The ID number starts with 99, which is not a province code in use"
    )
    problems = refused_rows(roster(f"{unknown_province},王五,U1"))
    assert problems == [("r.csv", 2, "id_number", "province code 99 is not in use")]
    assert not Member.objects.exists()


def test_the_enrolment_file_finds_the_member_under_a_full_width_spelling(tree, make_member, zy):
    member = make_member(tree.u1, id_number=NUMBER)
    lines = ["id_number,plan_code,period_start", f"{full_width(NUMBER, 0)},ZY,2026-01-01"]
    enrollments_import(("\n".join(lines) + "\n").encode(), file="e.csv")
    assert Enrollment.objects.get().member_id == member.pk
    lines[1] = f"{arabic_indic(NUMBER, 0)},ZY,2026-01-01"
    problems = refused_rows(("\n".join(lines) + "\n").encode(), enrollments_import, "e.csv")
    assert [(f, row, col) for f, row, col, _ in problems] == [("e.csv", 2, "id_number")]


SETTLEMENT_HEADER = (
    "settlement_id,id_number,name,hospital,admitted_on,discharged_on,settled_on,total_cost,"
    "fund_paid,in_scope_self_pay,out_of_scope_self_pay"
)


def test_the_settlement_file_matches_the_member_under_a_full_width_spelling(tree, make_member):
    member = make_member(tree.u1, id_number=NUMBER)
    spelt = full_width(full_width(NUMBER, 3), 17)
    row = f"S1,{spelt},王五,协和医院,2026-03-01,2026-03-05,2026-03-06,0,0,800.00,0"
    settlements_import(f"{SETTLEMENT_HEADER}\n{row}\n".encode(), file="s.csv")
    assert Settlement.objects.get().member_id == member.pk
    row = f"S2,{arabic_indic(NUMBER, 3)},王五,协和医院,2026-03-01,2026-03-05,2026-03-06,0,0,8,0"
    problems = refused_rows(f"{SETTLEMENT_HEADER}\n{row}\n".encode(), settlements_import, "s.csv")
    assert [(f, r, col) for f, r, col, _ in problems] == [("s.csv", 2, "id_number")]
    assert Settlement.objects.count() == 1


def test_the_console_finds_the_member_under_a_full_width_spelling(tree, make_member, make_staff):
    make_member(tree.u1, name="全角查找", id_number=NUMBER)
    client = Client()
    client.force_login(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    page = client.get("/console/members/", {"q": full_width(NUMBER, 9)}).content.decode()
    assert "全角查找" in page


def test_a_claim_filed_on_the_console_finds_the_member_and_refuses_other_scripts(
    tree, make_member, make_staff, zy, enrol, media
):
    from huzhu.protection.models import Claim

    enrol(make_member(tree.u1, name="王五", id_number=NUMBER))
    client = Client()
    client.force_login(make_staff(Role.UNIT_ADMIN, tree.u1))
    form = {"version": str(zy.pk), "event_date": "2026-04-02", "admitted_on": "2026-04-02"}
    form |= {"discharged_on": "2026-04-05", "settled_on": "2026-04-06", "requested": "100"}
    refused = client.post("/console/claims/new/", {**form, "id_number": arabic_indic(NUMBER, 2)})
    assert refused.status_code == 400 and 'role="alert"' in refused.content.decode()
    assert not Claim.objects.exists()
    filed = client.post("/console/claims/new/", {**form, "id_number": full_width(NUMBER, 2)})
    assert filed.status_code == 302, filed.content.decode()[-3000:]
    assert Claim.objects.get().member.name == "王五"


def test_staff_book_for_a_member_under_a_full_width_spelling(tree, make_staff, card_holder, api_as):
    from huzhu.core.pii import vault

    member = card_holder(tree.u1)
    number = vault().decrypt(member.id_cipher)
    api = api_as(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
    ski = make_activity(tree.xicheng, quota=5)
    booked = api.post(f"/activities/{ski.pk}/bookings", {"member": full_width(number, 7)})
    assert booked.status_code == 201, booked.content
    refused = api.post(f"/activities/{ski.pk}/bookings", {"member": arabic_indic(number, 7)})
    assert refused_naming(refused, "member"), refused.content


CARDS_INLINE = {"cards-TOTAL_FORMS": "0", "cards-INITIAL_FORMS": "0"}


@pytest.fixture
def superuser(tree, make_staff):
    user = make_staff(Role.CITY_ADMIN, tree.city)
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_adds_a_member_by_its_number_once_in_any_spelling(tree, superuser):
    form = {"name": "王五", "unit": tree.u1.pk, "is_active": "on"} | CARDS_INLINE
    added = superuser.post("/admin/members/member/add/", {**form, "id_number": NUMBER})
    assert added.status_code == 302, added.content.decode()[-3000:]
    member = member_find(NUMBER)
    assert member is not None and member.id_masked == "110101********0036"
    for spelling in (full_width(NUMBER, 4), arabic_indic(NUMBER, 4)):
        again = superuser.post("/admin/members/member/add/", {**form, "id_number": spelling})
        assert again.status_code == 200 and "errorlist" in again.content.decode()
    assert Member.objects.count() == 1
