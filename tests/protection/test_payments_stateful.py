"""A Hypothesis state machine over claims and payments: file, accept, review, approve (also fast
track), reject, settlement payouts and their reversals, payment runs, confirmed and failed
transfers, cards lost and issued. After every step:

- the money paid is the sum of the entries of paid items, and each item's amount is the sum of
  its entries;
- nothing is paid twice: an entry is in at most one live payment item;
- no claim's paid net is negative;
- a claim is paid exactly when it was approved and all its entries are paid;
- transitions the model forbids answer `invalid_transition`, and change nothing.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from huzhu.core.errors import DomainError
from huzhu.members.models import CardStatus
from huzhu.members.services import card_issue, card_report_lost
from huzhu.protection import filing, payments, services
from huzhu.protection.models import (
    Claim,
    ClaimState,
    LedgerEntry,
    PaymentItem,
    PaymentItemEntry,
    PaymentItemState,
)
from tests.protection.factories import a_stay

ZERO = Decimal("0.00")


def fen(value: Decimal | None) -> Decimal:
    """A database sum to two places (SQLite adds decimals as floats)."""
    return (value or ZERO).quantize(Decimal("0.01"))


# Few distinct amounts, so that a clawback and a later payout of one member often meet.
amounts = st.sampled_from(
    [Decimal("10.00"), Decimal("25.50"), Decimal("100.00"), Decimal("3000.00")]
)

# Transitions the model allows, from each state of an application claim.
ALLOWED = {
    "accept": {"submitted"},
    "review": {"accepted"},
    "approve": {"under_review"},
    "fast_track": {"submitted", "accepted"},
    "reject": {"submitted", "accepted", "under_review"},
}


class ClaimsAndPayments(RuleBasedStateMachine):
    world: dict[str, Any]  # set by the test: version, members, staff (made once, outside)

    def __init__(self) -> None:
        super().__init__()
        # Each example runs in a savepoint rolled back at teardown, on top of the test's data.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.states: dict[int, str] = {}  # application claim → state the model expects
        self.cards = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    applications = Bundle("applications")
    settled = Bundle("settled")
    items = Bundle("items")

    # -- claims ------------------------------------------------------------------------------

    @rule(target=applications, who=st.integers(0, 1), requested=amounts)
    def file(self, who: int, requested: Decimal) -> int:
        claim = filing.claim_file(
            actor=self.world["unit_admin"],
            member=self.world["members"][who],
            version=self.world["version"],
            stay=a_stay(),
            requested=requested,
        )
        self.states[claim.pk] = "submitted"
        return claim.pk

    def _try(self, claim_id: int, op: str, **kw: Any) -> None:
        claim = Claim.objects.get(pk=claim_id)
        reviewer = self.world["reviewer"]
        entries = LedgerEntry.objects.count()
        try:
            if op == "accept":
                services.claim_accept(actor=reviewer, claim=claim)
            elif op == "review":
                services.claim_review(actor=reviewer, claim=claim)
            elif op in ("approve", "fast_track"):
                services.claim_approve(
                    actor=reviewer, claim=claim, fast_track=op == "fast_track", **kw
                )
            else:
                services.claim_reject(actor=reviewer, claim=claim, reason_code="not_eligible")
        except DomainError as exc:
            assert self.states[claim_id] not in ALLOWED[op], exc
            assert exc.code == "invalid_transition"
            assert LedgerEntry.objects.count() == entries
            return
        assert self.states[claim_id] in ALLOWED[op], f"{op} allowed from {self.states[claim_id]}"
        self.states[claim_id] = {
            "accept": "accepted",
            "review": "under_review",
            "approve": "approved",
            "fast_track": "approved",
            "reject": "rejected",
        }[op]

    @rule(claim=applications, op=st.sampled_from(["accept", "review", "reject"]))
    def step(self, claim: int, op: str) -> None:
        self._try(claim, op)

    @rule(
        claim=applications,
        fast=st.booleans(),
        share=st.integers(1, 100),
    )
    def approve(self, claim: int, fast: bool, share: int) -> None:
        requested = Claim.objects.get(pk=claim).requested or ZERO
        amount = max(Decimal("0.01"), (requested * share / 100).quantize(Decimal("0.01")))
        self._try(claim, "fast_track" if fast else "approve", amount=amount)

    @rule(target=settled, who=st.integers(0, 1), amount=amounts)
    def settlement_payout(self, who: int, amount: Decimal) -> int:
        """What settlement import writes for a payable settlement: an approved claim and a
        payout entry."""
        member = self.world["members"][who]
        claim = Claim.objects.create(
            source="settlement",
            state=ClaimState.APPROVED,
            member=member,
            version=self.world["version"],
            plan_code="ZY",
            target=amount,
        )
        LedgerEntry.objects.create(claim=claim, member=member, kind="payout", amount=amount)
        return claim.pk

    @rule(claim=consumes(settled))
    def settlement_reversed(self, claim: int) -> None:
        """A reversal (冲销): the net goes back to zero by a clawback, the claim is rejected
        (as settlement.services._book writes it, whatever was paid)."""
        c = Claim.objects.get(pk=claim)
        net = fen(c.entries.aggregate(s=Sum("amount"))["s"])
        if net:
            LedgerEntry.objects.create(claim=c, member=c.member, kind="clawback", amount=-net)
        Claim.objects.filter(pk=claim).update(state=ClaimState.REJECTED, reason="REVERSED")

    @rule(who=st.integers(0, 1))
    def card_lost_or_issued(self, who: int) -> None:
        member = self.world["members"][who]
        card = member.cards.filter(status=CardStatus.ACTIVE).first()
        if card is not None:
            card_report_lost(card=card, actor=None)
        else:
            self.cards += 1
            card_issue(member=member, card_no=f"H{member.pk:04d}{self.cards:06d}")

    # -- payments ----------------------------------------------------------------------------

    @rule(target=items)
    def payment_run(self) -> Any:
        try:
            result = payments.payment_run_create(actor=self.world["payer"])
            payments.payment_run_release(actor=None, run=result.run)
        except DomainError as exc:
            assert exc.code == "nothing_to_pay"
            return multiple()
        return multiple(*result.run.items.values_list("pk", flat=True))

    @rule(item=items, ok=st.booleans())
    def bank_answers(self, item: int, ok: bool) -> None:
        obj = PaymentItem.objects.get(pk=item)
        before = obj.state
        try:
            if ok:
                after = payments.payment_item_confirm(actor=self.world["payer"], item=obj).state
            else:
                after = payments.payment_item_fail(actor=self.world["payer"], item=obj).state
        except DomainError as exc:
            assert exc.code == "invalid_transition"
            assert before != PaymentItemState.PENDING
            return
        assert after == (PaymentItemState.PAID if ok else PaymentItemState.FAILED)
        assert before in (PaymentItemState.PENDING, after)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def money_paid_is_the_sum_of_entries_of_paid_items(self) -> None:
        paid_items = PaymentItem.objects.filter(state=PaymentItemState.PAID)
        paid = fen(paid_items.aggregate(s=Sum("amount"))["s"])
        linked = fen(
            PaymentItemEntry.objects.filter(item__in=paid_items, live=True).aggregate(
                s=Sum("entry__amount")
            )["s"]
        )
        assert paid == linked
        for item_id, amount, total in PaymentItem.objects.annotate(
            t=Sum("links__entry__amount")
        ).values_list("pk", "amount", "t"):
            assert amount == fen(total) and amount > 0, item_id
        assert not PaymentItemEntry.objects.filter(
            item__state=PaymentItemState.FAILED, live=True
        ).exists()

    @invariant()
    def nothing_is_paid_twice(self) -> None:
        twice = (
            PaymentItemEntry.objects.filter(live=True)
            .values("entry_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        assert not twice.exists()

    @invariant()
    def no_claim_has_a_negative_paid_net(self) -> None:
        paid_net: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for claim_id, amount in PaymentItemEntry.objects.filter(
            live=True, item__state=PaymentItemState.PAID
        ).values_list("entry__claim_id", "entry__amount"):
            paid_net[claim_id] += amount
        assert all(v >= 0 for v in paid_net.values()), dict(paid_net)

    @invariant()
    def claims_are_paid_exactly_when_all_their_entries_are(self) -> None:
        paid_entries = set(
            PaymentItemEntry.objects.filter(
                live=True, item__state=PaymentItemState.PAID
            ).values_list("entry_id", flat=True)
        )
        entries: dict[int, list[int]] = defaultdict(list)
        for entry_id, claim_id in LedgerEntry.objects.values_list("pk", "claim_id"):
            entries[claim_id].append(entry_id)
        for claim_id, state in Claim.objects.values_list("pk", "state"):
            all_paid = bool(entries[claim_id]) and set(entries[claim_id]) <= paid_entries
            if state == ClaimState.PAID:
                assert all_paid, claim_id
            if state == ClaimState.APPROVED:
                assert not all_paid, claim_id

    @invariant()
    def applications_follow_the_model_and_pay_what_was_approved(self) -> None:
        for claim in Claim.objects.filter(pk__in=list(self.states)):
            expected = self.states[claim.pk]
            if expected == "approved":
                assert claim.state in ("approved", "paid")
                net = fen(claim.entries.aggregate(s=Sum("amount"))["s"])
                assert net == claim.target and ZERO < net <= (claim.requested or ZERO)
            else:
                assert claim.state == expected
                assert not claim.entries.exists()


@pytest.mark.django_db
def test_claims_and_payments_keep_their_invariants(
    tree, make_member, enrol, new_card, unit_admin, reviewer, city_admin
):
    members = [make_member(tree.u1, name=n, phone="13900000000") for n in ("甲", "乙")]
    for m in members:
        enrol(m)
    new_card(members[0])  # the second has no card until the machine issues one
    ClaimsAndPayments.world = {
        "version": members[0].enrollments.get().version,
        "members": members,
        "unit_admin": unit_admin,
        "reviewer": reviewer,
        "payer": city_admin,
    }
    # 40 runs of up to 40 steps: under 30 s, and enough to find a planted bug (letting a clawback
    # go out while the payout it takes back is still pending) from a fresh example database.
    run_state_machine_as_test(
        ClaimsAndPayments,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
