"""A Hypothesis state machine over every way money leaves the fund (issues 14 and 22): claims
filed by hand (with and without the settlement's id, for stays the bureau sends later, sent
already, or never), one- and two-person approvals and rejections, bureau files (new stays,
resends, reversals, stays settled out of order), bureau payouts above the version's
`review_above` held until a reviewer releases or rejects them, disability lump sums (伤残) by
grade, staff corrections (one and two people), payment runs made, released by a second person
and answered by the bank.

The model keeps its own record of what was sent and decided — the set of stays — and after every
step recomputes what each stay should get with the readable rules (`rules.adjudicate_member`),
independently of the bulk engine and of how the steps interleaved:

- paid per member and version is never above the plan's cap (nor disability lump sums above
  the version's disability sum), and no claim's net is negative;
- a held payout is paid nothing more until a reviewer releases it;
- every claim's booked net, and the payouts export, equal that recomputation, each stay once;
- the money paid is the sum of the entries of paid transfers;
- every request through the API answers below 500, with what the model expects.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from huzhu.accounts.models import Role
from huzhu.members.services import card_issue, member_reveal_id_number
from huzhu.protection import rules
from huzhu.protection.models import (
    Claim,
    Enrollment,
    LedgerEntry,
    PaymentItem,
    PaymentItemEntry,
    PaymentItemState,
    PlanVersion,
)
from huzhu.protection.plans import plan_load_toml, terms_of
from huzhu.settlement.exports import payout_rows
from huzhu.settlement.services import settlements_import

ZERO = Decimal("0.00")
SEEN: Counter[str] = Counter()  # what the API answered, over all runs (printed with -s)
CAP = Decimal("8000.00")
THRESHOLD = Decimal("2000.00")
PLAN = """
code = "ZY"
name = "住院医疗"
benefit = "inpatient"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "60.00"
waiting_days = 30
review_above = "3000.00"
[inpatient]
deductible = "1000.00"
cap = "8000.00"
bands = [ { upto = "10000.00", ratio = "0.50" }, { ratio = "0.60" } ]
""".encode()
REVIEW = Decimal("3000.00")
DISABILITY_SUM = Decimal("20000.00")
ACCIDENT_PLAN = """
code = "YW"
name = "意外伤害"
benefit = "accident"
period_start = 2026-01-01
period_end = 2026-12-31
contribution = "20.00"
waiting_days = 0
[accident]
cap = "5000.00"
disability_sum = "20000.00"
""".encode()
HEADER = (
    "settlement_id,id_number,name,hospital,admitted_on,discharged_on,settled_on,total_cost,"
    "fund_paid,in_scope_self_pay,out_of_scope_self_pay,diagnosis_code,is_accident,reverses"
)


@dataclass(frozen=True)
class PoolStay:
    """A hospital stay that may come by either channel (or both)."""

    key: str
    member: int
    admitted: date
    discharged: date
    settled: date
    in_scope: Decimal


# Member 0 joined in March (covered from 2026-03-01, waiting to 2026-03-30); member 1 from the
# start of the year (waiting to 2026-01-30). Stays are settled out of the order of their keys,
# some in the waiting period, one before member 0's coverage starts.
POOL = [
    PoolStay("S1", 0, date(2026, 5, 2), date(2026, 5, 9), date(2026, 5, 30), Decimal("6000.00")),
    PoolStay("S2", 0, date(2026, 4, 4), date(2026, 4, 6), date(2026, 4, 7), Decimal("3000.00")),
    PoolStay("S3", 0, date(2026, 7, 1), date(2026, 7, 20), date(2026, 7, 21), Decimal("15000.00")),
    PoolStay("S4", 0, date(2026, 2, 10), date(2026, 2, 12), date(2026, 2, 12), Decimal("4000.00")),
    PoolStay("S5", 0, date(2026, 3, 20), date(2026, 3, 22), date(2026, 8, 1), Decimal("5000.00")),
    PoolStay("S6", 1, date(2026, 1, 20), date(2026, 1, 25), date(2026, 1, 26), Decimal("3000.00")),
    PoolStay("S7", 1, date(2026, 6, 1), date(2026, 6, 3), date(2026, 12, 1), Decimal("800.00")),
    PoolStay("S8", 1, date(2026, 9, 1), date(2026, 9, 30), date(2026, 10, 1), Decimal("15000.00")),
]
PAID_ON = {0: date(2026, 3, 1), 1: None}


@dataclass
class HandClaim:
    """What the model knows of a claim filed by hand."""

    pk: int
    stay: PoolStay
    with_ref: bool
    in_scope: Decimal  # as filed; the bureau's figures stand once its settlement takes over
    requested: Decimal
    state: str = "submitted"  # submitted | awaiting | approved | rejected
    first: str | None = None
    pending: Decimal | None = None
    limit: Decimal | None = None
    taken_by: str | None = None  # the settlement that took it over

    @property
    def key(self) -> str:
        return self.stay.key if self.with_ref else f"C{self.pk}"


@dataclass
class Sent:
    """A settlement the bureau sent: its stay and whether it was reversed."""

    stay: PoolStay
    reversed: bool = False
    limit: Decimal | None = None  # a staff correction of its claim


@dataclass
class Pending:
    kind: str
    amount: Decimal
    by: str


@dataclass
class Review:
    """A bureau settlement's claim held for a reviewer (state `held`), or awaiting its second
    approval."""

    state: str = "held"  # held | awaiting
    first: str | None = None
    pending: Decimal | None = None


@dataclass
class Disability:
    """A disability claim (伤残) of the third member, under the accident plan."""

    pk: int
    grade: int
    accident: date
    requested: Decimal
    state: str = "submitted"  # submitted | awaiting | approved | rejected
    first: str | None = None
    pending: Decimal | None = None
    limit: Decimal | None = None


@dataclass
class Model:
    terms: rules.VersionTerms
    version: int
    accident: rules.VersionTerms
    sent: dict[str, Sent] = field(default_factory=dict)
    hand: dict[int, HandClaim] = field(default_factory=dict)
    pending: dict[int, Pending] = field(default_factory=dict)  # claim id → correction
    # What each bureau settlement's claim holds (it differs from what the rules give while
    # the payout is held), and the settlements held for review.
    booked: dict[str, Decimal] = field(default_factory=dict)
    review: dict[str, Review] = field(default_factory=dict)
    disability: dict[int, Disability] = field(default_factory=dict)

    def recompute(self, member: int) -> None:
        """What the import and the ledger do when a member's stays change: each bureau claim
        gets what the rules give, unless that is above `review_above`, more than it holds, and
        no reviewer released it (its limit unset): then it is held, and keeps what it holds."""
        rows = self.rows(member)
        for key, sent in self.sent.items():
            if sent.stay.member != member:
                continue
            row = rows.get(key)
            raw = row.payable if row is not None and row.version is not None else ZERO
            have = self.booked.get(key, ZERO)
            if sent.limit is None and raw > REVIEW and raw > have:
                waiting = self.review.get(key)
                self.review[key] = waiting if waiting is not None else Review()
            else:
                self.booked[key] = raw
                self.review.pop(key, None)

    def bureau_state(self, key: str) -> str:
        waiting = self.review.get(key)
        if waiting is not None:
            return waiting.state
        return "approved" if self.booked.get(key, ZERO) > 0 else "rejected"

    def disability_assessed(self, claim: Disability) -> Decimal:
        others = [d for d in self.disability.values() if d is not claim and d.state == "approved"]
        same = sum((d.limit or ZERO for d in others if d.accident == claim.accident), ZERO)
        total = sum((d.limit or ZERO for d in others), ZERO)
        return rules.disability_assessment(
            self.accident, grade=claim.grade, same_accident=same, in_version=total
        ).assessed

    def enrolled(self, member: int) -> rules.Enrolled:
        return rules.Enrolled(self.version, self.terms, renews=False, paid_on=PAID_ON[member])

    def facts(self, stay: PoolStay, key: str, in_scope: Decimal) -> rules.SettlementFacts:
        return rules.SettlementFacts(
            settlement_id=key,
            admitted_on=stay.admitted,
            discharged_on=stay.discharged,
            settled_on=stay.settled,
            in_scope_self_pay=in_scope,
            out_of_scope_self_pay=ZERO,
            diagnosis_code=None,
            is_accident=False,
        )

    def db_state(self, claim: HandClaim) -> str:
        """The claim's state as stored: once the bureau's settlement took it over, as the
        bureau's claims are (held, or approved while it pays and rejected when it does not)."""
        if claim.taken_by:
            return self.bureau_state(claim.taken_by)
        return claim.state

    def duplicate(self, claim: HandClaim) -> bool:
        if claim.with_ref:
            return claim.stay.key in self.sent
        return any(
            not s.reversed
            and s.stay.member == claim.stay.member
            and (s.stay.admitted, s.stay.discharged) == (claim.stay.admitted, claim.stay.discharged)
            for s in self.sent.values()
        )

    def stays(
        self, member: int, *, extra: HandClaim | None = None, unlimited: object = None
    ) -> list[rules.Stay]:
        out = []
        for key, s in self.sent.items():
            if s.stay.member != member:
                continue
            limit = s.limit if unlimited != key else None
            out.append(
                rules.Stay(
                    self.facts(s.stay, key, s.stay.in_scope),
                    reversed=s.reversed,
                    limits={} if limit is None else {self.version: limit},
                )
            )
        for c in self.hand.values():
            live = c.state == "approved" or c is extra
            if c.stay.member != member or c.taken_by or not live or self.duplicate(c):
                continue
            limit = c.limit if unlimited != c.pk else None
            out.append(
                rules.Stay(
                    self.facts(c.stay, c.key, c.in_scope),
                    only_version=self.version,
                    limits={} if limit is None else {self.version: limit},
                )
            )
        return out

    def rows(self, member: int, **kw: Any) -> dict[str, rules.StayRow]:
        """Each stay's row under the version (or its row without one), by key."""
        found: dict[str, rules.StayRow] = {}
        for row in rules.adjudicate_member([self.enrolled(member)], self.stays(member, **kw)):
            found[row.key] = row
        return found

    def assessed(self, claim: HandClaim) -> Decimal:
        """What `claim_assessment` must say (its own limit left out)."""
        if claim.taken_by is None and self.duplicate(claim):
            return ZERO
        key = claim.taken_by or claim.key
        unlimited = claim.taken_by or claim.pk
        row = self.rows(claim.stay.member, extra=claim, unlimited=unlimited).get(key)
        return row.assessed if row is not None and row.version is not None else ZERO

    def payable(self, key: str, member: int) -> Decimal:
        row = self.rows(member).get(key)
        return row.payable if row is not None and row.version is not None else ZERO

    def net(self, claim: HandClaim) -> Decimal:
        if claim.taken_by:
            return self.booked.get(claim.taken_by, ZERO)
        if claim.state != "approved" or self.duplicate(claim):
            return ZERO
        return self.payable(claim.key, claim.stay.member)


# Mostly amounts the rules allow, so that claims get approved and paid; some that they don't.
amounts = st.sampled_from(
    ["assessed", "assessed", "half", "half", "1500.00", "over", "requested", "2500.00"]
)


class BothChannels(RuleBasedStateMachine):
    world: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        w = self.world
        self.model = Model(
            terms=terms_of(w["version"]),
            version=w["version"].pk,
            accident=terms_of(w["accident"]),
        )
        self.files = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    claims = Bundle("claims")
    runs = Bundle("runs")

    def api(self, who: str) -> Any:
        return self.world["api"][who]

    def answer(self, response: Any) -> tuple[int, Any]:
        assert response.status_code < 500, response.content
        body = response.json()
        SEEN[
            f"{response.status_code} {body.get('state') or body.get('error', {}).get('code')}"
        ] += 1
        return response.status_code, body

    # -- claims filed by hand ---------------------------------------------------------------------

    @rule(
        target=claims,
        index=st.integers(0, len(POOL) - 1),
        with_ref=st.booleans(),
        halved=st.booleans(),
        requested=st.sampled_from([Decimal("900.00"), Decimal("3000.00"), Decimal("8000.00")]),
    )
    def file(self, index: int, with_ref: bool, halved: bool, requested: Decimal) -> Any:
        stay = POOL[index]
        in_scope = stay.in_scope / 2 if halved else stay.in_scope
        form = {
            "member_id": self.world["members"][stay.member].pk,
            "plan_code": "ZY",
            "admitted_on": stay.admitted.isoformat(),
            "discharged_on": stay.discharged.isoformat(),
            "settled_on": stay.settled.isoformat(),
            "in_scope_self_pay": f"{in_scope:.2f}",
            "requested": f"{requested:.2f}",
        }
        if with_ref:
            form["settlement_id"] = stay.key
        live = [
            c
            for c in self.model.hand.values()
            if self.model.db_state(c) != "rejected" and c.stay is stay
        ]
        same = [c for c in live if c.with_ref] if with_ref else live
        api = self.api("unit")
        status, body = self.answer(api.client.post("/api/v1/claims", form, **api.headers))
        if same:
            assert (status, body["error"]["code"]) == (409, "duplicate_stay")
            return None
        assert status == 201, body
        claim = HandClaim(body["id"], stay, with_ref, in_scope, requested)
        self.model.hand[claim.pk] = claim
        assert Decimal(body["assessed"]) == self.model.assessed(claim)
        return claim.pk

    def _amount(self, claim: HandClaim, choice: str) -> Decimal:
        assessed = self.model.assessed(claim)
        if choice == "assessed":
            return max(assessed, Decimal("0.01"))
        if choice == "half":
            return max((assessed / 2).quantize(Decimal("0.01")), Decimal("0.01"))
        if choice == "over":
            return assessed + Decimal("0.01")
        if choice == "requested":
            return claim.requested
        return Decimal(choice)

    @rule(claim=claims, choice=amounts, who=st.sampled_from(["r1", "r2"]))
    def approve(self, claim: int | None, choice: str, who: str) -> None:
        self._approve(claim, choice, who)

    @rule(claim=claims, choice=amounts)
    def approve_twice(self, claim: int | None, choice: str) -> None:
        """A first and a second reviewer, one after the other (the way two people work)."""
        self._approve(claim, choice, "r1")
        if claim is None:
            return
        c = self.model.hand.get(claim) or self.model.disability[claim]
        if c.state == "awaiting":
            self._approve(claim, f"{c.pending:.2f}", "r2")

    def _approve(self, claim: int | None, choice: str, who: str) -> None:
        if claim is None:
            return
        if claim in self.model.disability:
            self._approve_disability(self.model.disability[claim], choice, who)
            return
        c = self.model.hand[claim]
        if c.taken_by is not None and c.taken_by in self.model.review:
            # The bureau's settlement took it over and its payout is held: a reviewer's call.
            self._release(c.taken_by, c.pk, c, choice, who)
            return
        amount = self._amount(c, choice)
        status, body = self.answer(
            self.api(who).post(
                f"/claims/{claim}/approve", {"amount": f"{amount:.2f}", "fast_track": True}
            )
        )
        assessed = self.model.assessed(c)
        too_much = amount > assessed or amount > c.requested
        if c.taken_by or c.state in ("approved", "rejected"):
            expected: Any = (409, "invalid_transition")
        elif c.state == "awaiting" and c.first == who:
            expected = (409, "same_approver")
        elif c.state == "awaiting" and amount != c.pending:
            expected = (409, "amount_mismatch")
        elif too_much:
            expected = (409, "exceeds_assessed")
        elif c.state == "submitted" and amount > THRESHOLD:
            expected = (200, "awaiting_second_approval")
            c.state, c.first, c.pending = "awaiting", who, amount
        else:
            expected = (200, "approved")
            c.state, c.limit, c.pending = "approved", amount, None
            self.model.recompute(c.stay.member)
        got = (status, body["state"] if status == 200 else body["error"]["code"])
        assert got == expected, (got, expected, c, assessed, amount)

    def _decision(
        self,
        target: Any,
        *,
        assessed: Decimal,
        amount: Decimal,
        requested: Decimal | None,
        who: str,
        open_state: str,
    ) -> Any:
        """The answer the model expects to an approval (shared by disability claims and held
        payouts), moving `target` (state, first, pending) as the service does."""
        too_much = amount > assessed or (requested is not None and amount > requested)
        if target.state not in (open_state, "awaiting"):
            return (409, "invalid_transition")
        if target.state == "awaiting" and target.first == who:
            return (409, "same_approver")
        if target.state == "awaiting" and amount != target.pending:
            return (409, "amount_mismatch")
        if too_much:
            return (409, "exceeds_assessed")
        if target.state == open_state and amount > THRESHOLD:
            target.state, target.first, target.pending = "awaiting", who, amount
            return (200, "awaiting_second_approval")
        target.state, target.pending = "approved", None
        return (200, "approved")

    def _approve_disability(self, d: Disability, choice: str, who: str) -> None:
        assessed = self.model.disability_assessed(d)
        amount = {
            "assessed": max(assessed, Decimal("0.01")),
            "half": max((assessed / 2).quantize(Decimal("0.01")), Decimal("0.01")),
            "over": assessed + Decimal("0.01"),
            "requested": d.requested,
        }.get(choice) or Decimal(choice)
        status, body = self.answer(
            self.api(who).post(
                f"/claims/{d.pk}/approve", {"amount": f"{amount:.2f}", "fast_track": True}
            )
        )
        expected = self._decision(
            d, assessed=assessed, amount=amount, requested=d.requested, who=who,
            open_state="submitted",
        )  # fmt: skip
        if expected == (200, "approved"):
            d.limit = amount
        got = (status, body["state"] if status == 200 else body["error"]["code"])
        assert got == expected, (got, expected, d, assessed, amount)

    # -- held payouts (review_above) --------------------------------------------------------------

    def _held_claim(self, index: int) -> tuple[str, int, HandClaim | None] | None:
        """The claim of a sent settlement: its key, id, and the hand claim it took over."""
        key = POOL[index].key
        claim_id = self._bureau_claim_or_none(key) if key in self.model.sent else None
        if claim_id is None:
            return None
        owner = next((c for c in self.model.hand.values() if c.taken_by == key), None)
        return key, owner.pk if owner else claim_id, owner

    @rule(index=st.integers(0, len(POOL) - 1), choice=amounts, two=st.booleans())
    def release_held(self, index: int, choice: str, two: bool) -> None:
        """A reviewer (and, above the threshold, a second one) approves a held payout."""
        found = self._held_claim(index)
        if found is None:
            return
        key, claim_id, owner = found
        for who in ("r1", "r2") if two else ("r1",):
            self._release(key, claim_id, owner, choice, who)

    def _release(
        self, key: str, claim_id: int, owner: HandClaim | None, choice: str, who: str
    ) -> None:
        member = self.model.sent[key].stay.member
        row = self.model.rows(member, unlimited=key).get(key)
        assessed = row.assessed if row is not None and row.version is not None else ZERO
        waiting = self.model.review.get(key)
        if waiting is not None and waiting.pending is not None:
            amount = waiting.pending
        elif choice in ("assessed", "half"):
            amount = assessed if choice == "assessed" else (assessed / 2).quantize(Decimal("0.01"))
        else:
            amount = assessed + Decimal("0.01")
        amount = max(amount, Decimal("0.01"))
        status, body = self.answer(
            self.api(who).post(
                f"/claims/{claim_id}/approve", {"amount": f"{amount:.2f}", "fast_track": True}
            )
        )
        target = waiting if waiting is not None else Review(state="closed")
        expected = self._decision(
            target,
            assessed=assessed,
            amount=amount,
            requested=owner.requested if owner is not None else None,
            who=who,
            open_state="held",
        )
        if expected == (200, "approved"):
            self.model.sent[key].limit = amount
            self.model.review.pop(key, None)
            self.model.recompute(member)
        got = (status, body["state"] if status == 200 else body["error"]["code"])
        assert got == expected, (got, expected, key, assessed, amount)

    @rule(index=st.integers(0, len(POOL) - 1))
    def reject_held(self, index: int) -> None:
        found = self._held_claim(index)
        if found is not None:
            self._reject_held(found[0], found[1])

    def _reject_held(self, key: str, claim_id: int) -> None:
        status, body = self.answer(
            self.api("r2").post(f"/claims/{claim_id}/reject", {"reason_code": "not_eligible"})
        )
        if key not in self.model.review:
            assert (status, body["error"]["code"]) == (409, "invalid_transition")
            return
        assert status == 200, body
        # It keeps what it held before it was held, and gets no more.
        self.model.sent[key].limit = self.model.booked.get(key, ZERO)
        self.model.review.pop(key, None)
        self.model.recompute(self.model.sent[key].stay.member)

    # -- disability lump sums ---------------------------------------------------------------------

    @rule(
        target=claims,
        grade=st.integers(1, 10),
        accident=st.sampled_from([date(2026, 2, 1), date(2026, 7, 1)]),
        requested=st.sampled_from([Decimal("6000.00"), Decimal("20000.00")]),
    )
    def file_disability(self, grade: int, accident: date, requested: Decimal) -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        api = self.api("unit")
        form = {
            "member_id": self.world["disabled"].pk,
            "plan_code": "YW",
            "disability_grade": str(grade),
            "event_date": accident.isoformat(),
            "requested": f"{requested:.2f}",
            "documents": [SimpleUploadedFile("鉴定书.pdf", b"%PDF-1.4", "application/pdf")],
        }
        status, body = self.answer(api.client.post("/api/v1/claims", form, **api.headers))
        live = [
            d
            for d in self.model.disability.values()
            if d.state != "rejected" and (d.grade, d.accident) == (grade, accident)
        ]
        if live:
            assert (status, body["error"]["code"]) == (409, "duplicate_claim")
            return None
        assert status == 201, body
        d = Disability(body["id"], grade, accident, requested)
        self.model.disability[d.pk] = d
        assert Decimal(body["assessed"]) == self.model.disability_assessed(d)
        return d.pk

    @rule(claim=claims, really=st.integers(0, 3))
    def reject(self, claim: int | None, really: int) -> None:
        if claim is None or really:  # one time in four: mostly, claims are decided otherwise
            return
        if claim in self.model.disability:
            d = self.model.disability[claim]
            status, body = self.answer(
                self.api("r2").post(f"/claims/{claim}/reject", {"reason_code": "not_eligible"})
            )
            if d.state in ("approved", "rejected"):
                assert (status, body["error"]["code"]) == (409, "invalid_transition")
            else:
                assert (status, body["state"]) == (200, "rejected")
                d.state, d.pending = "rejected", None
            return
        c = self.model.hand[claim]
        if c.taken_by is not None:
            self._reject_held(c.taken_by, c.pk)
            return
        status, body = self.answer(
            self.api("r2").post(f"/claims/{claim}/reject", {"reason_code": "not_eligible"})
        )
        if c.taken_by or c.state in ("approved", "rejected"):
            assert (status, body["error"]["code"]) == (409, "invalid_transition")
        else:
            assert (status, body["state"]) == (200, "rejected")
            c.state, c.pending = "rejected", None

    # -- bureau files -----------------------------------------------------------------------------

    @rule(
        picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=3, unique=True),
        reverse=st.lists(st.integers(0, len(POOL) - 1), max_size=1),
    )
    def bureau_file(self, picks: list[int], reverse: list[int]) -> None:
        lines = [HEADER]
        fresh: list[PoolStay] = []
        for i in picks:
            stay = POOL[i]
            lines.append(self._row(stay.key, stay))
            if stay.key not in self.model.sent:
                fresh.append(stay)
        reversals = []
        for i in reverse:
            key = POOL[i].key
            sent = self.model.sent.get(key)
            if sent is not None and not sent.reversed and POOL[i] not in fresh:
                lines.append(self._row(f"R-{key}", POOL[i], reverses=key))
                reversals.append(key)
        self.files += 1
        settlements_import(("\n".join(lines) + "\n").encode(), file=f"b{self.files}.csv")
        self._merge(fresh)
        for key in reversals:
            self.model.sent[key].reversed = True
        touched = {s.member for s in fresh} | {self.model.sent[k].stay.member for k in reversals}
        for member in sorted(touched):
            self.model.recompute(member)

    def _row(self, sid: str, stay: PoolStay, reverses: str = "") -> str:
        number = self.world["numbers"][stay.member]
        return (
            f"{sid},{number},某某,医院,{stay.admitted},{stay.discharged},{stay.settled},0,0,"
            f"{stay.in_scope:.2f},0.00,,0,{reverses}"
        )

    def _merge(self, fresh: list[PoolStay]) -> None:
        """The contract's "one stay, counted once", as the model sees it. A hand claim the
        settlement takes over keeps what it held (more waits for a reviewer when held)."""
        held = {c.pk: self.model.net(c) for c in self.model.hand.values()}
        for stay in fresh:
            candidates = sorted(
                (
                    c
                    for c in self.model.hand.values()
                    if c.stay is stay and c.state != "rejected" and c.taken_by is None
                ),
                key=lambda c: c.pk,
            )
            self.model.sent[stay.key] = Sent(stay)
            covered = self.model.enrolled(stay.member).covers(stay.admitted)
            for n, c in enumerate(candidates):
                if covered and n == 0:
                    c.taken_by, c.limit, c.pending = stay.key, None, None
                    self.model.booked[stay.key] = held[c.pk]
                else:
                    c.state, c.pending = "rejected", None

    # -- corrections by staff ---------------------------------------------------------------------

    @rule(
        index=st.integers(0, len(POOL) - 1),
        kind=st.sampled_from(["adjustment", "clawback"]),
        amount=st.sampled_from([Decimal("100.00"), Decimal("2500.00")]),
        who=st.sampled_from(["c1", "c2"]),
    )
    def correct_bureau_claim(self, index: int, kind: str, amount: Decimal, who: str) -> None:
        key = POOL[index].key
        sent = self.model.sent.get(key)
        claim_id = self._bureau_claim_or_none(key) if sent is not None else None
        if sent is None or claim_id is None or claim_id in self.model.hand:
            return
        member = sent.stay.member
        net = self.model.booked.get(key, ZERO)
        row = self.model.rows(member, unlimited=key).get(key)
        assessed = row.assessed if row is not None and row.version is not None else ZERO
        correctable = self.model.bureau_state(key) == "approved"
        self._correct(claim_id, key, correctable, net, assessed, kind, amount, who, member)

    @rule(
        claim=claims,
        kind=st.sampled_from(["adjustment", "clawback"]),
        amount=st.sampled_from([Decimal("100.00"), Decimal("2500.00")]),
        who=st.sampled_from(["c1", "c2"]),
    )
    def correct_hand_claim(self, claim: int | None, kind: str, amount: Decimal, who: str) -> None:
        if claim is None:
            return
        if claim in self.model.disability:
            d = self.model.disability[claim]
            net = d.limit if d.state == "approved" and d.limit is not None else ZERO
            self._correct(d.pk, "", d.state == "approved", net,
                          self.model.disability_assessed(d), kind, amount, who, None)  # fmt: skip
            return
        c = self.model.hand[claim]
        net = self.model.net(c)
        correctable = self.model.db_state(c) == "approved"
        self._correct(c.pk, c.taken_by or c.key, correctable, net, self.model.assessed(c),
                      kind, amount, who, c.stay.member)  # fmt: skip

    def _correct(
        self,
        claim_id: int,
        key: str,
        correctable: bool,
        net: Decimal,
        assessed: Decimal,
        kind: str,
        amount: Decimal,
        who: str,
        member: int | None,
    ) -> None:
        status, body = self.answer(
            self.api(who).post(
                f"/claims/{claim_id}/corrections",
                {
                    "kind": kind,
                    "amount": f"{amount:.2f}",
                    "reason_code": "invoice_error",
                    "note": "核对发票",
                },
            )
        )
        waiting = self.model.pending.get(claim_id)
        after = net + amount if kind == "adjustment" else net - amount
        if not correctable:
            expected: Any = (409, "invalid_transition")
        elif waiting is not None and waiting.by == who:
            expected = (409, "same_approver")
        elif waiting is not None and (waiting.kind, waiting.amount) != (kind, amount):
            expected = (409, "amount_mismatch")
        elif after < 0:
            expected = (409, "exceeds_paid")
        elif after > assessed:
            expected = (409, "exceeds_assessed")
        elif waiting is None and amount > THRESHOLD:
            expected = (201, "pending")
            self.model.pending[claim_id] = Pending(kind, amount, who)
        else:
            expected = (201, "booked")
            self.model.pending.pop(claim_id, None)
            self._set_limit(claim_id, key, after)
            if member is not None:
                self.model.recompute(member)
        got = (status, body["state"] if status == 201 else body["error"]["code"])
        assert got == expected, (got, expected, key, net, assessed)

    def _set_limit(self, claim_id: int, key: str, limit: Decimal) -> None:
        if claim_id in self.model.disability:
            self.model.disability[claim_id].limit = limit
            return
        hand = self.model.hand.get(claim_id)
        if hand is not None and hand.taken_by is None:
            hand.limit = limit
        else:
            self.model.sent[key].limit = limit

    # -- payment runs -----------------------------------------------------------------------------

    @rule(target=runs, maker=st.sampled_from(["c1", "c2"]), checker=st.sampled_from(["c1", "c2"]))
    def payment_run(self, maker: str, checker: str) -> Any:
        status, body = self.answer(self.api(maker).post("/payment-runs"))
        if status == 409:
            assert body["error"]["code"] == "nothing_to_pay"
            return None
        assert (status, body["state"]) == (201, "draft")
        ref = body["reference"]
        f = self.api(maker).get(f"/payment-runs/{ref}/file")
        assert (f.status_code, f.json()["error"]["code"]) == (409, "not_released")
        status, body = self.answer(self.api(checker).post(f"/payment-runs/{ref}/release"))
        if checker == maker:
            assert (status, body["error"]["code"]) == (409, "same_approver")
            self.answer(self.api("c2" if maker == "c1" else "c1").post(
                f"/payment-runs/{ref}/release"))  # fmt: skip
        else:
            assert (status, body["state"]) == (200, "released")
        return ref

    @rule(run=runs, paid=st.booleans())
    def bank_answers(self, run: str | None, paid: bool) -> None:
        if run is None:
            return
        for item in PaymentItem.objects.filter(run__reference=run, state="pending")[:1]:
            verb = "confirm" if paid else "fail"
            status, body = self.answer(
                self.api("c1").post(f"/payment-items/{item.reference}/{verb}")
            )
            assert (status, body["state"]) == (200, "paid" if paid else "failed")

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def never_above_the_cap_and_no_negative_claim(self) -> None:
        for member in self.world["members"]:
            total = LedgerEntry.objects.filter(claim__member=member).aggregate(s=Sum("amount"))
            assert ZERO <= (total["s"] or ZERO) <= CAP
        lump = LedgerEntry.objects.filter(claim__disability_grade__isnull=False)
        assert ZERO <= (lump.aggregate(s=Sum("amount"))["s"] or ZERO) <= DISABILITY_SUM
        nets = LedgerEntry.objects.values("claim_id").annotate(n=Sum("amount"))
        for claim_id, net in nets.values_list("claim_id", "n"):
            assert Decimal(str(net)).quantize(Decimal("0.01")) >= 0, claim_id

    @invariant()
    def every_claim_holds_what_the_rules_give_its_stay(self) -> None:
        nets = dict.fromkeys(Claim.objects.values_list("pk", flat=True), ZERO)
        for claim_id, amount in LedgerEntry.objects.values_list("claim_id", "amount"):
            nets[claim_id] += amount
        for c in self.model.hand.values():
            assert nets[c.pk] == self.model.net(c), (c, nets[c.pk])
        for d in self.model.disability.values():
            assert nets[d.pk] == (d.limit if d.state == "approved" else ZERO), d
        held = set(
            Claim.objects.filter(
                state__in=("held", "awaiting_second_approval"), settlement__isnull=False
            ).values_list("settlement__settlement_id", flat=True)
        )
        assert held == set(self.model.review)
        for key in self.model.sent:
            owner = next((c for c in self.model.hand.values() if c.taken_by == key), None)
            claim_id = owner.pk if owner else self._bureau_claim_or_none(key)
            if claim_id is not None:
                assert nets[claim_id] == self.model.booked.get(key, ZERO), key

    def _bureau_claim_or_none(self, key: str) -> int | None:
        found = Claim.objects.filter(
            settlement__settlement_id=key, version_id=self.model.version
        ).first()
        return found.pk if found else None

    @invariant()
    def the_export_lists_each_stay_once_as_recomputed(self) -> None:
        expected = set()
        for member in (0, 1):
            for key, row in self.model.rows(member).items():
                if row.key in self.model.sent:
                    paid = self.model.booked.get(key, ZERO)
                    reason = row.reason.value if row.reason else ""
                    if key in self.model.review:
                        reason = "HELD_FOR_REVIEW"
                elif any(
                    c.key == row.key and c.state == "approved" and not c.taken_by
                    for c in self.model.hand.values()
                ):
                    paid, reason = row.payable, row.reason.value if row.reason else ""
                else:
                    continue
                expected.add(
                    (key, row.plan_code, f"{row.base_amount:.2f}", f"{paid:.2f}",
                     "" if paid > 0 else reason)
                )  # fmt: skip
        got = {(r[0], r[2], r[3], r[4], r[5]) for r in payout_rows()}
        assert got == expected

    @invariant()
    def money_paid_is_the_entries_of_paid_transfers(self) -> None:
        paid = PaymentItem.objects.filter(state=PaymentItemState.PAID)
        total = sum(paid.values_list("amount", flat=True), ZERO)
        linked = sum(
            PaymentItemEntry.objects.filter(item__in=paid, live=True).values_list(
                "entry__amount", flat=True
            ),
            ZERO,
        )
        assert total == linked


@pytest.mark.django_db
def test_money_keeps_its_invariants_through_both_channels(
    tree, make_member, make_staff, api_as, settings
):
    settings.HUZHU_SECOND_APPROVAL_ABOVE = f"{THRESHOLD}"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    version, _ = plan_load_toml(PLAN, file="zy.toml")
    accident, _ = plan_load_toml(ACCIDENT_PLAN, file="yw.toml")
    members = [make_member(tree.u1, name=n) for n in ("甲", "乙")]
    disabled = make_member(tree.u1, name="丙")
    Enrollment.objects.create(member=disabled, version=accident, unit=disabled.unit,
                              payer="unit", amount=accident.contribution)  # fmt: skip
    card_issue(member=disabled, card_no="6222000000000099")
    for n, m in enumerate(members):
        Enrollment.objects.create(member=m, version=version, unit=m.unit, payer="unit",
                                  amount=version.contribution, paid_on=PAID_ON[n])  # fmt: skip
        card_issue(member=m, card_no=f"62220000000000{n:02d}")
    staff = {
        "unit": make_staff(Role.UNIT_ADMIN, tree.u1),
        "r1": make_staff(Role.REVIEWER, tree.xicheng),
        "r2": make_staff(Role.REVIEWER, tree.xicheng),
        "c1": make_staff(Role.CITY_ADMIN, tree.city),
        "c2": make_staff(Role.CITY_ADMIN, tree.city),
    }
    BothChannels.world = {
        "version": PlanVersion.objects.get(pk=version.pk),
        "accident": PlanVersion.objects.get(pk=accident.pk),
        "members": members,
        "disabled": disabled,
        "numbers": [
            member_reveal_id_number(member=m, actor=staff["c1"], reason="test") for m in members
        ],
        "api": {name: api_as(user) for name, user in staff.items()},
    }
    run_state_machine_as_test(BothChannels, settings=settings_())
    print(sorted(SEEN.items()))


def settings_() -> Any:
    return settings(
        max_examples=int(os.environ.get("HUZHU_MACHINE_EXAMPLES", 50)),
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
