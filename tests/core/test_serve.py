"""`huzhu serve`: the production server (granian) runs the application as `make run` does.

Started as a real process on an empty home (SQLite, the demo data loaded on first start), it
answers pages with the security headers, static files, the API's JSON errors, a member's
booking and voucher image, a big body, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from huzhu.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return self.call("GET", path, None, headers)

    def call(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("home")
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["HUZHU_HOME"] = str(home)
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "huzhu", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, (home / "serve.log").read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    try:
        yield Served(port)
        # and it stops cleanly on SIGTERM
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (home / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_pages_come_with_the_security_headers(served):
    server = served
    status, headers, body = server.get("/m/login/")
    assert status == 200 and "text/html" in headers["content-type"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "csrftoken=" in headers["set-cookie"]
    script = re.search(rb'src="(/static/[^"]+\.js)"', body)
    assert script is not None
    status, headers, js = server.get(script[1].decode())
    assert status == 200 and "javascript" in headers["content-type"] and js


def test_the_api_answers_json_errors_and_the_schema(served):
    server = served
    status, _h, body = server.call(
        "POST",
        "/api/v1/activities/1/bookings",
        b"{}",
        {"Authorization": "Bearer not-a-token", "Content-Type": "application/json"},
    )
    assert status == 401 and b'"code": "unauthorized"' in body
    status, _headers, body = server.get("/api/v1/openapi.json")
    assert status == 200 and b'"openapi"' in body


def test_a_member_signs_in_books_and_downloads_the_voucher(served):
    """The demo's member takes a token, books an activity, and fetches the voucher's QR code."""
    server = served
    status, _h, body = server.call(
        "POST",
        "/api/v1/auth/token",
        json.dumps({"username": "member1", "password": DEMO_PASSWORD}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    token = re.search(rb'"token": "([^"]+)"', body)
    assert token is not None
    auth = {"Authorization": f"Bearer {token[1].decode()}"}
    status, _h, listing = server.get("/api/v1/activities", **auth)
    assert status == 200
    first = re.search(rb'"id": (\d+)', listing)
    assert first is not None
    status, _h, booked = server.call(
        "POST",
        f"/api/v1/activities/{first[1].decode()}/bookings",
        b"{}",
        {**auth, "Content-Type": "application/json", "Idempotency-Key": "serve-test-1"},
    )
    assert status == 201, booked
    booking = re.search(rb'"id": (\d+)', booked)
    assert booking is not None
    status, headers, png = server.get(f"/api/v1/bookings/{booking[1].decode()}/voucher.png", **auth)
    assert status == 200 and headers["content-type"] == "image/png"
    assert png.startswith(b"\x89PNG")


def test_a_big_body_is_read_and_refused_not_dropped(served):
    server = served
    status, _h, body = server.call(
        "POST",
        "/api/v1/activities/1/bookings",
        b"x" * 3_000_000,
        {"Authorization": "Bearer not-a-token", "Content-Type": "application/json"},
    )
    assert 400 <= status < 500 and b'"error"' in body
