"""Metrics for Prometheus (/metrics): bookings by outcome and the settlement queue's depth, read
only from inside the network (the loopback address and HUZHU_TRUSTED_PROXIES)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from huzhu.core import metrics

pytestmark = pytest.mark.django_db


def sample(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(found[1]) if found else 0.0


def test_a_booking_and_a_refusal_are_counted_by_outcome(tree, make_member):
    from huzhu.benefits.bookings import booking_create
    from huzhu.core.errors import DomainError
    from huzhu.members.logins import member_login
    from huzhu.members.services import card_issue
    from tests.benefits.conftest import make_activity

    activity = make_activity(tree.xicheng, quota=1, title="冰雪节门票")
    first, second = make_member(tree.u1, name="甲"), make_member(tree.u2, name="乙")
    card_issue(member=first, card_no="HZ00000101")
    card_issue(member=second, card_no="HZ00000102")
    before = Client().get("/metrics").content.decode()
    booking_create(activity=activity, member=first, actor=member_login(member=first))
    with pytest.raises(DomainError) as refused:
        booking_create(activity=activity, member=second, actor=member_login(member=second))
    after = Client().get("/metrics").content.decode()
    booked = 'huzhu_bookings_total{outcome="booked"}'
    assert sample(after, booked) == sample(before, booked) + 1
    code = f'huzhu_bookings_total{{outcome="{refused.value.code}"}}'
    assert sample(after, code) == sample(before, code) + 1


def test_the_settlement_queue_depth_is_read_at_each_scrape(tree, make_staff):
    from huzhu.accounts.models import Role
    from huzhu.web.services import settlement_job_create

    settlement_job_create(
        data=b"id_number\\n", file_name="a.csv", actor=make_staff(Role.CITY_ADMIN, tree.city)
    )
    text = Client().get("/metrics").content.decode()
    assert sample(text, 'huzhu_settlement_jobs{state="pending"}') == 1
    assert sample(text, 'huzhu_settlement_jobs{state="running"}') == 0


def test_only_the_network_itself_may_read_the_metrics(settings):
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 404
    settings.HUZHU_TRUSTED_PROXIES = ["203.0.113.0/24"]
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200


def test_every_answer_is_counted_by_method_and_status_class_and_timed():
    seen: list[str] = []
    app = metrics.wsgi_metrics(lambda environ, start: [start("404 Not Found", []) or b"no"])
    before = metrics.REQUESTS.labels("POST", "4xx")._value.get()
    app({"REQUEST_METHOD": "POST"}, lambda status, headers: seen.append(status))
    assert seen == ["404 Not Found"]
    assert metrics.REQUESTS.labels("POST", "4xx")._value.get() == before + 1
