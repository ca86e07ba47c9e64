"""Lighthouse (npm, with Debian's Chromium) on the public member pages, on its mobile profile
(a mid-range phone on a slow 4G network, simulated): performance, accessibility and best
practices, with the page's weight as it travels, served as `make run` serves it (`huzhu serve`:
hashed static files, gzip, a year-long cache).

The baseline, measured in the same run: the same pages with the static files served as they were
before (from the apps, uncompressed, cached 60 s: HUZHU_STATIC_MANIFEST unset, no gzip asked), so
the ratio of transferred bytes shows what compression and caching save a phone.

    .venv/bin/python bench/lighthouse.py [--pages / /m/login/ /m/stations/] [--lighthouse 12.8.2]

Needs Node.js and npm (Lighthouse comes through `npx`) and /usr/bin/chromium (`make browser`).
`--bytes-only` measures the bytes alone, without Lighthouse (the test suite runs it so).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HUZHU_CHROMIUM", "/usr/bin/chromium")
FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
CATEGORIES = ("performance", "accessibility", "best-practices")
TIMINGS = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HUZHU_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    env.pop("HUZHU_STATIC_MANIFEST", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "huzhu", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(home / "serve.log").open("wb"),
    )
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/m/login/", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit((home / "serve.log").read_text())


def lighthouse(url: str, version: str, out: Path) -> dict[str, object]:
    cmd = [
        "npx", "--yes", f"lighthouse@{version}", url, "--quiet",
        f"--chrome-flags={FLAGS}", f"--only-categories={','.join(CATEGORIES)}",
        "--output=json", f"--output-path={out}",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, env={**os.environ, "CHROME_PATH": CHROMIUM})
    report = json.loads(out.read_text())
    audits = report["audits"]
    return {
        **{c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES},
        **{t: round(audits[t]["numericValue"]) for t in TIMINGS},
        "bytes": round(audits["total-byte-weight"]["numericValue"]),
        "failed": [
            ref["id"]
            for ref in report["categories"]["best-practices"]["auditRefs"]
            if ref["weight"] and (audits[ref["id"]]["score"] or 1) < 1
        ],
    }


def page_bytes(base: str, path: str, *, compressed: bool) -> int:
    """The bytes a browser downloads for the page and the scripts and styles it links: gzip
    asked for (as now), or not, with the files under their names without hashes (as served
    before this change, from the apps)."""
    asked = {"Accept-Encoding": "gzip" if compressed else "identity"}

    def fetch(url: str) -> tuple[bytes, bytes]:
        with urllib.request.urlopen(urllib.request.Request(url, headers=asked), timeout=30) as r:
            body = r.read()
            gzipped = r.headers.get("Content-Encoding") == "gzip"
        return body, gzip.decompress(body) if gzipped else body

    sent, page = fetch(base + path)
    total = len(sent)
    for link in re.findall(rb'(?:src|href)="(/static/[^"]+)"', page):
        name = link.decode()
        if not compressed:
            name = re.sub(r"\.[0-9a-f]{12}\.", ".", name)
        total += len(fetch(base + name)[0])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="+", default=["/", "/m/login/", "/m/stations/"])
    parser.add_argument("--lighthouse", default="12.8.2")
    parser.add_argument("--bytes-only", action="store_true", help="without Lighthouse")
    args = parser.parse_args()
    if not args.bytes_only and shutil.which("npx") is None:
        raise SystemExit("needs npx (Node.js and npm) to run Lighthouse")
    home = Path(tempfile.mkdtemp(prefix="huzhu-lighthouse-"))
    port = free_port()
    proc = serve(home, port)
    base = f"http://127.0.0.1:{port}"
    try:
        if args.bytes_only:
            print("page            bytes: plain→gzip")
        else:
            print(f"Lighthouse {args.lighthouse}, mobile profile, Chromium at {CHROMIUM}")
            print("page            perf  a11y  best  FCP ms  LCP ms  TBT ms  bytes   plain→gzip")
        for path in args.pages:
            before = page_bytes(base, path, compressed=False)
            now = page_bytes(base, path, compressed=True)
            weight = f"{before}→{now} ({now / before:.2f}x)"
            if args.bytes_only:
                print(f"{path:<15} {weight}")
                continue
            r = lighthouse(base + path, args.lighthouse, home / "report.json")
            print(
                f"{path:<15} {r['performance']:>4}  {r['accessibility']:>4}  "
                f"{r['best-practices']:>4}  {r['first-contentful-paint']:>6}  "
                f"{r['largest-contentful-paint']:>6}  {r['total-blocking-time']:>6}  "
                f"{r['bytes']:>6}  {weight}"
            )
            if r["failed"]:
                print(f"                best-practices audits not passed: {r['failed']}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
