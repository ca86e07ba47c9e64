"""A Hypothesis state machine over bookings and redemptions: first-come bookings (one activity
with per-day quotas), bookings retried with their Idempotency-Key, cancellations, a lottery
(register, draw, a winner cancels and the waiting list moves up), gate scans with nonces, scans
retried with the same nonce, forged vouchers and an offline gate's upload. After every step:

- no quota is exceeded, in total or on any day, and every quota counter equals the number of
  bookings that hold it;
- no member holds two bookings in one exclusive group;
- a voucher is redeemed at most once, and a cancelled booking is never redeemed;
- every scan is logged, failed ones too, and a retried scan (same gate and nonce) is not
  logged again;
- every booking is in the state the model expects;
- the booking figures of the statistics equal a recount of the bookings.

A random run checks these invariants and nothing else: which outcomes it happens upon is chance
(a replayed scan, or a cancelled voucher shown at the gate, may not come up in a given run), so it
requires none. Every outcome is reached on purpose by the walks after the machine: fixed
sequences of the same rules, named after the rule of the product they show, with the invariants
checked after every step as in a random run.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import pytest
from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from huzhu.accounts.models import Role
from huzhu.benefits.activities import activity_update
from huzhu.benefits.bookings import booking_cancel, booking_create
from huzhu.benefits.figures import BOOKING_FIGURES
from huzhu.benefits.lottery import lottery_draw
from huzhu.benefits.models import HOLDING, Activity, Booking, BookingStatus, Quota, Scan
from huzhu.benefits.redemption import OfflineScan, redemption_scan, redemption_upload
from huzhu.benefits.voucher_codes import voucher_code
from huzhu.core.errors import DomainError
from huzhu.members.models import Member
from tests.benefits.conftest import make_activity, members_twice_in_a_group

S = BookingStatus
# Answers a retry with the same Idempotency-Key gets again (benefits.idempotency.FINAL_CODES).
FINAL = {"sold_out", "already_booked_in_group", "already_booked", "window_closed", "not_eligible"}
# The world's activities: A, B and C share one exclusive group; B has per-day quotas; C is a
# lottery; D stands alone. Small quotas, so that the few members compete for them.
GROUPED = {"A", "B", "C"}
QUOTA = {"A": 2, "B": 3, "C": 2, "D": 1}
SHARDS = {"A": 2, "B": 2, "C": 2, "D": 1}  # rows the total is spread over (rules.shard_count)
DAY_QUOTA = {1: 1, 2: 2}  # B's days (offsets from today); day 3 has no quota, so is not bookable
NO_CARD = 6  # the member without an active card (the others hold one)


@dataclass
class Expect:
    """What the model expects of one booking."""

    member: int
    activity: str
    day: date | None
    status: str
    rank: int | None = None
    code: str | None = None  # the voucher, taken while the booking held quota
    gate: str = ""  # where it was redeemed


@dataclass(frozen=True)
class Request:
    """A booking request sent with an Idempotency-Key, and the first answer it got."""

    key: str
    member: int
    activity: str
    day: date | None
    answer: int | str  # the booking's id, or the error code


@dataclass(frozen=True)
class ScanSent:
    gate: str
    nonce: str
    code: str
    scanned_at: datetime
    result: str


def noon(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(12)))


class BookingsAndRedemptions(RuleBasedStateMachine):
    world: ClassVar[dict[str, Any]]  # set by the world fixture: today, activities, members, staff
    runs: ClassVar[int] = 0
    steps: ClassVar[int] = 0
    tally: ClassVar[Counter[str]] = Counter()  # outcomes met over all runs, printed, not required

    def __init__(self) -> None:
        super().__init__()
        # Each example runs in a savepoint rolled back at teardown, on top of the test's data.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        if connection.vendor == "postgresql":
            # A rollback does not rewind a PostgreSQL sequence; the lottery's draw order depends
            # on the entries' ids, so every example numbers its bookings from 1 (as on SQLite),
            # or Hypothesis would see the same steps behave differently.
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence('benefits_booking', 'id'), 1, false)"
                )
        type(self).runs += 1
        self.model: dict[int, Expect] = {}
        self.requests: list[Request] = []
        self.sent: list[ScanSent] = []
        self.closed: set[str] = set()  # activities whose booking window has closed
        self.drawn = False
        self.quota = dict(QUOTA)  # staff may change FCFS totals
        self.scans = 0  # rows the scan log must hold
        self.serial = itertools.count(1)
        self.today: date = self.world["today"]  # the activities' today, even past midnight
        self.outcomes: list[str] = []  # what each step met, in order

    def teardown(self) -> None:
        type(self).tally.update(self.outcomes)
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    bookings = Bundle("bookings")

    # -- the model -------------------------------------------------------------------------

    def _step(self) -> None:
        type(self).steps += 1

    def _saw(self, outcome: str) -> None:
        self.outcomes.append(outcome)

    def _activity(self, name: str) -> Activity:
        """Read afresh: the services decide on the activity's window and draw as passed in."""
        return Activity.objects.select_related("eligible_org", "organiser").get(
            pk=self.world["activities"][name]
        )

    def _member(self, who: int) -> Member:
        member: Member = self.world["members"][who]
        return member

    def _day(self, offset: int | None) -> date | None:
        return None if offset is None else self.today + timedelta(days=offset)

    def _holds_in_group(self, who: int) -> bool:
        return any(
            e.member == who and e.activity in GROUPED and e.status in HOLDING
            for e in self.model.values()
        )

    def _held(self, activity: str, day: date | None = None) -> int:
        return sum(
            1
            for e in self.model.values()
            if e.activity == activity and e.status in HOLDING and (day is None or e.day == day)
        )

    def _expect_book(self, who: int, activity: str, day: date | None) -> str:
        """The answer the services must give, in the order they check."""
        if activity in self.closed:
            return "window_closed"
        if who == NO_CARD:
            return "not_eligible"
        if activity == "B":
            if day is None:
                return "day_required"
            if (day - self.today).days not in DAY_QUOTA:
                return "invalid_day"
        lottery = activity == "C"
        if lottery and self._holds_in_group(who):
            return "already_booked_in_group"
        if not lottery and (
            self._held(activity) >= self.quota[activity]
            or (day is not None and self._held(activity, day) >= DAY_QUOTA[(day - self.today).days])
        ):
            return "sold_out"
        live = any(
            e.member == who and e.activity == activity and e.status not in (S.CANCELLED, S.LOST)
            for e in self.model.values()
        )
        if live or (activity in GROUPED and self._holds_in_group(who)):
            return "already_booked_in_group" if activity in GROUPED else "already_booked"
        return "ok"

    def _voucher(self, booking_id: int) -> str:
        return voucher_code(Booking.objects.select_related("activity", "member").get(pk=booking_id))

    def _now_holds(self, booking_id: int) -> None:
        e = self.model[booking_id]
        e.status = S.BOOKED
        e.code = self._voucher(booking_id)

    def _book(self, who: int, activity: str, day: date | None, key: str | None) -> int | str:
        expected = self._expect_book(who, activity, day)
        before = Booking.objects.count()
        try:
            booking = booking_create(
                activity=self._activity(activity),
                member=self._member(who),
                actor=self.world["staff"],
                idempotency_key=key,
                day=day,
            )
        except DomainError as exc:
            assert exc.code == expected, f"{exc.code}, expected {expected}"
            assert Booking.objects.count() == before
            self._saw(f"book:{exc.code}")
            return exc.code
        assert expected == "ok", f"booked, expected {expected}"
        self._saw("book:ok")
        assert booking.pk not in self.model
        lottery = activity == "C"
        assert booking.status == (S.REGISTERED if lottery else S.BOOKED)
        self.model[booking.pk] = Expect(who, activity, booking.day, booking.status)
        if not lottery:
            self._now_holds(booking.pk)
        return booking.pk

    # -- bookings --------------------------------------------------------------------------

    @rule(
        target=bookings,
        who=st.integers(0, NO_CARD),
        activity=st.sampled_from(sorted(QUOTA)),
        day=st.sampled_from([1, 2, 3, None]),
        keyed=st.booleans(),
    )
    def book(self, who: int, activity: str, day: int | None = None, keyed: bool = False) -> Any:
        self._step()
        on = self._day(day) if activity == "B" else None
        key = f"key-{next(self.serial)}" if keyed else None
        answer = self._book(who, activity, on, key)
        if key:
            self.requests.append(Request(key, who, activity, on, answer))
        return answer if isinstance(answer, int) else multiple()

    @rule(target=bookings, who=st.integers(0, NO_CARD))
    def register_for_the_lottery(self, who: int) -> Any:
        """The same as booking C, made likelier so that draws have waiting lists."""
        self._step()
        answer = self._book(who, "C", None, None)
        return answer if isinstance(answer, int) else multiple()

    @precondition(lambda self: self.requests)
    @rule(pick=st.integers(0, 1_000))
    def book_again_with_the_same_key(self, pick: int) -> None:
        """A client that lost the answer retries: it gets the first answer, whatever happened
        since (a cancelled booking comes back cancelled; a sold-out answer stays sold out)."""
        self._step()
        i = pick % len(self.requests)
        req = self.requests[i]
        if isinstance(req.answer, str) and req.answer not in FINAL:
            # Not remembered (bad input, busy): the retry is a new attempt with the same key.
            answer = self._book(req.member, req.activity, req.day, req.key)
            self.requests[i] = Request(req.key, req.member, req.activity, req.day, answer)
            return
        before = (
            Booking.objects.count(),
            list(Quota.objects.order_by("pk").values_list("used", flat=True)),
        )
        try:
            booking = booking_create(
                activity=self._activity(req.activity),
                member=self._member(req.member),
                actor=self.world["staff"],
                idempotency_key=req.key,
                day=req.day,
            )
        except DomainError as exc:
            assert exc.code == req.answer
        else:
            assert booking.pk == req.answer
            assert booking.status == self.model[booking.pk].status
        after = (
            Booking.objects.count(),
            list(Quota.objects.order_by("pk").values_list("used", flat=True)),
        )
        assert after == before, "a retry changed something"
        self._saw("book:replayed")

    @precondition(lambda self: any(self._held(a) for a in "ABD"))
    @rule(activity=st.sampled_from(["A", "B", "D"]), change=st.integers(-1, 2))
    def staff_change_the_quota(self, activity: str, change: int) -> None:
        """A new total spreads its free places over the shards again; never below what is held."""
        self._step()
        size = self._held(activity) + change
        try:
            activity_update(
                activity=self._activity(activity), actor=self.world["staff"], quota=size
            )
        except DomainError as exc:
            assert exc.code == ("invalid_quota" if size < 0 else "quota_below_used"), exc.code
            assert size < self._held(activity)
            self._saw(f"quota:{exc.code}")
            return
        assert size >= self._held(activity)
        self.quota[activity] = size
        self._saw("quota:changed")

    @rule(booking=bookings)
    def cancel(self, booking: int) -> None:
        self._step()
        e = self.model[booking]
        try:
            booking_cancel(booking=Booking.objects.get(pk=booking), actor=None)
        except DomainError as exc:
            assert exc.code == "already_redeemed" and e.status == S.REDEEMED, exc.code
            self._saw("cancel:already_redeemed")
            return
        assert e.status != S.REDEEMED, "a redeemed booking was cancelled"
        if e.status in (S.CANCELLED, S.LOST):
            return
        held = e.status == S.BOOKED
        e.status = S.CANCELLED
        self._saw("cancel:held" if held else "cancel:entry")
        if held and e.activity == "C" and self.drawn:
            self._expect_promotion()

    @precondition(
        lambda self: any(e.activity == "C" and e.status == S.BOOKED for e in self.model.values())
    )
    @rule()
    def a_lottery_winner_cancels(self) -> None:
        """As `cancel`, made likelier for winners so that the waiting list moves."""
        winner = min(
            pk for pk, e in self.model.items() if e.activity == "C" and e.status == S.BOOKED
        )
        self.cancel(winner)

    def _expect_promotion(self) -> None:
        """The freed place goes to the first on the waiting list who does not hold a booking in
        the group by now; those passed over for that reason can no longer win."""
        waiting = sorted(
            (e.rank or 0, pk)
            for pk, e in self.model.items()
            if e.activity == "C" and e.status == S.WAITLISTED
        )
        for _rank, pk in waiting:
            if self._holds_in_group(self.model[pk].member):
                self.model[pk].status = S.LOST
                self._saw("lottery:passed_over")
                continue
            self._now_holds(pk)
            self._saw("lottery:promoted")
            return

    # -- the lottery -----------------------------------------------------------------------

    def _entries(self) -> dict[int, Expect]:
        return {
            pk: e for pk, e in self.model.items() if e.activity == "C" and e.status == S.REGISTERED
        }

    # Drawn once enough have registered that some must wait.
    @precondition(lambda self: not self.drawn and len(self._entries()) > QUOTA["C"])
    @rule(seed=st.sampled_from(["上证指数 2021-01-20 收盘 3583.09", "s"]))
    def draw(self, seed: str) -> None:
        """The window closes, then staff draw; drawing again with the seed gives the same."""
        self._step()
        admin = self.world["admin"]
        try:
            lottery_draw(activity=self._activity("C"), seed=seed, actor=admin)
            raise AssertionError("drew while the window was open")
        except DomainError as exc:
            assert exc.code == "window_open"
        now = timezone.now()
        Activity.objects.filter(pk=self.world["activities"]["C"]).update(
            opens_at=now - timedelta(days=2), closes_at=now - timedelta(seconds=1)
        )
        self.closed.add("C")
        entries = self._entries()
        shut_out = {pk for pk, e in entries.items() if self._holds_in_group(e.member)}
        result = lottery_draw(activity=self._activity("C"), seed=seed, actor=admin)
        self.drawn = True
        winners, waiting, excluded = result["winners"], result["waiting"], result["excluded"]
        assert sorted(winners + waiting + excluded) == sorted(entries)
        assert set(excluded) == shut_out
        eligible = [pk for pk in result["entries"] if pk not in shut_out]
        assert winners == eligible[: QUOTA["C"]] and waiting == eligible[QUOTA["C"] :]
        assert lottery_draw(activity=self._activity("C"), seed=seed, actor=admin) == result
        try:
            lottery_draw(activity=self._activity("C"), seed=seed + "!", actor=admin)
            raise AssertionError("drew again with another seed")
        except DomainError as exc:
            assert exc.code == "already_drawn"
        ranks = dict(Booking.objects.filter(pk__in=entries).values_list("pk", "lottery_rank"))
        for pk in winners:
            self._now_holds(pk)
        for pk in waiting:
            self.model[pk].status = S.WAITLISTED
        for pk in excluded:
            self.model[pk].status = S.LOST
        for pk in entries:
            self.model[pk].rank = ranks[pk]
        self._saw("lottery:drawn")
        for _pk in waiting:
            self._saw("lottery:waiting")
        for _pk in excluded:
            self._saw("lottery:excluded")

    # -- redemption ------------------------------------------------------------------------

    def _expect_scan(self, booking: int | None, on_time: bool) -> str:
        if booking is None:
            return "invalid_code"
        e = self.model[booking]
        if e.status == S.REDEEMED:
            return "already_redeemed"  # when and where, whatever the day of the second scan
        if e.status not in HOLDING:
            return "voucher_cancelled"
        return "redeemed" if on_time else "not_valid_today"

    def _scan_time(self, booking: int, on_time: bool) -> datetime:
        e = self.model[booking]
        if on_time:
            return noon(e.day or self.today)
        return noon(self.today + timedelta(days=70))  # after every voucher's validity

    def _scanned(self, booking: int | None, result: str, gate: str, body: dict[str, Any]) -> None:
        """Book-keeping of one logged scan; checks the answer's details."""
        self.scans += 1
        self._saw(f"scan:{result}")
        if booking is None:
            return
        e = self.model[booking]
        if result == "redeemed":
            e.status, e.gate = S.REDEEMED, gate
        if result == "already_redeemed":
            assert body["gate"] == e.gate and body["redeemed_at"], body

    @rule(
        booking=bookings,
        gate=st.sampled_from(["东门1号", "西门2号"]),
        on_time=st.booleans(),
        with_nonce=st.booleans(),
    )
    def scan(
        self, booking: int, gate: str = "东门1号", on_time: bool = True, with_nonce: bool = False
    ) -> None:
        self._step()
        code = self.model[booking].code
        if code is None:
            self._scan_forged(booking)  # never held quota: no voucher to show
            return
        expected = self._expect_scan(booking, on_time)
        nonce = f"n{next(self.serial)}" if with_nonce else ""
        at = self._scan_time(booking, on_time)
        outcome = redemption_scan(
            code=code, gate=gate, actor=self.world["gate"], nonce=nonce, scanned_at=at
        )
        assert outcome.result == expected, f"{outcome.result}, expected {expected}"
        self._scanned(booking, outcome.result, gate, outcome.body)
        if nonce:
            self.sent.append(ScanSent(gate, nonce, code, at, outcome.result))

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(0, 1_000))
    def scan_again_with_the_same_nonce(self, pick: int) -> None:
        """A gate that lost the answer sends the scan again: the first answer, logged once."""
        self._step()
        first = self.sent[pick % len(self.sent)]
        outcome = redemption_scan(
            code=first.code,
            gate=first.gate,
            actor=self.world["gate"],
            nonce=first.nonce,
            scanned_at=first.scanned_at + timedelta(seconds=5),
        )
        assert outcome.result == first.result and outcome.body["replayed"] is True
        self._saw("scan:replayed")

    @rule(booking=bookings)
    def scan_forged(self, booking: int) -> None:
        """A voucher with a broken signature (or plain junk) is refused, and logged."""
        self._step()
        self._scan_forged(booking)

    def _scan_forged(self, booking: int) -> None:
        code = self.model[booking].code
        forged = code[:-6] + ("AAAAAA" if not code.endswith("AAAAAA") else "BBBBBB") if code else ""
        outcome = redemption_scan(code=forged or "junk", gate="东门1号", actor=self.world["gate"])
        assert outcome.result == "invalid_code"
        self._scanned(None, outcome.result, "东门1号", outcome.body)

    @rule(first=bookings, second=bookings)
    def offline_gate_uploads(self, first: int, second: int) -> None:
        """An offline gate saw two vouchers (maybe the same one twice) and uploads them later,
        the later one first: they are redeemed in the order seen, answered in the order sent."""
        self._step()
        picked = [b for b in (first, second) if self.model[b].code is not None]
        if not picked:
            return
        gate = "北门(离线)"
        times = [self._scan_time(b, True) + timedelta(minutes=10 - i) for i, b in enumerate(picked)]
        scans = [
            OfflineScan(
                code=self.model[b].code or "", scanned_at=t, nonce=f"off{next(self.serial)}"
            )
            for b, t in zip(picked, times, strict=True)
        ]
        outcomes = redemption_upload(gate=gate, scans=scans, actor=self.world["gate"])
        expected: dict[int, str] = {}
        for i in sorted(range(len(picked)), key=lambda i: times[i]):
            expected[i] = self._expect_scan(picked[i], on_time=True)
            self._scanned(picked[i], expected[i], gate, outcomes[i].body)
        assert [o.result for o in outcomes] == [expected[i] for i in range(len(picked))]
        self._saw("scan:offline_upload")

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def the_invariants_hold(self) -> None:
        """After every step, of a random run or of a walk."""
        self.quotas_are_never_exceeded_and_count_the_bookings_that_hold_them()
        self.nobody_holds_two_bookings_in_a_group()
        self.a_voucher_is_redeemed_at_most_once_and_never_after_cancelling()
        self.every_scan_is_logged_once()
        self.bookings_are_as_the_model_expects()
        self.the_booking_figures_equal_a_recount()

    def quotas_are_never_exceeded_and_count_the_bookings_that_hold_them(self) -> None:
        held = dict(
            Booking.objects.filter(status__in=HOLDING)
            .values("activity")
            .annotate(n=Count("id"))
            .values_list("activity", "n")
        )
        held_on_day = {
            (activity, day): n
            for activity, day, n in Booking.objects.filter(status__in=HOLDING, day__isnull=False)
            .values("activity", "day")
            .annotate(n=Count("id"))
            .values_list("activity", "day", "n")
        }
        names = {pk: name for name, pk in self.world["activities"].items()}
        assert not Quota.objects.filter(used__gt=F("size")).exists()  # no shard oversold
        for activity, day, used, size in (
            Quota.objects.values("activity", "day")  # a total's shards summed
            .annotate(used=Sum("used"), size=Sum("size"))
            .values_list("activity", "day", "used", "size")
        ):
            counted = held.get(activity, 0) if day is None else held_on_day.get((activity, day), 0)
            assert used == counted <= size, (names[activity], day, used, counted)
            assert used == self._held(names[activity], day)

    def the_booking_figures_equal_a_recount(self) -> None:
        """The statistics' figures, kept by the database, after bookings, lottery entries, a
        draw, promotions, cancellations and redemptions online and offline."""
        assert BOOKING_FIGURES.stored() == BOOKING_FIGURES.recounted()

    def nobody_holds_two_bookings_in_a_group(self) -> None:
        assert not members_twice_in_a_group().exists()

    def a_voucher_is_redeemed_at_most_once_and_never_after_cancelling(self) -> None:
        redeemed_scans = dict(
            Scan.objects.filter(result="redeemed")
            .values("booking")
            .annotate(n=Count("id"))
            .values_list("booking", "n")
        )
        assert all(n == 1 for n in redeemed_scans.values()), redeemed_scans
        statuses = dict(Booking.objects.values_list("pk", "status"))
        assert {pk for pk, s in statuses.items() if s == S.REDEEMED} == set(redeemed_scans)
        assert not Booking.objects.filter(status=S.CANCELLED, redeemed_at__isnull=False).exists()

    def every_scan_is_logged_once(self) -> None:
        assert Scan.objects.count() == self.scans

    def bookings_are_as_the_model_expects(self) -> None:
        actual = dict(Booking.objects.values_list("pk", "status"))
        assert actual == {pk: e.status for pk, e in self.model.items()}
        gates = dict(Booking.objects.filter(status=S.REDEEMED).values_list("pk", "redeemed_gate"))
        assert gates == {pk: e.gate for pk, e in self.model.items() if e.status == S.REDEEMED}


# 45 runs of 40 steps (~1,800 steps, ~10 s on SQLite): no example database, so a rerun explores
# afresh; a failure is still shrunk within the run.
EXAMPLES, STEPS = 45, 40


@pytest.fixture
def world(tree, card_holder, make_member, make_staff):
    """Activities A-D, six card holders and one member without a card (NO_CARD), and staff."""
    today = timezone.localdate()  # one today for the activities and the model

    def activity(name: str, **options: Any) -> Activity:
        return make_activity(
            tree.city,
            quota=QUOTA[name],
            shards=SHARDS[name],
            valid_from=today,
            valid_to=today + timedelta(days=60),
            **options,
        )

    days = {today + timedelta(days=d): n for d, n in DAY_QUOTA.items()}
    activities = {
        "A": activity("A", group="冬季冰雪", title="滑雪"),
        "B": activity("B", group="冬季冰雪", title="冰场", day_quotas=days),
        "C": activity("C", group="冬季冰雪", mode="lottery", title="温泉"),
        "D": activity("D", title="公园年票"),
    }
    members = [card_holder(unit) for unit in (tree.u1, tree.u1, tree.u2, tree.u2, tree.u3, tree.u3)]
    members.append(make_member(tree.u1, name="无卡"))  # NO_CARD
    BookingsAndRedemptions.world = {
        "today": today,
        "activities": {name: a.pk for name, a in activities.items()},
        "members": [Member.objects.select_related("unit").get(pk=m.pk) for m in members],
        "staff": make_staff(Role.CITY_ADMIN, tree.city),
        "admin": make_staff(Role.CITY_ADMIN, tree.city),
        "gate": make_staff(Role.GATE, tree.city),
    }
    return BookingsAndRedemptions.world


@pytest.mark.django_db
def test_bookings_and_redemptions_keep_their_invariants(world):
    m = BookingsAndRedemptions
    m.runs = m.steps = 0
    m.tally = Counter()
    run_state_machine_as_test(
        m,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    # What this run happened upon, for the curious (pytest -s): informative only. The walks below
    # reach every outcome on purpose, so no outcome is required of a random run.
    print(
        f"\n{m.runs} runs, {m.steps} steps: "
        + ", ".join(f"{k} {v}" for k, v in sorted(m.tally.items()))
    )


# -- walks: fixed sequences of the machine's rules ------------------------------------------------


class Walk:
    """The machine driven by hand through a fixed sequence of its rules, as Hypothesis drives it:
    each step checks the services' answers against the model, then the invariants are checked.
    A step returns what the rule returns (the booking's id, or None when the rule added none)."""

    def __init__(self, machine: BookingsAndRedemptions) -> None:
        self.machine = machine
        machine.the_invariants_hold()

    def __getattr__(self, rule: str) -> Any:
        if rule.startswith("_"):
            raise AttributeError(rule)
        method = getattr(self.machine, rule)

        def step(**arguments: Any) -> Any:
            result = method(**arguments)
            self.machine.the_invariants_hold()
            return result if isinstance(result, int) else None  # a refusal adds no booking

        return step

    @property
    def outcomes(self) -> list[str]:
        return self.machine.outcomes

    def status(self, booking: int) -> str:
        return self.machine.model[booking].status

    def waiting_list(self) -> list[int]:
        """The lottery's waiting entries, in draw order."""
        model = self.machine.model
        return sorted(
            (pk for pk, e in model.items() if e.activity == "C" and e.status == S.WAITLISTED),
            key=lambda pk: model[pk].rank or 0,
        )


@pytest.fixture
def walk(world):
    machine = BookingsAndRedemptions()
    yield Walk(machine)
    machine.teardown()


@pytest.mark.django_db
def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(walk):
    first = walk.book(who=0, activity="A", keyed=True)
    walk.book(who=1, activity="A")  # A's two places are taken
    walk.book(who=2, activity="A", keyed=True)  # sold out
    walk.book_again_with_the_same_key(pick=0)  # the same booking, nothing taken twice
    walk.cancel(booking=first)  # a place is free again...
    walk.book_again_with_the_same_key(pick=0)  # ...but the retry gets the booking, now cancelled
    walk.book_again_with_the_same_key(pick=1)  # and the sold-out answer stays sold out
    assert walk.book(who=2, activity="A", keyed=True)  # a new request (a new key) takes it
    assert walk.outcomes == [
        "book:ok",
        "book:ok",
        "book:sold_out",
        "book:replayed",
        "cancel:held",
        "book:replayed",
        "book:replayed",
        "book:ok",
    ]


@pytest.mark.django_db
def test_a_member_books_one_activity_of_an_exclusive_group(walk):
    walk.book(who=0, activity="A")
    walk.book(who=0, activity="B", day=1)  # B is in A's group
    walk.register_for_the_lottery(who=0)  # so is C
    walk.book(who=0, activity="A")
    walk.book(who=0, activity="D")  # D stands alone
    walk.staff_change_the_quota(activity="D", change=1)  # room for a second booking of D...
    walk.book(who=0, activity="D")  # ...but not for the same member
    walk.book(who=NO_CARD, activity="D")  # without an active card
    assert walk.outcomes == [
        "book:ok",
        "book:already_booked_in_group",
        "book:already_booked_in_group",
        "book:already_booked_in_group",
        "book:ok",
        "quota:changed",
        "book:already_booked",
        "book:not_eligible",
    ]


@pytest.mark.django_db
def test_a_day_is_required_and_neither_a_day_nor_the_total_is_oversold(walk):
    walk.book(who=0, activity="B", keyed=True)  # no day
    walk.book_again_with_the_same_key(pick=0)  # bad input is not remembered: asked afresh
    walk.book(who=0, activity="B", day=3)  # a day without a quota
    walk.book(who=0, activity="B", day=1)
    walk.book(who=1, activity="B", day=1)  # day 1 has one place
    walk.book(who=1, activity="B", day=2)
    walk.book(who=2, activity="B", day=2)
    walk.book(who=3, activity="B", day=2)  # day 2's two places, and B's three, are taken
    assert walk.outcomes == [
        "book:day_required",
        "book:day_required",
        "book:invalid_day",
        "book:ok",
        "book:sold_out",
        "book:ok",
        "book:ok",
        "book:sold_out",
    ]


@pytest.mark.django_db
def test_staff_change_a_quota_but_never_below_what_is_held(walk):
    walk.book(who=0, activity="A")
    walk.book(who=1, activity="A")  # A's two places are taken
    walk.staff_change_the_quota(activity="A", change=-1)
    walk.staff_change_the_quota(activity="D", change=-1)  # D holds none: a negative quota
    walk.staff_change_the_quota(activity="A", change=1)
    walk.book(who=2, activity="A")  # the new place
    walk.staff_change_the_quota(activity="A", change=0)
    walk.book(who=3, activity="A")
    assert walk.outcomes == [
        "book:ok",
        "book:ok",
        "quota:quota_below_used",
        "quota:invalid_quota",
        "quota:changed",
        "book:ok",
        "quota:changed",
        "book:sold_out",
    ]


@pytest.mark.django_db
def test_a_cancelled_booking_frees_its_place_and_its_voucher_is_refused(walk):
    booking = walk.book(who=0, activity="D")  # D's one place
    walk.cancel(booking=booking)
    walk.scan(booking=booking)  # the voucher taken before cancelling
    walk.book(who=1, activity="D")  # the place came back
    walk.cancel(booking=booking)  # cancelling again changes nothing (no outcome)
    entry = walk.register_for_the_lottery(who=2)
    walk.cancel(booking=entry)  # an entry held no place
    assert walk.outcomes == [
        "book:ok",
        "cancel:held",
        "scan:voucher_cancelled",
        "book:ok",
        "book:ok",
        "cancel:entry",
    ]


@pytest.mark.django_db
def test_a_voucher_is_redeemed_once_and_then_says_when_and_where(walk):
    booking = walk.book(who=0, activity="A")
    walk.scan(booking=booking, gate="东门1号")
    walk.scan(booking=booking, gate="西门2号")  # answered with 东门1号 and the time (checked)
    walk.scan(booking=booking, gate="西门2号", on_time=False)  # a double use on any day
    walk.cancel(booking=booking)  # too late to cancel
    other = walk.book(who=1, activity="A")
    walk.scan(booking=other, on_time=False)  # outside its validity: refused, not used up
    walk.scan(booking=other)
    assert walk.status(booking) == walk.status(other) == S.REDEEMED
    assert walk.outcomes == [
        "book:ok",
        "scan:redeemed",
        "scan:already_redeemed",
        "scan:already_redeemed",
        "cancel:already_redeemed",
        "book:ok",
        "scan:not_valid_today",
        "scan:redeemed",
    ]


@pytest.mark.django_db
def test_a_replayed_scan_is_not_logged_twice(walk):
    booking = walk.book(who=0, activity="A")
    walk.scan(booking=booking, on_time=False, with_nonce=True)
    walk.scan(booking=booking, with_nonce=True)
    walk.scan_again_with_the_same_nonce(pick=1)  # the gate lost the answer: redeemed, not twice
    walk.scan_again_with_the_same_nonce(pick=0)  # a refusal is replayed as it was
    assert Scan.objects.count() == 2
    assert walk.outcomes == [
        "book:ok",
        "scan:not_valid_today",
        "scan:redeemed",
        "scan:replayed",
        "scan:replayed",
    ]


@pytest.mark.django_db
def test_a_forged_voucher_is_refused_and_logged(walk):
    booking = walk.book(who=0, activity="A")
    walk.scan_forged(booking=booking)  # its signature broken
    entry = walk.register_for_the_lottery(who=1)
    walk.scan(booking=entry)  # an entry has no voucher: the gate is shown junk
    walk.scan(booking=booking)  # the real voucher is still good
    assert Scan.objects.count() == 3
    assert walk.outcomes == [
        "book:ok",
        "scan:invalid_code",
        "book:ok",
        "scan:invalid_code",
        "scan:redeemed",
    ]


@pytest.mark.django_db
def test_an_offline_gate_redeems_in_the_order_seen_and_reports_a_double_use(walk):
    first = walk.book(who=0, activity="A")
    second = walk.book(who=1, activity="A")
    walk.scan(booking=first, gate="东门1号")  # used online before the offline gate uploads
    walk.offline_gate_uploads(first=first, second=second)
    third = walk.book(who=2, activity="D")
    walk.offline_gate_uploads(first=third, second=third)  # one voucher seen twice offline
    assert walk.outcomes == [
        "book:ok",
        "book:ok",
        "scan:redeemed",
        "scan:redeemed",  # second, seen first
        "scan:already_redeemed",  # first, at 东门1号
        "scan:offline_upload",
        "book:ok",
        "scan:redeemed",  # the earlier sighting, though sent second
        "scan:already_redeemed",
        "scan:offline_upload",
    ]


@pytest.mark.django_db
def test_the_lottery_is_drawn_once_after_its_window_and_shuts_out_group_holders(walk):
    entries = [walk.register_for_the_lottery(who=who) for who in range(4)]
    walk.register_for_the_lottery(who=1)  # one entry each
    walk.book(who=0, activity="A")  # an entry holds no place: member 0 may still book A
    walk.draw(seed="上证指数 2021-01-20 收盘 3583.09")  # not while open; same seed, same draw
    walk.register_for_the_lottery(who=4)
    assert walk.status(entries[0]) == S.LOST
    assert Counter(walk.status(e) for e in entries[1:]) == {S.BOOKED: 2, S.WAITLISTED: 1}
    assert walk.outcomes == [
        *["book:ok"] * 4,
        "book:already_booked_in_group",
        "book:ok",
        "lottery:drawn",
        "lottery:waiting",
        "lottery:excluded",
        "book:window_closed",
    ]


@pytest.mark.django_db
def test_a_winner_who_cancels_frees_a_place_for_the_first_waiting_who_can_take_it(walk):
    for who in range(5):
        walk.register_for_the_lottery(who=who)
    walk.draw(seed="s")  # two win, three wait
    passed_over, promoted, still_waiting = walk.waiting_list()
    # The first on the waiting list books A meanwhile (waiting holds no place in the group)...
    walk.book(who=walk.machine.model[passed_over].member, activity="A")
    walk.a_lottery_winner_cancels()  # ...so the freed place goes to the second
    assert walk.status(passed_over) == S.LOST
    assert walk.status(promoted) == S.BOOKED
    assert walk.status(still_waiting) == S.WAITLISTED
    walk.a_lottery_winner_cancels()  # the last on the list moves up
    assert walk.status(still_waiting) == S.BOOKED
    walk.a_lottery_winner_cancels()  # nobody is left waiting: the place stays free
    assert walk.waiting_list() == []
    assert walk.outcomes == [
        *["book:ok"] * 5,
        "lottery:drawn",
        *["lottery:waiting"] * 3,
        "book:ok",
        "cancel:held",
        "lottery:passed_over",
        "lottery:promoted",
        "cancel:held",
        "lottery:promoted",
        "cancel:held",
    ]
