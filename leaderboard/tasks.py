"""Celery tasks of the leaderboard engine: thin wrappers that take ids and call a service.

The top layer of the app: tasks import what they run. Code below them queues
them by name (``jobs``), so the names here are the ones ``jobs`` spells.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from celery import shared_task

from . import jobs, sync, warming
from .models import Board, ReconciliationRun
from .periods import bucket_starting
from .rollover import buckets_finalise_ended
from .store import coordination
from .store.connection import RedisUnavailable


@shared_task(
    name=jobs.WARM_BUCKET, ignore_result=True, autoretry_for=(RedisUnavailable,), retry_backoff=5, max_retries=5
)
def warm_bucket(board_id: int, period: str, bucket_start: str) -> None:
    """Warm one bucket (queued when a read finds a large bucket cold)."""
    board = Board.objects.get(pk=board_id)
    bucket = bucket_starting(period, datetime.fromisoformat(bucket_start), board.time_zone)
    warming.bucket_warm(board=board, bucket=bucket, trigger="miss", only_if_cold=True, wait=True)


@shared_task(name=jobs.REPAIR_MARKED_BUCKETS, ignore_result=True)
def repair_marked_buckets() -> int:
    """Rewarm buckets whose Redis copy missed a committed write."""
    return warming.buckets_repair_marked()


@shared_task(ignore_result=True, expires=60)
def heartbeat() -> None:
    """Scheduled by beat and run by a worker: /readyz reports its age."""
    coordination.heartbeat_set(name="celery")


@shared_task(ignore_result=True)
def rollover() -> int:
    """Archive every bucket that has ended (beat runs it every minute)."""
    archived = len(buckets_finalise_ended().archived)
    # /metrics reports the age of this mark: an operator is alerted when rollovers stop.
    with suppress(RedisUnavailable):
        coordination.heartbeat_set(name="rollover")
    return archived


@shared_task(name=jobs.RECONCILE)
def reconcile(dry_run: bool = False, trigger: str = "beat", run_id: int | None = None) -> int:
    """Repair Redis from PostgreSQL; returns the id of the recorded run."""
    run = ReconciliationRun.objects.filter(pk=run_id).first() if run_id else None
    return sync.reconciliation_run(dry_run=dry_run, trigger=trigger, run=run).pk
