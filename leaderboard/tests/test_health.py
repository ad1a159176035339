"""leaderboard.health: the checks behind /readyz, seed 000's status and seed 001's health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from leaderboard import health
from leaderboard.models import ReconciliationRun
from leaderboard.schedules import schedules_ensure
from leaderboard.store import connection as store_connection
from leaderboard.store import coordination

pytestmark = pytest.mark.django_db


def test_both_stores_answer_with_their_time():
    for check in (health.database(), health.redis()):
        assert check.ok and check.ms is not None and check.error is None


def test_a_redis_that_does_not_answer_is_a_failed_check_not_an_exception(settings, unused_tcp_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"
    store_connection.reset_clients()
    check = health.redis()
    assert not check.ok and isinstance(check.error, store_connection.RedisUnavailable)


def test_the_heartbeat_is_missing_then_fresh():
    missing = health.heartbeat(name="celery")
    assert not missing.ok and str(missing.error) == "no heartbeat yet"
    coordination.heartbeat_set(name="celery")
    assert health.heartbeat(name="celery").ok


def test_the_reconciliation_is_overdue_only_while_scheduled_and_without_a_recent_success():
    schedules_ensure()
    schedule = PeriodicTask.objects.filter(name=health.RECONCILIATION_SCHEDULE)
    schedule.update(enabled=False)
    stopped = health.reconciliation()
    assert stopped == health.Reconciliation(last_success_at=None, age_seconds=None, scheduled=False)
    assert not stopped.overdue
    schedule.update(enabled=True)
    assert health.reconciliation().overdue
    finished = timezone.now() - timedelta(minutes=30)
    ReconciliationRun.objects.create(status=ReconciliationRun.Status.SUCCEEDED, finished_at=finished)
    ReconciliationRun.objects.create(status=ReconciliationRun.Status.SUCCEEDED, dry_run=True)  # reports only
    latest = health.reconciliation()
    assert latest.last_success_at == finished and not latest.overdue
    assert latest.age_seconds is not None and 1790 < latest.age_seconds < 1900
