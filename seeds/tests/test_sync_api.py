"""Seed 001's management surfaces: the REST API (staff only) and the periodic_sync command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from leaderboard import services, warming
from leaderboard.models import ReconciliationRun
from leaderboard.schedules import SCHEDULES, schedules_ensure
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = [
    ("get", "/api/periodic-sync/status"),
    ("post", "/api/periodic-sync/sync"),
    ("post", "/api/periodic-sync/start"),
    ("post", "/api/periodic-sync/stop"),
    ("get", "/api/periodic-sync/health"),
    ("get", "/api/periodic-sync/metrics"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_endpoint_is_staff_only(api_client, auth_client, method, url):
    assert getattr(api_client, method)(url).status_code == 401
    assert getattr(auth_client, method)(url).status_code == 403


def test_sync_queues_a_run_that_the_worker_records(staff_client):
    board = BoardFactory(periods=["daily"])
    warming.board_warm(board=board)
    services.score_submit(board=board, user_id=UserFactory().username, value=3)
    bucket = board.bucket("daily", timezone.now())
    store_connection.client().zadd(store_keys.bucket(board.slug, "daily", bucket.key), {"stray": 1})
    response = staff_client.post("/api/periodic-sync/sync", {"dry_run": False}, format="json")
    assert response.status_code == 202
    run = ReconciliationRun.objects.get(pk=response.json()["run_id"])  # eager Celery in tests
    assert run.status == "succeeded" and run.trigger == "api" and run.deleted == 1
    detail = staff_client.get(f"/api/periodic-sync/runs/{run.pk}").json()
    assert detail["deleted"] == 1
    status = staff_client.get("/api/periodic-sync/status").json()
    assert status["last_run"]["id"] == run.pk and status["last_success_at"]


def test_start_and_stop_toggle_the_beat_schedule(staff_client):
    schedules_ensure()
    stopped = staff_client.post("/api/periodic-sync/stop").json()
    assert stopped["enabled"] is False
    assert PeriodicTask.objects.get(name="leaderboard: hourly reconciliation").enabled is False
    started = staff_client.post("/api/periodic-sync/start").json()
    assert started["enabled"] is True and started["schedule"]["task"] == "leaderboard.tasks.reconcile"


def test_health_and_metrics_report_both_stores(staff_client):
    board = BoardFactory(periods=["daily"])
    warming.board_warm(board=board)
    services.score_submit(board=board, user_id=UserFactory().username, value=3)
    health = staff_client.get("/api/periodic-sync/health")
    assert health.status_code == 200 and health.json()["redis"] and health.json()["database"]
    metrics = staff_client.get("/api/periodic-sync/metrics").json()
    row = next(r for r in metrics["buckets"] if r["board"] == board.slug)
    assert (row["postgres"], row["redis"], row["drift"]) == (1, 1, 0)
    assert metrics["redis_memory_bytes"] > 0


def test_migrate_created_every_schedule_and_ensuring_again_changes_nothing():
    schedules_ensure()
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {s.name for s in SCHEDULES} <= names
    task = PeriodicTask.objects.get(name="leaderboard: period rollover")
    task.enabled = False
    task.save()
    assert schedules_ensure() == 0
    assert PeriodicTask.objects.get(name="leaderboard: period rollover").enabled is False


def test_the_command_runs_seed_001s_scenario_and_cleans_up():
    out = StringIO()
    call_command("periodic_sync", "test", stdout=out)
    text = out.getvalue()
    assert "user 1 recreated with 5" in text and "the stray member is removed" in text
    assert "completed successfully" in text
    from leaderboard.models import Board

    assert not Board.objects.filter(slug__startswith="sync-test-").exists()


def test_the_command_syncs_with_a_dry_run_and_toggles_the_schedule():
    out = StringIO()
    call_command("periodic_sync", "sync", "--dry-run", stdout=out)
    assert "dry run" in out.getvalue() and "succeeded" in out.getvalue()
    call_command("periodic_sync", "stop", stdout=out)
    call_command("periodic_sync", "status", stdout=out)
    assert "hourly schedule: disabled" in out.getvalue()


def test_health_answers_unhealthy_in_its_own_shape_when_postgres_is_unreachable(staff_client):
    assert staff_client.get("/api/periodic-sync/health").status_code == 200  # the staff token's user is now cached
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: connecting fails for real
    try:
        response = staff_client.get("/api/periodic-sync/health")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["redis"]) == ("unhealthy", False, True)
    assert (body["last_success_at"], body["last_success_age_seconds"]) == (None, None)
    assert [p.split(":")[0] for p in body["problems"]] == ["PostgreSQL unavailable"]


def test_health_is_degraded_when_the_scheduled_reconciliation_has_not_succeeded_for_two_hours(staff_client):
    schedules_ensure()
    body = staff_client.get("/api/periodic-sync/health").json()
    assert body["status"] == "degraded" and body["problems"] == ["no successful reconciliation in the last two hours"]
    staff_client.post("/api/periodic-sync/stop")
    assert staff_client.get("/api/periodic-sync/health").json()["status"] == "healthy"
