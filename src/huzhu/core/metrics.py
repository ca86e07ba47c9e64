"""Prometheus metrics of an app server: requests by status class and their time, bookings by
outcome, settlement rows imported and the seconds it took, and the settlement jobs waiting or
running (the queue's depth, counted when scraped: huzhu.web.health_views).

`huzhu serve` runs several worker processes: it points PROMETHEUS_MULTIPROC_DIR at a fresh
folder of the home before they start, so each worker writes its counts there and a scrape of any
worker adds them all up (prometheus_client's multiprocess mode). Without it (tests, one process)
the counts live in the process. `GET /metrics` answers only the loopback address and the
addresses of HUZHU_TRUSTED_PROXIES (where a Prometheus inside the network scrapes); others get
404, as for a page that is not there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "huzhu_http_requests_total",
    "HTTP requests answered, by method and status class",
    ["method", "status"],
)
REQUEST_SECONDS = Histogram(
    "huzhu_http_request_seconds",
    "Time to answer a request (to its first byte), in seconds",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BOOKINGS = Counter(
    "huzhu_bookings_total",
    "Booking attempts, by outcome (booked or the refusal's code)",
    ["outcome"],
)
SETTLEMENT_ROWS = Counter("huzhu_settlement_rows_total", "Settlement file rows imported")
SETTLEMENT_SECONDS = Counter(
    "huzhu_settlement_import_seconds_total", "Seconds spent importing settlement files"
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_metrics(app: WSGIApp) -> WSGIApp:
    """Count every answer of `app` (both of its lanes) by method and status class, and time it."""

    def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()

        def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            REQUESTS.labels(environ.get("REQUEST_METHOD", "GET"), f"{status[:1]}xx").inc()
            REQUEST_SECONDS.observe(time.perf_counter() - started)
            return start_response(status, headers, *args)

        return app(environ, start)

    return counted


def metrics_exposition(*read_now: Collector) -> tuple[bytes, str]:
    """The text a Prometheus scrape reads: every worker's counts (multiprocess mode) or this
    process's, and what the `read_now` collectors read at this moment (the queue's depth)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counts = generate_latest(registry)
    else:
        counts = generate_latest(REGISTRY)
    now = CollectorRegistry()
    for collector in read_now:
        now.register(collector)
    return counts + generate_latest(now), CONTENT_TYPE_LATEST
