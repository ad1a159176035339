"""The operators' kit: every metric the Grafana dashboard and the alert rules use is one /metrics exports.

The service is exercised for real first (a submit, reads with Redis up and
down, a reconciliation, a reset, the background tasks), so that labelled
series exist; a name counts as exported if a sample carries it, which covers
the _total, _bucket, _count and _sum suffixes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from leaderboard import services
from leaderboard.models import BucketRepair
from leaderboard.store import connection as store_connection
from leaderboard.tests.factories import BoardFactory
from leaderboard_project.conftest_helpers import bearer

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

pytestmark = pytest.mark.django_db(transaction=True)

# PromQL words that are not metric names: operators, modifiers, and function names (always before "(").
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    panels = [p for panel in dashboard["panels"] for p in [panel, *panel.get("panels", [])]]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges, Grafana's $__rate_interval included
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        name, call = match.groups()
        if not call and name not in KEYWORDS:
            names.add(name)
    return names


def test_the_name_extraction_understands_promql():
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{status=~"5.."}[$__rate_interval])))'
        " / on (job) group_left b_total and time() - c > 3 * 3600"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c"}


def exercise_the_service(api_client, staff, settings, unused_tcp_port) -> None:
    """Make every labelled series exist: submits, reads from each source, Redis errors, runs, archives."""
    from leaderboard import tasks
    from leaderboard.rollover import period_reset
    from leaderboard.sync import reconciliation_run

    board = BoardFactory(slug="kit", periods=["daily", "all_time"])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(staff))
    submitted = api_client.post("/api/v1/boards/kit/scores", {"value": 5, "user_id": "kit-player"}, format="json")
    assert submitted.status_code == 201, submitted.content
    assert api_client.get("/api/v1/boards/kit/leaderboard/daily").status_code == 200
    reconciliation_run(trigger="manual")
    period_reset(board=board, period="daily", triggered_by="test")
    tasks.heartbeat.delay()
    tasks.rollover.delay()
    BucketRepair.objects.create(
        board=board, period="all_time", bucket_start=board.bucket("all_time", timezone.now()).start, reason="test"
    )
    # Redis unreachable: the read falls back to PostgreSQL and counts a Redis error.
    services.board_cache_clear()
    url = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"
    store_connection.reset_clients()
    try:
        assert api_client.get("/api/v1/boards/kit/leaderboard/all_time").status_code == 200
    finally:
        settings.REDIS_URL = url
        store_connection.reset_clients()


def exported(client) -> dict[str, float]:
    """Every sample /metrics exports, by name (the last value seen for names with labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[sample.name] = sample.value
    return samples


def test_every_metric_of_the_dashboard_and_the_alerts_is_exported(client, api_client, staff, settings, unused_tcp_port):
    exercise_the_service(api_client, staff, settings, unused_tcp_port)
    samples = exported(client)
    for source, expressions in (("dashboard", dashboard_expressions()), ("alerts", alert_expressions())):
        assert expressions, source
        used = set().union(*(metric_names(expr) for expr in expressions))
        assert used, source
        missing = sorted(name for name in used if name not in samples)
        assert not missing, f"{source} uses metrics /metrics does not export: {missing}"


def test_the_state_gauges_are_read_from_postgres_and_redis_at_scrape_time(
    client, api_client, staff, settings, unused_tcp_port
):
    exercise_the_service(api_client, staff, settings, unused_tcp_port)
    samples = exported(client)
    assert samples["leaderboard_redis_up"] == 1 and samples["leaderboard_database_up"] == 1
    assert samples["leaderboard_repair_backlog_buckets"] == BucketRepair.objects.count() == 1
    assert 0 <= samples["leaderboard_repair_oldest_seconds"] < 60
    assert abs(samples["leaderboard_reconciliation_last_success_timestamp_seconds"] - timezone.now().timestamp()) < 60
    assert samples["leaderboard_heartbeat_age_seconds"] < 60  # rollover's, just now
    # Redis down: the scrape still answers, and says so.
    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"
    store_connection.reset_clients()
    down = exported(client)
    assert down["leaderboard_redis_up"] == 0 and "leaderboard_heartbeat_age_seconds" not in down
