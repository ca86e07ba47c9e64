"""Payment runs: who is paid, the bank file, confirmations, failed transfers, SMS, the CLI."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from huzhu.accounts.models import Role
from huzhu.cli import main
from huzhu.core.errors import DomainError
from huzhu.core.tabular import TableError
from huzhu.members.services import card_report_lost
from huzhu.protection.corrections import claim_correct
from huzhu.protection.models import (
    ClaimState,
    LedgerEntry,
    PaymentItem,
    PaymentItemEntry,
    PaymentItemState,
)
from huzhu.protection.payments import (
    payment_confirm_file,
    payment_item_confirm,
    payment_item_fail,
    payment_run_create,
    payment_run_csv,
    payment_run_release,
)


@pytest.fixture
def payer(city_admin):
    return city_admin


def released_run(payer):
    """A run made by `payer` and released (two-person release itself: test_two_people.py)."""
    result = payment_run_create(actor=payer)
    payment_run_release(actor=None, run=result.run)
    result.run.refresh_from_db()
    return result


def bank_rows(run):
    text = payment_run_csv(run).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_a_run_pays_each_member_the_net_of_its_approved_claims(
    insured, approved_claim, payer, tree, make_member, enrol, new_card
):
    approved_claim(insured, "1000.00")
    approved_claim(insured, "234.56")
    other = make_member(tree.u2, name="王五")
    enrol(other)
    new_card(other)
    result = released_run(payer)
    item = PaymentItem.objects.get(run=result.run)
    assert (item.member_id, item.amount, item.state) == (insured.pk, Decimal("1234.56"), "pending")
    assert result.run.total == Decimal("1234.56") and result.items == 1
    assert item.links.count() == 2
    card_no = insured.cards.get().card_no
    assert bank_rows(result.run) == [
        ["card_no", "name", "amount", "reference"],
        [card_no, "李四", "1234.56", item.reference],
    ]


def test_an_entry_is_never_in_two_live_items(insured, approved_claim, payer):
    approved_claim(insured, "50.00")
    released_run(payer)
    with pytest.raises(DomainError) as exc:
        payment_run_create(actor=payer)
    assert exc.value.code == "nothing_to_pay"
    assert PaymentItem.objects.count() == 1


def test_a_member_without_an_active_card_waits_for_a_later_run(
    insured, approved_claim, payer, new_card
):
    approved_claim(insured, "80.00")
    card_report_lost(card=insured.cards.get(), actor=None)
    with pytest.raises(DomainError) as exc:
        payment_run_create(actor=payer)
    assert exc.value.details["held_no_card"] == 1
    new_card(insured)
    result = released_run(payer)
    assert result.run.total == Decimal("80.00")


def test_a_member_whose_net_is_not_above_zero_is_left_out(insured, approved_claim, payer):
    claim = approved_claim(insured, "80.00")
    # a settlement-style clawback of the whole amount (as a reversal writes)
    LedgerEntry.objects.create(claim=claim, member=insured, kind="clawback", amount="-80.00")
    with pytest.raises(DomainError) as exc:
        payment_run_create(actor=payer)
    assert exc.value.details["held_not_positive"] == 1


def test_confirmation_pays_the_claim_and_texts_the_member_after_commit(
    insured, approved_claim, payer, sms_outbox, django_capture_on_commit_callbacks
):
    claim = approved_claim(insured, "1200.00")
    item = PaymentItem.objects.get(run=released_run(payer).run)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payment_item_confirm(actor=payer, item=item)
    assert sms_outbox == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert len(sms_outbox) == 1
    assert sms_outbox[0].phone == "13812345678"
    assert "1200.00元" in sms_outbox[0].text and item.card_no[-4:] in sms_outbox[0].text
    claim.refresh_from_db()
    assert claim.state == ClaimState.PAID
    assert claim.events.last().reason_code == "transfer_confirmed"
    item.refresh_from_db()
    assert item.state == PaymentItemState.PAID and item.settled_at is not None
    # confirming twice changes nothing and sends nothing more
    with django_capture_on_commit_callbacks(execute=True):
        payment_item_confirm(actor=payer, item=item)
    assert len(sms_outbox) == 1


def test_a_claim_is_paid_only_when_all_its_entries_are(
    insured, approved_claim, payer, django_capture_on_commit_callbacks
):
    claim = approved_claim(insured, "100.00")
    first = PaymentItem.objects.get(run=released_run(payer).run)
    LedgerEntry.objects.create(claim=claim, member=insured, kind="adjustment", amount="20.00")
    second = PaymentItem.objects.get(run=released_run(payer).run)
    with django_capture_on_commit_callbacks(execute=True):
        payment_item_confirm(actor=payer, item=first)
        claim.refresh_from_db()
        assert claim.state == ClaimState.APPROVED
        payment_item_confirm(actor=payer, item=second)
    claim.refresh_from_db()
    assert claim.state == ClaimState.PAID


def test_a_failed_transfer_returns_its_entries_to_the_queue(insured, approved_claim, payer):
    claim = approved_claim(insured, "300.00")
    item = PaymentItem.objects.get(run=released_run(payer).run)
    payment_item_fail(actor=payer, item=item, reason="账户已销户")
    item.refresh_from_db()
    assert item.state == PaymentItemState.FAILED
    assert not PaymentItemEntry.objects.filter(item=item, live=True).exists()
    claim.refresh_from_db()
    assert claim.state == ClaimState.APPROVED
    again = PaymentItem.objects.get(run=released_run(payer).run)
    assert again.amount == Decimal("300.00") and again.pk != item.pk
    with pytest.raises(DomainError) as exc:
        payment_item_confirm(actor=payer, item=item)
    assert exc.value.code == "invalid_transition"


def test_a_paid_transfer_cannot_fail(insured, approved_claim, payer):
    approved_claim(insured, "10.00")
    item = PaymentItem.objects.get(run=released_run(payer).run)
    payment_item_confirm(actor=payer, item=item)
    with pytest.raises(DomainError) as exc:
        payment_item_fail(actor=payer, item=item)
    assert (exc.value.code, exc.value.status) == ("invalid_transition", 409)


def test_a_clawback_never_makes_a_claims_paid_net_negative(
    insured, approved_claim, payer, tree, make_member
):
    """A clawback waits while the payout it takes back is only pending: if that transfer
    failed after the clawback was paid, the claim would have paid out less than nothing."""
    claim = approved_claim(insured, "100.00")
    pending = PaymentItem.objects.get(run=released_run(payer).run)
    claim_correct(
        actor=payer,
        claim=claim,
        kind="clawback",
        amount="100.00",
        reason_code="duplicate_payment",
        note="同一发票已在另一单位报销",
    )
    approved_claim(insured, "500.00")
    second = PaymentItem.objects.get(run=released_run(payer).run)
    assert second.amount == Decimal("500.00")  # the clawback is held back
    payment_item_confirm(actor=payer, item=pending)
    payment_item_confirm(actor=payer, item=second)
    approved_claim(insured, "150.00")
    third = PaymentItem.objects.get(run=released_run(payer).run)
    assert third.amount == Decimal("50.00")  # now it nets against the new payout


def test_only_city_admins_run_payments(tree, make_staff, insured, approved_claim):
    approved_claim(insured, "10.00")
    for role, org in ((Role.DISTRICT_ADMIN, tree.xicheng), (Role.REVIEWER, tree.city)):
        with pytest.raises(DomainError) as exc:
            payment_run_create(actor=make_staff(role, org))
        assert exc.value.status == 403


def test_confirmation_file_is_all_or_nothing(
    insured, approved_claim, payer, tree, make_member, enrol, new_card
):
    other = make_member(tree.u1, name="王五")
    enrol(other)
    new_card(other)
    approved_claim(insured, "10.00")
    approved_claim(other, "20.00")
    run = released_run(payer).run
    a, b = run.items.order_by("reference")
    bad = f"reference,status\n{a.reference},成功\nNOPE,失败\n{b.reference},maybe\n".encode()
    with pytest.raises(TableError) as exc:
        payment_confirm_file(actor=payer, data=bad, file="bank.csv")
    assert [(e.row, e.column) for e in exc.value.errors] == [(3, "reference"), (4, "status")]
    assert set(run.items.values_list("state", flat=True)) == {"pending"}
    good = f"参考号,状态,失败原因\n{a.reference},成功,\n{b.reference},失败,户名不符\n"
    report = payment_confirm_file(actor=payer, data=good.encode("gb18030"), file="bank.csv")
    assert (report.paid, report.failed, report.unchanged) == (1, 1, 0)
    assert dict(run.items.values_list("reference", "state")) == {
        a.reference: "paid",
        b.reference: "failed",
    }


def test_cli_payments_run_and_confirm(insured, approved_claim, tmp_path, capsys):
    claim = approved_claim(insured, "66.60")
    out = tmp_path / "bank.csv"
    assert main(["payments", "run", "--out", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    assert rows[1][1:3] == ["李四", "66.60"]
    confirm = tmp_path / "confirm.csv"
    confirm.write_text(f"reference\n{rows[1][3]}\n", "utf-8")
    assert main(["payments", "confirm", str(confirm)]) == 0
    assert "paid=1" in capsys.readouterr().out
    claim.refresh_from_db()
    assert claim.state == ClaimState.PAID
    assert main(["payments", "run", "--out", str(tmp_path / "again.csv")]) == 0
    assert not (tmp_path / "again.csv").exists()
    confirm.write_text("reference\nNOPE\n", "utf-8")
    assert main(["payments", "confirm", str(confirm)]) == 2
