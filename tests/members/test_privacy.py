"""A member downloads its own data; erasure anonymises the person and keeps the ledger."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from huzhu.accounts.models import Role, User
from huzhu.members.models import Member
from huzhu.members.services import card_issue, member_find
from tests.conftest import PASSWORD, new_id_number


def _member_login(member):
    login = User(username=f"m{member.pk}", role=Role.MEMBER, member=member)
    login.set_password(PASSWORD)
    login.save()
    return login


def test_member_downloads_its_own_data(tree, make_member, api_as):
    number = new_id_number()
    member = make_member(tree.u1, name="王芳", id_number=number, phone="13800138000")
    card_issue(member=member, card_no="62001111")
    data = api_as(_member_login(member)).get("/me/data").json()
    assert data["member"]["id_number"] == number
    assert data["member"]["phone"] == "13800138000"
    assert data["cards"][0]["card_no"] == "62001111"


def test_erasure_removes_the_person_but_keeps_the_money(tree, make_member, make_staff, api_as):
    from huzhu.protection.enrollments import enrollments_import
    from huzhu.protection.models import LedgerEntry
    from huzhu.protection.plans import plan_load_toml
    from huzhu.settlement.services import settlements_import
    from tests.settlement.test_import import JT, ZY, ZY_2025, file, row

    for doc in (ZY_2025, ZY, JT):
        plan_load_toml(doc, file="p.toml")
    number = new_id_number()
    member = make_member(tree.u1, name="李娜", id_number=number, phone="13800138001")
    enrollments_import(
        f"id_number,plan_code,period_start\n{number},ZY,2026-01-01\n".encode(), file="e.csv"
    )
    settlements_import(file(row("S1", number, "2026-05-01", "12000.00")), file="s.csv")
    total = LedgerEntry.objects.aggregate(t=Sum("amount"))["t"]
    assert total > Decimal(0)
    login = _member_login(member)
    city = make_staff(Role.CITY_ADMIN, tree.city)
    assert (
        api_as(make_staff(Role.DISTRICT_ADMIN, tree.xicheng))
        .post(f"/members/{member.pk}/erase", {"reason": "本人申请注销"})
        .status_code
        == 403
    )
    r = api_as(city).post(f"/members/{member.pk}/erase", {"reason": "本人申请注销"})
    assert r.status_code == 200
    member = Member.objects.get(pk=member.pk)
    assert (member.name, member.phone_masked, member.is_active) == ("已注销会员", "", False)
    assert member_find(number) is None
    assert LedgerEntry.objects.aggregate(t=Sum("amount"))["t"] == total
    assert not User.objects.get(pk=login.pk).is_active
