"""Phones waiting for the opening moment: what their polling costs the server, against booking.

The benefits page (site.js, "opening") counts down by the server's clock and sends nothing
before the opening; from 1–3 s after it, one count of places every ~5 s while places remain,
every ~30 s once sold out. This measures, in this process through Django's full request path
(middleware, session, the view, the database), the server CPU of one such poll against one
booking (the member's tap, POST /m/benefits/<id>/book/), and prints:

- requests per waiting phone per minute, before the opening, while places remain, sold out
  (read from the constants in site.js, so that the figures follow the page);
- CPU per poll and per booking (process time, the database's included on SQLite, where it runs
  in this process; on PostgreSQL its server's CPU is not counted on either side);
- the ratio poll/booking, and the polling's cost over a flash crowd's sell-out: `--phones`
  phones waiting for `--tickets` places sold out in `--sell-out` seconds (the seed's figures),
  polling as the page does, against the bookings themselves.

    .venv/bin/python bench/waiting_phones.py [--database-url postgres://…] [--requests 2000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "src"))

from _common import setup_database  # noqa: E402


def page_schedule() -> dict[str, float]:
    """The page's polling intervals, in milliseconds, as site.js has them."""
    text = (ROOT / "src/huzhu/web/static/web/site.js").read_text(encoding="utf-8")
    found = {
        name: float(value)
        for name, value in re.findall(r"var (OPEN_POLL_MS|SOLD_OUT_POLL_MS) = (\d+);", text)
    }
    if set(found) != {"OPEN_POLL_MS", "SOLD_OUT_POLL_MS"}:
        raise SystemExit("site.js: OPEN_POLL_MS and SOLD_OUT_POLL_MS not found")
    return found


def cpu_per_request(send: object, count: int, rounds: int = 3) -> float:
    """Median over `rounds` of the process time per request, in milliseconds."""
    per: list[float] = []
    for _ in range(rounds):
        start = time.process_time()
        for i in range(count):
            send(i)  # type: ignore[operator]
        per.append((time.process_time() - start) * 1000 / count)
    return statistics.median(per)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default: SQLite)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--phones", type=int, default=40_000)
    parser.add_argument("--tickets", type=int, default=16_000)
    parser.add_argument("--sell-out", type=float, default=13.0, help="seconds to sell out")
    args = parser.parse_args()
    vendor = setup_database(args.database_url, "phones")

    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from huzhu.benefits.activities import activity_create
    from huzhu.core.idnumber import check_char
    from huzhu.members.logins import member_login
    from huzhu.members.services import card_issue, member_create_or_update, org_create

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # Django's test client
    n = args.requests
    city = org_create(code="C", name="市总工会", kind="city", parent=None)
    district = org_create(code="D1", name="区总工会", kind="district", parent=city)
    unit = org_create(code="U1", name="基层工会", kind="unit", parent=district)
    now = timezone.now()
    activity = activity_create(
        actor=None,
        title="冰雪节门票",
        venue="怀柔滑雪场",
        quota=n * 3 + 10,
        opens_at=now - timedelta(minutes=1),
        closes_at=now + timedelta(days=1),
        valid_from=date.today(),
        valid_to=date.today() + timedelta(days=30),
        eligible_org=city,
    )
    clients: list[Client] = []
    for i in range(n * 3):
        first17 = f"110102{date(1960, 1, 1) + timedelta(days=i):%Y%m%d}{i % 1000:03d}"
        member, _ = member_create_or_update(
            id_number=first17 + check_char(first17), name=f"会员{i}", unit=unit, phone=f"138{i:08d}"
        )
        card_issue(member=member, card_no=f"HZ{i:08d}")
        client = Client()
        client.force_login(member_login(member=member))
        clients.append(client)
    print(f"database: {vendor}; {n} requests a measurement, {len(clients)} members", flush=True)

    poll_url = f"/m/benefits/remaining/?ids={activity.pk}"
    book_url = f"/m/benefits/{activity.pk}/book/"

    def poll(i: int) -> None:
        r = clients[i].get(poll_url)
        assert r.status_code == 200, r.status_code

    booked = iter(clients)

    def book(i: int) -> None:
        r = next(booked).post(book_url)
        assert r.status_code == 302, r.status_code

    poll(0)  # warm
    poll_ms = cpu_per_request(poll, n)
    book_ms = cpu_per_request(book, n)
    schedule = page_schedule()
    per_minute_open = 60_000 / schedule["OPEN_POLL_MS"]
    per_minute_sold_out = 60_000 / schedule["SOLD_OUT_POLL_MS"]
    # Over the sell-out, each waiting phone polls first 1–3 s (2 s on average) after the
    # opening, then every OPEN_POLL_MS; each books once.
    polls = args.phones * max(0.0, (args.sell_out - 2.0) / (schedule["OPEN_POLL_MS"] / 1000) + 1)
    print("requests per waiting phone per minute:")
    print("  before the opening: 0 (the countdown runs on the phone)")
    print(f"  while places remain: {per_minute_open:.1f}")
    print(f"  sold out: {per_minute_sold_out:.1f}")
    print(f"server CPU per poll: {poll_ms:.2f} ms; per booking: {book_ms:.2f} ms")
    print(f"ratio poll/booking (CPU per request): {poll_ms / book_ms:.2f}")
    print(
        f"over a sell-out of {args.tickets} places to {args.phones} phones in "
        f"{args.sell_out:g} s: {polls:,.0f} polls take {polls * poll_ms / 1000:.1f} s of CPU, "
        f"{args.phones:,} booking taps {args.phones * book_ms / 1000:.1f} s"
    )
    print(
        "ratio polling/booking (CPU over the sell-out): "
        f"{(polls * poll_ms) / (args.phones * book_ms):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
