"""Prometheus metrics of the leaderboard engine (exported at /metrics).

Counters, histograms and the WebSocket gauge live in the process that counts
them (with PROMETHEUS_MULTIPROC_DIR, as under the run command, every process's
values are merged at scrape time). State that belongs to PostgreSQL or Redis is
read from them when scraped (``ServiceStateCollector``). deploy/grafana-dashboard.json
and deploy/prometheus-alerts.yml use these names; a test checks each is exported.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

SUBMITS = Counter("leaderboard_submits_total", "Score submissions by board and outcome", ["board", "outcome"])
READS = Counter("leaderboard_reads_total", "Leaderboard reads by source", ["source"])
REDIS_ERRORS = Counter("leaderboard_redis_errors_total", "Redis calls that failed", ["operation"])
BUCKETS_MARKED = Counter(
    "leaderboard_buckets_marked_for_repair_total", "Buckets marked for repair after a failed Redis write"
)
WARMS = Counter("leaderboard_bucket_warms_total", "Buckets warmed from PostgreSQL", ["trigger"])
WARM_SECONDS = Histogram("leaderboard_bucket_warm_seconds", "Time to warm one bucket from PostgreSQL")
RECONCILED = Counter("leaderboard_reconciliation_members_total", "Members by reconciliation outcome", ["outcome"])
RECONCILE_SECONDS = Histogram("leaderboard_reconciliation_seconds", "Duration of reconciliation runs")
ARCHIVED = Counter("leaderboard_buckets_archived_total", "Finished buckets archived", ["reason"])
ROLLOVER_LAG = Histogram(
    "leaderboard_rollover_lag_seconds",
    "Time between a bucket's end and its archive",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 86400),
)
BROADCASTS = Counter("leaderboard_live_broadcasts_total", "leaderboard_update broadcasts sent", ["board", "period"])
WS_CONNECTIONS = Gauge("leaderboard_websocket_connections", "Open WebSocket connections", multiprocess_mode="livesum")
BROADCAST_LAG = Histogram(
    "leaderboard_live_broadcast_lag_seconds",
    "From broadcast to delivery to a client",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RECONCILE_RUNS = Counter("leaderboard_reconciliation_runs", "Reconciliation runs by final status", ["status"])


class ServiceStateCollector:
    """Gauges read from the shared stores at scrape time, not counted in any one process.

    The repair backlog, the latest successful reconciliation, Redis' reachability
    and the background heartbeats are facts of PostgreSQL and Redis: whichever
    process answers /metrics reads the same values, with or without
    PROMETHEUS_MULTIPROC_DIR, and a restarted process loses nothing. A store that
    does not answer sets its ``*_up`` gauge to 0 and leaves out what it would have
    given; a scrape never fails because of it.
    """

    def collect(self) -> Iterator[Metric]:
        from django.db import DatabaseError
        from django.utils import timezone

        from . import redis_store
        from .models import BucketRepair, ReconciliationRun

        database_up = GaugeMetricFamily("leaderboard_database_up", "PostgreSQL answered this scrape's queries")
        try:
            backlog = BucketRepair.objects.count()
            oldest = BucketRepair.objects.order_by("created_at").values_list("created_at", flat=True).first()
            last_success = (
                ReconciliationRun.objects.filter(status=ReconciliationRun.Status.SUCCEEDED, dry_run=False)
                .order_by("-created_at")
                .values_list("finished_at", flat=True)
                .first()
            )
        except DatabaseError:
            database_up.add_metric([], 0)
        else:
            database_up.add_metric([], 1)
            yield GaugeMetricFamily(
                "leaderboard_repair_backlog_buckets", "Buckets marked for repair, not yet rebuilt", value=backlog
            )
            age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
            yield GaugeMetricFamily(
                "leaderboard_repair_oldest_seconds", "Age of the oldest mark for repair (0: none)", value=max(0.0, age)
            )
            if last_success is not None:
                yield GaugeMetricFamily(
                    "leaderboard_reconciliation_last_success_timestamp_seconds",
                    "When the latest successful (not dry) reconciliation finished, unix time",
                    value=last_success.timestamp(),
                )
        yield database_up

        redis_up = GaugeMetricFamily("leaderboard_redis_up", "Redis answered this scrape's PING")
        heartbeats = GaugeMetricFamily(
            "leaderboard_heartbeat_age_seconds",
            "Seconds since a background component last reported (celery: beat and a worker; rollover: its task)",
            labels=["component"],
        )
        try:
            redis_store.ping()
            for component in HEARTBEATS:
                age = redis_store.heartbeat_age(name=component)
                if age is not None:
                    heartbeats.add_metric([component], age)
        except redis_store.RedisUnavailable:
            redis_up.add_metric([], 0)
        else:
            redis_up.add_metric([], 1)
        yield redis_up
        yield heartbeats


# The heartbeats in Redis that /metrics reports: "celery" (tasks.heartbeat), "rollover" (tasks.rollover).
HEARTBEATS = ("celery", "rollover")

# Scraped next to the process metrics by leaderboard_project.views.metrics.
STATE_REGISTRY = CollectorRegistry(auto_describe=False)
STATE_REGISTRY.register(ServiceStateCollector())
