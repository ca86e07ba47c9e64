"""`huzhu serve`: the production server (granian) runs the application as `make run` does.

Started as a real process on an empty home (SQLite, the demo data loaded on first start), it
answers pages with the security headers, static files, the API's JSON errors, a member's
booking and voucher image, a big body, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from huzhu.core import sealed
from huzhu.core.pii import PiiVault
from huzhu.demo import DEMO_PASSWORD
from tests.served import Served, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("home")
    port = free_port()
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
        yield Served(port, home)
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


def test_static_files_have_hashed_names_come_compressed_and_are_kept_for_a_year(served):
    """A phone on a weak network downloads site.css once, gzipped, and keeps it until it
    changes (its name changes with its content)."""
    _status, _headers, body = served.get("/m/login/")
    css = re.search(rb'href="(/static/web/site\.([0-9a-f]{12})\.css)"', body)
    assert css is not None, body[:800]
    status, headers, gz = served.get(css[1].decode(), **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert "immutable" in headers["cache-control"]
    assert int(re.search(r"max-age=(\d+)", headers["cache-control"])[1]) >= 365 * 24 * 3600
    plain = (ROOT / "src/huzhu/web/static/web/site.css").read_bytes()
    assert gzip.decompress(gz) == plain and len(gz) < len(plain) / 2
    assert hashlib.md5(plain).hexdigest()[:12] == css[2].decode()
    assert (served.home / "static" / "staticfiles.json").is_file()


def test_pages_come_gzipped_to_a_browser_that_asks(served):
    status, headers, body = served.get("/m/login/", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert "会员登录" in gzip.decompress(body).decode()
    status, headers, body = served.get("/m/login/")
    assert "content-encoding" not in headers and "会员登录" in body.decode()


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


def test_staff_upload_a_big_settlement_file_through_the_console(served):
    """A 20 MB multipart upload arrives whole: the file kept for the import is the one sent."""
    server = served
    token = server.csrf("/login/")
    form = urllib.parse.urlencode(
        {"username": "admin", "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token}
    ).encode()
    status, headers, _body = server.call(
        "POST", "/login/", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 302, _body[:500]
    header = b"settlement_id,id_number,name,hospital,admitted_on,discharged_on,settled_on\n"
    rows = b"".join(
        b"JS%014d,11010519491231002X,x,h,2026-01-01,2026-01-02,2026-01-03\n" % i
        for i in range(300_000)
    )
    data = header + rows
    boundary = "----huzhu-serve-test"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{server.csrf('/console/settlements/')}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="bureau.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert len(body) > 20_000_000
    media = server.home / "media"
    before = {p for p in media.rglob("*.sealed")}  # the demo's own settlement file is there
    status, headers, page = server.call(
        "POST",
        "/console/settlements/",
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 302 and "/console/settlements/" in headers["location"], page[:500]
    # Kept sealed under the server's own PII key (its home's pii_key), as it was sent.
    kept = [p for p in media.rglob("*.sealed") if p.is_file() and p not in before]
    with sqlite3.connect(server.home / "huzhu.sqlite3") as db:
        (key_cipher,) = db.execute(
            "SELECT key_cipher FROM web_settlementjob ORDER BY id DESC LIMIT 1"
        ).fetchone()
    vault = PiiVault((server.home / "pii_key").read_text().strip())
    key = base64.b64decode(vault.decrypt(key_cipher))
    opened = [b"".join(sealed.unseal(p.open("rb"), key)) for p in kept]
    assert [hashlib.sha256(o).hexdigest() for o in opened] == [hashlib.sha256(data).hexdigest()]


def test_a_prometheus_inside_the_network_reads_every_workers_counts(served):
    """Each worker counts in files of $HUZHU_HOME/metrics; a scrape of any worker sums them."""
    for _ in range(3):
        served.get("/m/login/")
    status, headers, body = served.get("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    counted = re.search(r'huzhu_http_requests_total\{method="GET",status="2xx"\} (\d+)', text)
    assert counted is not None and float(counted[1]) >= 3, text[:2000]
    assert "huzhu_http_request_seconds_bucket" in text
    assert 'huzhu_bookings_total{outcome="booked"}' in text  # the member's booking above
    assert 'huzhu_settlement_jobs{state="pending"}' in text
    assert any((served.home / "metrics").glob("*.db"))
