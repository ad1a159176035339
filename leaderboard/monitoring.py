"""What /metrics reads from PostgreSQL and Redis at scrape time (the counters live in ``metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from .models import BucketRepair, ReconciliationRun
from .store import coordination
from .store.connection import RedisUnavailable, ping


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
            ping()
            for component in HEARTBEATS:
                seen = coordination.heartbeat_age(name=component)
                if seen is not None:
                    heartbeats.add_metric([component], seen)
        except RedisUnavailable:
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
