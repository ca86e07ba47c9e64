"""Sign-in codes by SMS (issue 16): the same answers for any phone (who is a member does not
leak), limits per phone, per address and for the whole city, no code in the log."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huzhu.core import sms

MEMBER_PHONE = "13812345678"
STRANGER_PHONE = "13987654321"


@pytest.fixture
def outbox(settings: Any) -> list[sms.Sms]:
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.MemoryBackend"
    sms.outbox.clear()
    return sms.outbox


class Clock:
    """django.utils.timezone.now, moved forward on demand (codes and limits live in time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch: Any) -> Iterator[Clock]:
    real: Callable[[], datetime] = timezone.now
    moved = Clock()
    monkeypatch.setattr(timezone, "now", lambda: real() + moved.offset)
    yield moved


def _post(client: Client, capture: Any, **data: str) -> Any:
    with capture(execute=True):
        return client.post("/m/login/", data)


def _answer(response: Any) -> tuple[int, list[str], bool]:
    """What the page tells the person: status, messages, whether it asks for a code."""
    html = response.content.decode()
    messages = re.findall(r'<p class="(?:error|ok)" role="(?:alert|status)">([^<]*)</p>', html)
    return response.status_code, messages, 'name="code"' in html


def _code(outbox: list[sms.Sms]) -> str:
    match = re.search(r"\b(\d{6})\b", outbox[-1].text)
    assert match, outbox[-1].text
    return match.group(1)


def test_member_and_stranger_phones_get_the_same_answers(
    tree, make_member, outbox, django_capture_on_commit_callbacks
):
    make_member(tree.u1, phone=MEMBER_PHONE)
    member, stranger = Client(REMOTE_ADDR="198.51.100.1"), Client(REMOTE_ADDR="198.51.100.2")
    capture = django_capture_on_commit_callbacks

    def both(**data: str) -> tuple[Any, Any]:
        return (
            _answer(_post(member, capture, phone=MEMBER_PHONE, **data)),
            _answer(_post(stranger, capture, phone=STRANGER_PHONE, **data)),
        )

    first = both(action="send")
    assert first[0] == first[1] and first[0][0] == 200
    wrong = f"{(int(_code(outbox)) + 1) % 1_000_000:06d}"
    again = both(action="send")  # at once: too soon, for members and strangers alike
    assert again[0] == again[1], again
    for _ in range(6):
        tried = both(action="verify", code=wrong)
        assert tried[0] == tried[1], tried
    assert len(outbox) == 1


def test_one_address_cannot_ask_codes_for_many_phones(
    tree, make_member, outbox, settings, django_capture_on_commit_callbacks
):
    settings.HUZHU_SMS_PER_ADDRESS = 10
    phones = [f"1380000{n:04d}" for n in range(15)]
    for phone in phones:
        make_member(tree.u1, phone=phone)
    client = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [
        _post(client, django_capture_on_commit_callbacks, phone=p, action="send").status_code
        for p in phones
    ]
    assert statuses == [200] * 10 + [429] * 5
    assert len(outbox) == 10
    # Another address is not affected.
    other = _post(
        Client(REMOTE_ADDR="198.51.100.9"),
        django_capture_on_commit_callbacks,
        phone="13900001111",
        action="send",
    )
    assert other.status_code == 200


def test_the_whole_city_gets_at_most_so_many_codes_an_hour(
    tree, make_member, outbox, settings, clock, django_capture_on_commit_callbacks
):
    settings.HUZHU_SMS_PER_HOUR = 3
    phones = [f"1370000{n:04d}" for n in range(4)]
    for phone in phones:
        make_member(tree.u1, phone=phone)
    statuses = [
        _post(
            Client(REMOTE_ADDR=f"198.51.100.{n}"),
            django_capture_on_commit_callbacks,
            phone=phone,
            action="send",
        ).status_code
        for n, phone in enumerate(phones)
    ]
    assert statuses == [200, 200, 200, 429]
    assert len(outbox) == 3
    clock.advance(hours=1, seconds=1)
    r = _post(Client(), django_capture_on_commit_callbacks, phone=phones[3], action="send")
    assert r.status_code == 200 and len(outbox) == 4


def test_one_phone_gets_at_most_so_many_codes_an_hour(
    tree, make_member, outbox, settings, clock, django_capture_on_commit_callbacks
):
    settings.HUZHU_SMS_PER_PHONE = 5
    make_member(tree.u1, phone=MEMBER_PHONE)
    statuses = []
    for n in range(6):
        client = Client(REMOTE_ADDR=f"198.51.100.{n}")
        statuses.append(
            _post(
                client, django_capture_on_commit_callbacks, phone=MEMBER_PHONE, action="send"
            ).status_code
        )
        clock.advance(seconds=61)
    assert statuses == [200] * 5 + [429]
    assert len(outbox) == 5


def test_the_log_backend_prints_no_code_outside_development(
    tree, make_member, settings, caplog, django_capture_on_commit_callbacks
):
    settings.HUZHU_SMS_BACKEND = "huzhu.core.sms.LogBackend"
    settings.DEBUG = False
    make_member(tree.u1, phone=MEMBER_PHONE)
    caplog.set_level(logging.INFO, logger="huzhu.sms")
    _post(Client(), django_capture_on_commit_callbacks, phone=MEMBER_PHONE, action="send")
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "huzhu.sms")
    assert "138****5678" in logged
    assert not re.search(r"\d{4,}", logged.replace("138****5678", "")), logged


def test_the_log_backend_prints_the_code_in_development(tree, make_member, settings, caplog):
    settings.DEBUG = True
    caplog.set_level(logging.INFO, logger="huzhu.sms")
    sms.LogBackend().send(MEMBER_PHONE, "验证码 123456")
    assert "123456" in caplog.text and MEMBER_PHONE not in caplog.text
