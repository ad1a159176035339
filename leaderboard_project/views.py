"""Process health: liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import time

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from leaderboard import redis_store


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving; it checks no dependency."""
    return JsonResponse({"status": "ok"})


def _check(probe) -> dict[str, object]:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when PostgreSQL and Redis both answer; 503 otherwise."""
    checks = {"database": _check(_database), "redis": _check(redis_store.ping)}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def bench_bare(request: HttpRequest) -> JsonResponse:
    """Ten ranked entries as JSON with no framework work: the benchmark's ceiling."""
    entries = [{"user_id": f"user{i:07d}", "score": 1000 - i, "rank": i + 1} for i in range(10)]
    return JsonResponse({"entries": entries})
