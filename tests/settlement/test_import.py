"""Importing the bureau's settlement files: matching, paying exactly once, reversals, order."""

from __future__ import annotations

import random

import pytest

from huzhu.core.tabular import TableError
from huzhu.protection.enrollments import enrollments_import
from huzhu.protection.models import LedgerEntry
from huzhu.protection.plans import plan_load_toml
from huzhu.settlement import services
from huzhu.settlement.exports import payout_rows
from huzhu.settlement.models import Settlement
from huzhu.settlement.services import settlements_import
from tests.conftest import new_id_number

ZY = """
code = "ZY"
name = "住院医疗"
benefit = "inpatient"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "60.00"
waiting_days = 90
[inpatient]
deductible = "1000.00"
cap = "50000.00"
bands = [ { upto = "10000.00", ratio = "0.50" }, { upto = "50000.00", ratio = "0.60" }, { ratio = "0.70" } ]
""".encode()
ZY_2025 = ZY.replace(b"2026-", b"2025-")
JT = """
code = "JT"
name = "住院津贴"
benefit = "allowance"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "30.00"
waiting_days = 0
[allowance]
per_day = "50.00"
excluded_days = 0
max_days = 180
""".encode()
HEADER = (
    "settlement_id,id_number,name,hospital,admitted_on,discharged_on,settled_on,total_cost,"
    "fund_paid,in_scope_self_pay,out_of_scope_self_pay,diagnosis_code,is_accident,reverses"
)


def row(sid, number, admitted, in_scope, *, settled=None, discharged=None, reverses="", out="0"):
    discharged = discharged or admitted
    settled = settled or discharged
    return f"{sid},{number},张三,协和医院,{admitted},{discharged},{settled},0,0,{in_scope},{out},,0,{reverses}"


def file(*rows):
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.fixture
def enrolled(tree, make_member):
    """One member enrolled in ZY 2026 (and 2025, so no waiting period) and JT 2026."""
    for doc in (ZY_2025, ZY, JT):
        plan_load_toml(doc, file="plan.toml")
    number = new_id_number()
    make_member(tree.u1, id_number=number)
    lines = [
        "id_number,plan_code,period_start,paid_on,amount",
        f"{number},ZY,2025-01-01,2025-01-05,60.00",
        f"{number},ZY,2026-01-01,2026-01-05,60.00",
        f"{number},JT,2026-01-01,2026-01-05,30.00",
    ]
    enrollments_import(("\n".join(lines) + "\n").encode(), file="e.csv")
    return number


def payouts(plan=None):
    return {(r[0], r[2]): (r[3], r[4], r[5]) for r in payout_rows(plan)}


def test_band_crossing_inside_one_settlement(enrolled):
    settlements_import(file(row("S1", enrolled, "2026-03-01", "12000.00")), file="f.csv")
    # 1000 deductible; 10000 at 50%; 1000 at 60% → 5600.00
    assert payouts("ZY")[("S1", "ZY")] == ("12000.00", "5600.00", "")


def test_below_deductible(enrolled):
    settlements_import(file(row("S1", enrolled, "2026-03-01", "800.00")), file="f.csv")
    assert payouts("ZY")[("S1", "ZY")] == ("800.00", "0.00", "BELOW_DEDUCTIBLE")


def test_cap_reached(enrolled):
    settlements_import(
        file(
            row("S1", enrolled, "2026-03-01", "100000.00", settled="2026-03-02"),
            row("S2", enrolled, "2026-04-01", "5000.00"),
        ),
        file="f.csv",
    )
    p = payouts("ZY")
    assert p[("S1", "ZY")] == ("100000.00", "50000.00", "")
    assert p[("S2", "ZY")] == ("5000.00", "0.00", "CAP_REACHED")


def test_waiting_period_for_a_member_new_to_the_plan(tree, make_member):
    plan_load_toml(ZY, file="zy.toml")
    number = new_id_number()
    make_member(tree.u1, id_number=number)
    enrollments_import(
        f"id_number,plan_code,period_start\n{number},ZY,2026-01-01\n".encode(), file="e.csv"
    )
    settlements_import(
        file(
            row("LAST", number, "2026-03-31", "5000.00"),
            row("FIRST", number, "2026-04-01", "5000.00"),
        ),
        file="f.csv",
    )
    p = payouts("ZY")
    assert p[("LAST", "ZY")] == ("5000.00", "0.00", "WAITING_PERIOD")
    assert p[("FIRST", "ZY")] == ("5000.00", "2000.00", "")


def test_unknown_member_and_not_enrolled(enrolled, tree, make_member):
    stranger = new_id_number()
    other = new_id_number()
    make_member(tree.u2, id_number=other)
    settlements_import(
        file(
            row("S1", stranger, "2026-03-01", "5000.00"), row("S2", other, "2026-03-01", "5000.00")
        ),
        file="f.csv",
    )
    p = payouts()
    assert p[("S1", "")] == ("5000.00", "0.00", "NOT_MEMBER")
    assert p[("S2", "")] == ("5000.00", "0.00", "NOT_ENROLLED")


def test_the_report_counts_what_the_import_did(enrolled, tree, make_member, monkeypatch):
    monkeypatch.setattr(services, "STORE_SLICE", 3)  # settlements written in two slices
    stranger = new_id_number()
    report = settlements_import(
        file(
            row("S1", enrolled, "2026-03-01", "12000.00"),
            row("S2", enrolled, "2026-04-01", "3000.00"),
            row("S3", stranger, "2026-04-01", "3000.00"),
            row("R1", enrolled, "2026-03-01", "0", reverses="S2"),
        ),
        file="f.csv",
    )
    assert (report.rows, report.new, report.resent, report.reversals) == (4, 4, 0, 1)
    assert (report.matched, report.members_recomputed) == (2, 1)
    # S1 and S2 under ZY and JT; S3 of nobody known; R1 itself has no claim.
    assert report.reasons == {"PAID": 2, "REVERSED": 2, "NOT_MEMBER": 1}
    # ZY: 11,000 above the deductible, 10,000 at 50% and 1,000 at 60%; JT: one day at 50.
    assert report.paid_by_plan == {"ZY": "5600.00", "JT": "50.00"}
    assert Settlement.objects.count() == 4
    assert Settlement.objects.get(settlement_id="S2").reversed_by == "R1"


def test_keep_valid_imports_the_good_rows_and_reports_the_bad(enrolled):
    data = file(
        row("S1", enrolled, "2026-03-01", "12000.00"),
        row("S2", "", "2026-03-01", "5.00"),  # no ID number
        row("S3", enrolled, "2026-03-05", "5.00", discharged="2026-03-01"),
    )
    report = settlements_import(data, file="f.csv", keep_valid=True)
    assert [(e.row, e.column) for e in report.errors] == [
        (3, "id_number"),
        (4, "discharged_on"),
        (4, "settled_on"),
    ]
    assert (report.new, report.matched) == (1, 1)
    assert set(payouts()) == {("S1", "ZY"), ("S1", "JT")}


def test_resent_file_pays_nothing_twice(enrolled):
    data = file(row("S1", enrolled, "2026-03-01", "12000.00"))
    settlements_import(data, file="f.csv")
    count = LedgerEntry.objects.count()
    report = settlements_import(data, file="f.csv")
    assert report.resent == 1 and report.new == 0
    assert LedgerEntry.objects.count() == count


def test_changed_resend_is_refused(enrolled):
    settlements_import(file(row("S1", enrolled, "2026-03-01", "12000.00")), file="f.csv")
    with pytest.raises(TableError) as exc:
        settlements_import(file(row("S1", enrolled, "2026-03-01", "13000.00")), file="g.csv")
    assert exc.value.errors[0].row == 2
    assert "内容不同" in exc.value.errors[0].reason


def test_reversal_claws_back_and_later_payouts_change(enrolled):
    settlements_import(
        file(
            row("S1", enrolled, "2026-03-01", "5000.00", settled="2026-03-02"),
            row("S2", enrolled, "2026-04-01", "5000.00"),
        ),
        file="f.csv",
    )
    p = payouts("ZY")
    assert (p[("S1", "ZY")][1], p[("S2", "ZY")][1]) == ("2000.00", "2500.00")
    settlements_import(file(row("R1", enrolled, "2026-03-01", "0", reverses="S1")), file="r.csv")
    p = payouts("ZY")
    assert p[("S1", "ZY")] == ("5000.00", "0.00", "REVERSED")
    # S2 is now the first settlement of the year: 4000 above the deductible at 50%
    assert p[("S2", "ZY")] == ("5000.00", "2000.00", "")
    assert ("R1", "ZY") not in p
    kinds = list(LedgerEntry.objects.filter(claim__plan_code="ZY").values_list("kind", flat=True))
    assert kinds.count("clawback") == 2  # S1 back to 0, S2 down by 500


def test_settlement_arriving_late_with_an_earlier_date_reorders(enrolled):
    settlements_import(file(row("S2", enrolled, "2026-04-01", "5000.00")), file="a.csv")
    assert payouts("ZY")[("S2", "ZY")][1] == "2000.00"
    settlements_import(
        file(row("S1", enrolled, "2026-03-01", "5000.00", settled="2026-03-02")), file="b.csv"
    )
    p = payouts("ZY")
    assert (p[("S1", "ZY")][1], p[("S2", "ZY")][1]) == ("2000.00", "2500.00")


def test_reversal_of_unknown_settlement_is_bad_input(enrolled):
    with pytest.raises(TableError) as exc:
        settlements_import(
            file(row("R1", enrolled, "2026-03-01", "0", reverses="NOPE")), file="r.csv"
        )
    assert (exc.value.errors[0].row, exc.value.errors[0].column) == (2, "reverses")


def test_bad_rows_are_reported_and_nothing_written(enrolled):
    data = file(
        row("S1", enrolled, "2026-03-01", "-5.00"),
        row("S2", "110102198501010010", "2026-03-01", "5.00"),
        row("S3", enrolled, "2026-03-05", "5.00", discharged="2026-03-01", settled="2026-03-06"),
    )
    with pytest.raises(TableError) as exc:
        settlements_import(data, file="bad.csv")
    assert [(e.row, e.column) for e in exc.value.errors] == [
        (2, "in_scope_self_pay"),
        (3, "id_number"),
        (4, "discharged_on"),
    ]
    assert not payout_rows()


def test_allowance_pays_days(enrolled):
    settlements_import(
        file(row("S1", enrolled, "2026-03-01", "100", discharged="2026-03-11")), file="f.csv"
    )
    assert payouts("JT")[("S1", "JT")] == ("10.00", "500.00", "")


def test_money_in_the_ledger_equals_the_export(enrolled):
    settlements_import(
        file(
            row("S1", enrolled, "2026-03-01", "12000.00"),
            row("S2", enrolled, "2026-05-01", "2000.00"),
        ),
        file="f.csv",
    )
    from decimal import Decimal

    total = sum((e.amount for e in LedgerEntry.objects.all()), Decimal(0))
    assert total == sum(Decimal(r[4]) for r in payout_rows())


def test_ledger_entries_cannot_be_edited(enrolled):
    from django.db import DatabaseError, transaction

    settlements_import(file(row("S1", enrolled, "2026-03-01", "12000.00")), file="f.csv")
    entry = LedgerEntry.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()


def test_final_payouts_depend_only_on_the_set_received(tree, make_member):
    """The same settlements in different splits and orders give identical exports."""
    from django.db import transaction

    plan_load_toml(ZY, file="zy.toml")
    plan_load_toml(JT, file="jt.toml")
    numbers = [new_id_number() for _ in range(3)]
    for n in numbers:
        make_member(tree.u1, id_number=n)
    enrol = ["id_number,plan_code,period_start"] + [
        f"{n},{p},2026-01-01" for n in numbers for p in ("ZY", "JT")
    ]
    enrollments_import(("\n".join(enrol) + "\n").encode(), file="e.csv")
    rng = random.Random(5)
    rows = []
    for i in range(24):
        month = rng.randint(1, 11)
        rows.append(
            row(
                f"S{i:02d}",
                rng.choice(numbers),
                f"2026-{month:02d}-0{rng.randint(1, 9)}",
                f"{rng.randint(0, 3_000_000) / 100:.2f}",
                settled=f"2026-{month + 1:02d}-01",
            )
        )
    rows.append(row("R1", numbers[0], "2026-01-01", "0", reverses="S03"))
    rows.append(row("R2", numbers[1], "2026-01-01", "0", reverses="S10"))

    def run(splits):
        sid = transaction.savepoint()
        for part in splits:
            settlements_import(file(*part), file="part.csv")
        result = payout_rows()
        transaction.savepoint_rollback(sid)
        return result

    whole = run([rows])
    shuffled = rows[:]
    rng.shuffle(shuffled)
    # reversals must follow what they reverse, across files: keep them in the last part
    body = [r for r in shuffled if ",S03" not in r[-5:] and not r.startswith("R")]
    reversals = [r for r in rows if r.startswith("R")]
    assert run([body[:7], body[7:15], body[15:] + reversals]) == whole
    assert run([list(reversed(body)) + reversals]) == whole
    assert any(r[4] != "0.00" for r in whole)
