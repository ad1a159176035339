"""Seed 001's ``periodic_sync`` command, run as an operator runs it: ``python manage.py periodic_sync ...``.

In a subprocess, against the test session's PostgreSQL (the test database) and
Redis (this test's key prefix). ``call_command`` skips Django's system checks,
which is how a crash of every subcommand went unseen: the command's own
``check`` method hid ``BaseCommand.check`` (``TypeError: Command.check()
missing 2 required positional arguments``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from leaderboard import services, warming
from leaderboard.models import Board, ReconciliationRun
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import command_env

pytestmark = pytest.mark.django_db(transaction=True)  # committed data: the command runs in another process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def periodic_sync(settings, redis_prefix):
    """Run ``python manage.py periodic_sync ARGS`` with the project's own settings on the test servers."""
    env = command_env(redis_url=settings.REDIS_URL, redis_prefix=redis_prefix)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "periodic_sync", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )

    return run


def test_status_runs_and_reports_the_schedule_and_the_last_success(periodic_sync):
    result = periodic_sync("status")
    assert result.returncode == 0, result.stdout
    assert "hourly schedule:" in result.stdout and "last success:    never" in result.stdout, result.stdout


def test_sync_with_a_dry_run_reports_a_stray_member_and_leaves_it(periodic_sync):
    board = BoardFactory(periods=["daily"])
    warming.board_warm(board=board)
    services.score_submit(board=board, user_id=UserFactory().username, value=3)
    key = store_keys.bucket(board.slug, "daily", board.bucket("daily", timezone.now()).key)
    store_connection.client().zadd(key, {"stray": 1})

    result = periodic_sync("sync", "--dry-run")

    assert result.returncode == 0, result.stdout
    assert "dry run" in result.stdout and "succeeded" in result.stdout and "deleted 1" in result.stdout, result.stdout
    assert store_connection.client().zscore(key, "stray") == 1
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.dry_run, run.deleted) == ("command", True, 1)


def test_stop_and_start_toggle_the_hourly_schedule(periodic_sync):
    stopped = periodic_sync("stop")
    assert stopped.returncode == 0, stopped.stdout
    assert "hourly reconciliation disabled" in stopped.stdout
    assert PeriodicTask.objects.get(name="leaderboard: hourly reconciliation").enabled is False
    assert "hourly schedule: disabled" in periodic_sync("status").stdout

    started = periodic_sync("start")
    assert started.returncode == 0, started.stdout
    assert "hourly reconciliation enabled" in started.stdout
    assert PeriodicTask.objects.get(name="leaderboard: hourly reconciliation").enabled is True


def test_test_runs_seed_001s_scenario_and_leaves_nothing_behind(periodic_sync):
    result = periodic_sync("test")
    assert result.returncode == 0, result.stdout
    assert "the stray member is removed" in result.stdout and "completed successfully" in result.stdout
    assert not Board.objects.filter(slug__startswith="sync-test-").exists()
