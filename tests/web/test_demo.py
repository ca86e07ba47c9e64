"""The demo data shows every area on a first `make run`: the mutual-aid side included."""

from __future__ import annotations

import pytest
from django.test import Client

from huzhu.accounts.models import User
from huzhu.protection.models import Claim, ClaimSource, ClaimState, PaymentRun, RunState
from huzhu.web.models import JobStatus, SettlementJob


@pytest.mark.django_db
def test_the_demo_has_payouts_a_paid_run_and_claims_waiting(settings, tmp_path):
    from huzhu.demo import demo_load

    settings.MEDIA_ROOT = tmp_path
    demo_load()
    job = SettlementJob.objects.get()
    assert job.status == JobStatus.DONE and job.report["matched"] > 100
    assert job.report["reasons"].get("NOT_MEMBER") == 1  # the stranger in the bureau's file
    run = PaymentRun.objects.get()
    assert run.state == RunState.RELEASED and run.released_by.username == "finance"
    assert run.created_by.username == "admin"
    waiting = Claim.objects.filter(source=ClaimSource.APPLICATION)
    assert sorted(waiting.values_list("state", flat=True)) == [
        ClaimState.ACCEPTED, ClaimState.SUBMITTED, ClaimState.SUBMITTED
    ]  # fmt: skip
    for login in ("member1", "member2"):
        client = Client()
        client.force_login(User.objects.get(username=login))
        html = client.get("/m/payouts/").content.decode()
        assert "计算过程" in html and "已到账" in html, login
    assert demo_load()  # a second time changes nothing
    assert SettlementJob.objects.count() == 1 and PaymentRun.objects.count() == 1
