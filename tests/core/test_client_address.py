"""The client's address: X-Forwarded-For believed only from our proxies, read from the right."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from huzhu.core.client import client_address
from huzhu.core.config import int_setting, networks_setting


def _address(remote: str, forwarded: str | None = None) -> str:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


@pytest.fixture
def proxies(settings: Any) -> None:
    settings.HUZHU_TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]


def test_without_trusted_proxies_the_peer_is_the_client(settings):
    settings.HUZHU_TRUSTED_PROXIES = []
    assert _address("10.0.0.5", "203.0.113.7") == "10.0.0.5"


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("10.0.0.5", "203.0.113.7", "203.0.113.7"),
        # the client's own header before our proxy's entry proves nothing
        ("10.0.0.5", "192.0.2.1, 203.0.113.7", "203.0.113.7"),
        # two of our proxies in a row
        ("10.0.0.5", "192.0.2.1, 203.0.113.7, 10.1.1.1", "203.0.113.7"),
        # garbage written by the client is never reached; garbage after our proxy stops there
        ("10.0.0.5", "not-an-address, 203.0.113.7", "203.0.113.7"),
        ("10.0.0.5", "203.0.113.7, not-an-address", "10.0.0.5"),
        ("10.0.0.5", "", "10.0.0.5"),
        # ports, brackets, IPv4 written as IPv6
        ("10.0.0.5", "203.0.113.7:51234", "203.0.113.7"),
        ("10.0.0.5", "[2001:db8::1]:443", "2001:db8::1"),
        ("fd00::1", "::ffff:203.0.113.7", "203.0.113.7"),
        # a peer that is not our proxy: its header is ignored
        ("203.0.113.7", "198.51.100.9", "203.0.113.7"),
    ],
)
def test_forwarded_for_is_read_from_the_right_over_our_proxies(proxies, remote, forwarded, client):
    assert _address(remote, forwarded) == client


def test_a_header_of_thousands_of_hops_is_read_only_near_its_end(proxies):
    forwarded = ", ".join(["10.9.9.9"] * 5000)
    assert _address("10.0.0.5", forwarded) == "10.9.9.9"


def test_settings_from_the_environment_are_checked(monkeypatch):
    monkeypatch.setenv("HUZHU_TRUSTED_PROXIES", " 10.0.0.5, 10.1.0.0/16 ,fd00::/8")
    assert networks_setting("HUZHU_TRUSTED_PROXIES") == ["10.0.0.5/32", "10.1.0.0/16", "fd00::/8"]
    monkeypatch.setenv("HUZHU_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.example"):
        networks_setting("HUZHU_TRUSTED_PROXIES")
    monkeypatch.setenv("HUZHU_TOKEN_IDLE_DAYS", "0")
    with pytest.raises(ImproperlyConfigured):
        int_setting("HUZHU_TOKEN_IDLE_DAYS", 30, minimum=1)
    monkeypatch.setenv("HUZHU_TOKEN_IDLE_DAYS", "７")  # a full-width digit is no setting
    with pytest.raises(ImproperlyConfigured):
        int_setting("HUZHU_TOKEN_IDLE_DAYS", 30, minimum=1)
    monkeypatch.delenv("HUZHU_TOKEN_IDLE_DAYS")
    assert int_setting("HUZHU_TOKEN_IDLE_DAYS", 30, minimum=1) == 30
