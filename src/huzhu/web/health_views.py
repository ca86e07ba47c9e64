"""/healthz and /readyz for a load balancer: public, JSON, never cached. /healthz says the process
answers (no database: a database outage must not make every server restart); /readyz says it can
serve (huzhu.core.health), 503 naming the failed check otherwise."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from huzhu.core.health import readiness


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(answer == "ok" for answer in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "fail", "checks": checks}, status=200 if ready else 503
    )
