"""Process health: liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.utils.cache import patch_cache_control
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import generate_latest

from leaderboard import health, monitoring


# Probes answer HEAD like GET (require_safe): load balancers probe with HEAD, and
# Django drops the body of a HEAD response, keeping status and headers.
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving; it checks no dependency."""
    return JsonResponse({"status": "ok"})


def _answer(check: health.Check) -> dict[str, object]:
    if check.ok:
        return {"ok": True, "ms": check.ms}
    return {"ok": False, "error": f"{type(check.error).__name__}: {check.error}"[:300]}


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when PostgreSQL and Redis both answer; 503 otherwise.

    The Celery worker and beat heartbeat (a beat task every 30 s, executed by
    a worker) are reported too; they fail readiness only with
    READYZ_REQUIRE_WORKERS, since the API serves without them.
    """
    critical = {"database": _answer(health.database()), "redis": _answer(health.redis())}
    background = {"celery_beat_and_worker": _answer(health.heartbeat(name="celery"))}
    ready = all(check["ok"] for check in critical.values())
    if settings.READYZ_REQUIRE_WORKERS:
        ready = ready and all(check["ok"] for check in background.values())
    status = "ok" if ready and all(c["ok"] for c in background.values()) else ("degraded" if ready else "unavailable")
    return JsonResponse({"status": status, "checks": {**critical, **background}}, status=200 if ready else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics; with METRICS_TOKEN set, only for callers that present it.

    The processes' own metrics (merged across processes under PROMETHEUS_MULTIPROC_DIR),
    then the service's state read from PostgreSQL and Redis at scrape time
    (``leaderboard.monitoring.ServiceStateCollector``).
    """
    token = settings.METRICS_TOKEN
    if token and not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("metrics need the bearer token\n", status=401, content_type="text/plain")
    response = ExportToDjangoView(request)
    response.content = response.content + generate_latest(monitoring.STATE_REGISTRY)
    return response


# The API docs pages load nothing from other hosts: their assets are the project's static
# files (drf-spectacular-sidecar), and this policy makes the browser refuse anything else,
# such as ReDoc's footer logo on cdn.redoc.ly. Inline styles are how both viewers style
# themselves; ReDoc's search runs in a blob: worker.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; frame-ancestors 'none'"
)


def docs_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve an API docs page with ``DOCS_CONTENT_SECURITY_POLICY``: it loads nothing from other hosts."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", DOCS_CONTENT_SECURITY_POLICY)
        return response

    return wrapped


@require_safe
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico whatever a page says: send them to the static icon.

    Temporary (302, cached a day): the icon's static URL carries a content hash
    that changes with the file.
    """
    response = HttpResponseRedirect(static("leaderboard/favicon.svg"))
    patch_cache_control(response, public=True, max_age=86400)
    return response
