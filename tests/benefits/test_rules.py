"""The pure rules: booking windows, eligibility, validity, the lottery draw, voucher signatures."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huzhu.benefits import rules, vouchers
from huzhu.benefits.rules import Entry, Window, lottery_draw


def test_window_opens_at_noon_inclusive_and_closes_exclusive():
    opens = datetime(2021, 1, 13, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
    closes = datetime(2021, 2, 28, 16, 0, tzinfo=UTC)
    assert rules.window_state(opens - timedelta(microseconds=1), opens, closes) is Window.BEFORE
    assert rules.window_state(opens, opens, closes) is Window.OPEN
    assert rules.window_state(closes, opens, closes) is Window.CLOSED


def test_eligibility_needs_subtree_active_card_and_roll():
    ok = dict(
        member_unit_path="/1/3/9/", eligible_path="/1/3/", member_active=True, has_active_card=True
    )
    assert rules.eligibility_problem(**ok) is None
    assert rules.eligibility_problem(**{**ok, "eligible_path": "/1/2/"})
    assert rules.eligibility_problem(**{**ok, "has_active_card": False})
    assert rules.eligibility_problem(**{**ok, "member_active": False})
    # /1/3/ is not a prefix of /1/30/: paths end with a slash for that reason
    assert rules.eligibility_problem(**{**ok, "member_unit_path": "/1/30/9/"})


def test_voucher_valid_on_its_day_or_within_validity():
    f, t = date(2021, 1, 13), date(2021, 2, 28)
    assert rules.valid_on(date(2021, 2, 1), valid_from=f, valid_to=t, booked_day=None)
    assert not rules.valid_on(date(2021, 3, 1), valid_from=f, valid_to=t, booked_day=None)
    assert rules.valid_on(date(2021, 2, 1), valid_from=f, valid_to=t, booked_day=date(2021, 2, 1))
    assert not rules.valid_on(
        date(2021, 2, 2), valid_from=f, valid_to=t, booked_day=date(2021, 2, 1)
    )


def test_draw_depends_only_on_seed_and_entries_not_their_order():
    entries = [Entry(id=i, member=1000 + i) for i in range(1, 200)]
    shuffled = entries[:]
    random.Random(5).shuffle(shuffled)
    a = lottery_draw(seed="2021-01-20 北京怀柔", entries=entries, capacity=50)
    b = lottery_draw(seed="2021-01-20 北京怀柔", entries=shuffled, capacity=50)
    assert a == b
    assert len(a.winners) == 50 and len(a.waiting) == 149
    c = lottery_draw(seed="another seed", entries=entries, capacity=50)
    assert c.winners != a.winners


def test_draw_order_is_the_published_hmac_sort():
    import hashlib
    import hmac

    seed, ids = "s", [3, 1, 2]
    expected = sorted(
        ids, key=lambda i: hmac.new(b"s", str(i).encode(), hashlib.sha256).hexdigest()
    )
    assert rules.draw_order(seed, ids) == expected


def test_member_who_won_in_the_group_cannot_win_again():
    entries = [Entry(id=1, member=7), Entry(id=2, member=8), Entry(id=3, member=9)]
    draw = lottery_draw(seed="x", entries=entries, capacity=3, excluded_members={8})
    assert draw.excluded == [2]
    assert sorted(draw.winners) == [1, 3]


def test_day_quotas_limit_winners_per_day():
    d1, d2 = date(2021, 1, 20), date(2021, 1, 21)
    entries = [Entry(id=i, member=i, day=d1 if i % 2 else d2) for i in range(1, 21)]
    draw = lottery_draw(seed="x", entries=entries, capacity=10, day_capacity={d1: 2, d2: 8})
    by_id = {e.id: e for e in entries}
    assert sum(by_id[w].day == d1 for w in draw.winners) == 2
    assert sum(by_id[w].day == d2 for w in draw.winners) == 8


@given(
    members=st.lists(st.integers(1, 30), min_size=0, max_size=60),
    capacity=st.integers(0, 40),
    excluded=st.sets(st.integers(1, 30)),
    seed=st.text(min_size=1, max_size=20),
)
def test_draw_never_exceeds_capacity_nor_gives_a_member_two(members, capacity, excluded, seed):
    entries = [Entry(id=i + 1, member=m) for i, m in enumerate(members)]
    draw = lottery_draw(seed=seed, entries=entries, capacity=capacity, excluded_members=excluded)
    by_id = {e.id: e for e in entries}
    winners = [by_id[w].member for w in draw.winners]
    assert len(winners) <= capacity
    assert len(set(winners)) == len(winners)
    assert not set(winners) & excluded
    assert sorted(draw.winners + draw.waiting + draw.excluded) == sorted(by_id)
    # Nobody eligible waits while quota is left.
    assert len(draw.winners) == min(capacity, len({m for m in members if m not in excluded}))


def test_draw_refuses_an_empty_seed():
    with pytest.raises(ValueError):
        lottery_draw(seed="", entries=[], capacity=1)


# -- vouchers -------------------------------------------------------------------------------------

DATA = vouchers.VoucherData(
    activity=1,
    booking=42,
    member="abcdef0123456789",
    valid_from=date(2021, 1, 13),
    valid_to=date(2021, 2, 28),
)


def test_voucher_verifies_offline_with_the_public_key():
    private, public = vouchers.keypair_new()
    code = vouchers.encode(DATA, private)
    assert code.startswith("HZ1.")
    assert vouchers.decode(code, public) == DATA
    assert vouchers.encode(DATA, private) == code  # deterministic: the same QR every time
    assert "BEGIN PUBLIC KEY" in vouchers.public_key_pem(public)


def test_tampered_or_foreign_voucher_is_refused():
    private, public = vouchers.keypair_new()
    _other_private, other_public = vouchers.keypair_new()
    code = vouchers.encode(DATA, private)
    forged = vouchers.encode(
        vouchers.VoucherData(**{**DATA.__dict__, "booking": 43}), _other_private
    )
    head, _payload, sig = code.split(".")
    _h, forged_payload, _s = forged.split(".")
    for bad in (f"{head}.{forged_payload}.{sig}", "HZ1.x.y", "hello", code[:-4] + "AAAA"):
        with pytest.raises(vouchers.InvalidVoucher):
            vouchers.decode(bad, public)
    with pytest.raises(vouchers.InvalidVoucher):
        vouchers.decode(code, other_public)


def test_qr_images():
    private, _public = vouchers.keypair_new()
    code = vouchers.encode(DATA, private)
    assert vouchers.qr_image(code, "png").startswith(b"\x89PNG")
    assert b"<svg" in vouchers.qr_image(code, "svg")


# -- quota shards ---------------------------------------------------------------------------------


def test_a_big_quota_is_spread_over_shards_a_small_one_is_not():
    assert rules.shard_count(16_000) == 8  # the ski resort's rush: 8 rows of 2,000
    assert rules.shard_count(1_500) == 3
    assert rules.shard_count(499) == 1 and rules.shard_count(1) == 1
    assert rules.shard_sizes(16_000, 8) == [2_000] * 8
    assert rules.shard_sizes(30, 4) == [8, 8, 7, 7]


@given(size=st.integers(0, 100_000), count=st.integers(1, rules.QUOTA_SHARDS_MAX))
def test_shards_add_up_to_the_quota_and_differ_by_at_most_one(size, count):
    sizes = rules.shard_sizes(size, count)
    assert sum(sizes) == size and len(sizes) == count and max(sizes) - min(sizes) <= 1


@given(
    used=st.lists(st.integers(0, 50), min_size=1, max_size=rules.QUOTA_SHARDS_MAX),
    extra=st.integers(0, 400),
)
def test_a_new_total_keeps_what_every_shard_gave_and_shares_the_rest(used, extra):
    size = sum(used) + extra
    sizes = rules.shards_resized(used, size)
    assert sum(sizes) == size
    assert all(s >= u for s, u in zip(sizes, used, strict=True))
    free = [s - u for s, u in zip(sizes, used, strict=True)]
    assert max(free) - min(free) <= 1


def test_a_total_below_what_is_taken_is_refused():
    with pytest.raises(ValueError):
        rules.shards_resized([3, 2], 4)


@given(remaining=st.lists(st.integers(0, 30), min_size=1, max_size=8), data=st.data())
def test_a_draws_winners_take_places_from_shards_in_order(remaining, data):
    places = data.draw(st.integers(0, sum(remaining)))
    taken = rules.shards_taking(remaining, places)
    assert sum(taken) == places
    assert all(0 <= t <= r for t, r in zip(taken, remaining, strict=True))
    # a shard gives only once every shard before it is empty
    for i, t in enumerate(taken):
        if t and i:
            assert all(taken[j] == remaining[j] for j in range(i))
    with pytest.raises(ValueError):
        rules.shards_taking(remaining, sum(remaining) + 1)
