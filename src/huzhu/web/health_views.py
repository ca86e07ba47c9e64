"""/healthz and /readyz for a load balancer: public, JSON, never cached. /healthz says the process
answers (no database: a database outage must not make every server restart); /readyz says it can
serve (huzhu.core.health), 503 naming the failed check otherwise. /metrics for a Prometheus
inside the network (huzhu.core.metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from huzhu.core import jobs
from huzhu.core.client import parse_address, trusted_peer
from huzhu.core.health import readiness
from huzhu.core.metrics import metrics_exposition
from huzhu.web.models import JobStatus, SettlementJob


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(answer.startswith("ok") for answer in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "fail", "checks": checks}, status=200 if ready else 503
    )


class SettlementQueue(Collector):
    """The settlement import jobs waiting and running, read from the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "huzhu_settlement_jobs", "Settlement import jobs, by state", labels=["state"]
        )
        waiting = (JobStatus.PENDING, JobStatus.RUNNING)
        rows = (
            SettlementJob.objects.filter(status__in=waiting)
            .values("status")
            .annotate(n=Count("id"))
            .order_by()
        )
        found = {row["status"]: row["n"] for row in rows}
        for state in waiting:
            depth.add_metric([str(state)], found.get(state, 0))
        yield depth
        queue = GaugeMetricFamily(
            "huzhu_queue_jobs", "Jobs in the PostgreSQL queue, by state", labels=["state"]
        )
        for queue_state, n in jobs.queue_depth().items():
            queue.add_metric([queue_state], n)
        yield queue
        yield GaugeMetricFamily(
            "huzhu_queue_workers", "Workers with a fresh heartbeat", value=jobs.live_workers()
        )


def _may_scrape(request: HttpRequest) -> bool:
    """The loopback address, or one of HUZHU_TRUSTED_PROXIES (the network's own machines)."""
    peer = parse_address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return False
    return peer.is_loopback or trusted_peer(peer)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        raise Http404
    body, content_type = metrics_exposition(SettlementQueue())
    return HttpResponse(body, content_type=content_type)
