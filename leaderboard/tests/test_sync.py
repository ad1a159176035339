"""The hourly reconciliation repairs Redis from PostgreSQL (real servers)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from leaderboard import services, sync, warming
from leaderboard.models import ReconciliationRun
from leaderboard.store import connection as store_connection
from leaderboard.store import coordination
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import pg_members, redis_members

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def board():
    board = BoardFactory(periods=["daily", "all_time"])
    warming.board_warm(board=board)
    for i in range(12):
        services.score_submit(board=board, user_id=UserFactory(username=f"s{i:02d}").username, value=i + 1)
    return board


def daily(board):
    return board.bucket("daily", timezone.now())


def damage(board) -> None:
    """A deleted sorted set (all-time), a wrong score and a stray member (daily)."""
    conn = store_connection.client()
    conn.delete(store_keys.bucket(board.slug, "all_time", "all"))
    bucket = daily(board)
    conn.zadd(store_keys.bucket(board.slug, "daily", bucket.key), {"s03": 999, "ghost": 50})


def test_a_run_repairs_a_deleted_key_a_wrong_score_and_a_stray_member(board):
    damage(board)
    run = sync.reconciliation_run(trigger="test")
    assert run.status == "succeeded" and not run.dry_run
    assert (run.created, run.updated, run.deleted, run.error_count) == (12, 1, 1, 0)
    assert run.unchanged == 11
    per_bucket = {b["period"]: b for b in run.buckets if b["board"] == board.slug}
    assert (per_bucket["all_time"]["created"], per_bucket["daily"]["updated"], per_bucket["daily"]["deleted"]) == (
        12,
        1,
        1,
    )
    for bucket in board.live_buckets(timezone.now()):
        assert redis_members(board, bucket) == pg_members(board, bucket)
    assert run.duration_seconds is not None
    assert run.started_at is not None and run.finished_at is not None and run.finished_at >= run.started_at


def test_a_dry_run_reports_the_same_and_changes_nothing(board):
    damage(board)
    before = {b.period: redis_members(board, b) for b in board.live_buckets(timezone.now())}
    run = sync.reconciliation_run(dry_run=True, trigger="test")
    assert (run.created, run.updated, run.deleted) == (12, 1, 1)
    assert {b.period: redis_members(board, b) for b in board.live_buckets(timezone.now())} == before


def test_a_cold_bucket_is_warmed_whole(board):
    warming.cache_clear()
    run = sync.reconciliation_run(trigger="test")
    assert run.created == 24
    assert {b["state"] for b in run.buckets} == {"cold"}
    bucket = daily(board)
    assert redis_members(board, bucket) == pg_members(board, bucket)


def test_a_second_run_while_one_holds_the_lock_is_recorded_as_skipped(board):
    token = coordination.lock_acquire(name=sync.LOCK, ttl_ms=60_000)
    assert token is not None  # nothing else holds it
    try:
        run = sync.reconciliation_run(trigger="test")
    finally:
        coordination.lock_release(name=sync.LOCK, token=token)
    assert run.status == "skipped" and "another" in run.detail
    assert sync.reconciliation_run(trigger="test").status == "succeeded"


def test_concurrent_runs_one_works_the_other_skips(board):
    from leaderboard.tests.helpers import in_threads

    for i in range(12, 400):
        services.score_submit(board=board, user_id=UserFactory(username=f"s{i:03d}").username, value=1)
    runs = in_threads(2, lambda _: sync.reconciliation_run(trigger="test"))
    statuses = sorted(r.status for r in runs)
    assert statuses in (["skipped", "succeeded"], ["succeeded", "succeeded"])
    assert ReconciliationRun.objects.count() == 2


def test_the_task_runs_and_records_through_celery(board):
    from leaderboard.tasks import reconcile

    damage(board)
    run_id = reconcile.delay(dry_run=False, trigger="beat").get()
    run = ReconciliationRun.objects.get(pk=run_id)
    assert run.trigger == "beat" and run.status == "succeeded" and run.deleted == 1
