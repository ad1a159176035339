"""Prometheus metrics of the leaderboard engine (exported at /metrics).

Counters, histograms and the WebSocket gauge live in the process that counts
them (with PROMETHEUS_MULTIPROC_DIR, as under the run command, every process's
values are merged at scrape time). State that belongs to PostgreSQL or Redis is
read from them when scraped (``monitoring.ServiceStateCollector``). deploy/grafana-dashboard.json
and deploy/prometheus-alerts.yml use these names; a test checks each is exported.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SUBMITS = Counter("leaderboard_submits_total", "Score submissions by board and outcome", ["board", "outcome"])
READS = Counter("leaderboard_reads_total", "Leaderboard reads by source", ["source"])
REDIS_ERRORS = Counter("leaderboard_redis_errors_total", "Redis calls that failed", ["operation"])
RATE_LIMITS_UNAVAILABLE = Counter(
    "leaderboard_rate_limits_unavailable_total",
    "Requests a rate limit could not count (Redis unavailable), by scope and what was done (allowed, refused)",
    ["scope", "outcome"],
)
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
