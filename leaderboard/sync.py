"""The hourly reconciliation: Redis is compared with PostgreSQL and repaired from it.

Seed 001 synced the other way (Redis into PostgreSQL, deleting what Redis
lacked): with Redis restarted empty that erases every score. Here PostgreSQL
is the truth (ARCHITECTURE 1); each run reports, per bucket and in total, the
members it created in Redis (missing there), updated (score differs),
deleted (in Redis, not in PostgreSQL) and left unchanged, with errors.

Memory stays flat: PostgreSQL rows stream through a server-side cursor and
Redis members through ZSCAN, in batches. A Redis lock keeps two runs from
overlapping across workers (the second records that it skipped). A dry run
reports what it would change and changes nothing.
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from . import jobs, metrics, warming
from .models import Board, ReconciliationRun, Standing
from .periods import Bucket
from .schedules import schedules_ensure
from .selectors import board_drift
from .store import buckets as store_buckets
from .store import coordination
from .store.connection import RedisUnavailable, memory_used

logger = logging.getLogger(__name__)

LOCK = "reconcile"
LOCK_TTL_MS = 60 * 60 * 1000
MAX_RECORDED_ERRORS = 200


@dataclass
class BucketStats:
    board: str
    period: str
    bucket: str
    state: str = "warm"
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass
class RunState:
    dry_run: bool
    buckets: list[BucketStats] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, stats: BucketStats, user_id: str, reason: str) -> None:
        stats.errors += 1
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append({"board": stats.board, "period": stats.period, "user_id": user_id, "reason": reason})


def reconciliation_run(
    *,
    dry_run: bool = False,
    trigger: str = "manual",
    boards: list[Board] | None = None,
    run: ReconciliationRun | None = None,
) -> ReconciliationRun:
    """Reconcile every live bucket of ``boards`` (default: all active ones) and record the run."""
    run = run or ReconciliationRun.objects.create(trigger=trigger, dry_run=dry_run)
    run.started_at = timezone.now()
    started = time.perf_counter()
    try:
        token = coordination.lock_acquire(name=LOCK, ttl_ms=LOCK_TTL_MS)
    except RedisUnavailable as exc:
        return _finish(run, ReconciliationRun.Status.FAILED, started, detail=f"Redis unavailable: {exc}")
    if token is None:
        return _finish(run, ReconciliationRun.Status.SKIPPED, started, detail="another reconciliation is running")
    run.status = ReconciliationRun.Status.RUNNING
    run.save(update_fields=["status", "started_at"])
    state = RunState(dry_run=run.dry_run)
    try:
        now = timezone.now()
        for board in boards if boards is not None else Board.objects.filter(is_active=True):
            for bucket in board.live_buckets(now):
                state.buckets.append(_reconcile_bucket(board, bucket, state))
    except RedisUnavailable as exc:
        _record(run, state)
        return _finish(run, ReconciliationRun.Status.FAILED, started, detail=f"Redis unavailable: {exc}")
    finally:
        with suppress(RedisUnavailable):  # the lock expires by itself
            coordination.lock_release(name=LOCK, token=token)
    _record(run, state)
    return _finish(run, ReconciliationRun.Status.SUCCEEDED, started)


def _record(run: ReconciliationRun, state: RunState) -> None:
    run.buckets = [asdict(b) for b in state.buckets]
    run.errors = state.errors
    for name in ("created", "updated", "deleted", "unchanged"):
        setattr(run, name, sum(getattr(b, name) for b in state.buckets))
    run.error_count = sum(b.errors for b in state.buckets)
    if not run.dry_run:
        for name in ("created", "updated", "deleted", "unchanged"):
            metrics.RECONCILED.labels(name).inc(getattr(run, name))


def _finish(run: ReconciliationRun, status: str, started: float, detail: str = "") -> ReconciliationRun:
    run.status = status
    run.finished_at = timezone.now()
    run.started_at = run.started_at or run.finished_at
    run.duration_seconds = round(time.perf_counter() - started, 3)
    run.detail = detail
    run.save()
    metrics.RECONCILE_SECONDS.observe(run.duration_seconds)
    metrics.RECONCILE_RUNS.labels(status).inc()
    logger.info(
        "reconciliation %s %s in %.2fs: created %d, updated %d, deleted %d, unchanged %d, errors %d %s",
        run.pk,
        status,
        run.duration_seconds,
        run.created,
        run.updated,
        run.deleted,
        run.unchanged,
        run.error_count,
        detail,
    )
    return run


def _reconcile_bucket(board: Board, bucket: Bucket, state: RunState) -> BucketStats:
    stats = BucketStats(board.slug, bucket.period, bucket.key)
    started = time.perf_counter()
    if not store_buckets.bucket_is_ready(board_slug=board.slug, period=bucket.period, bucket=bucket.key):
        # No complete copy in Redis (new bucket, expired or deleted key): warm it whole.
        stats.state = "cold"
        if state.dry_run:
            stats.created = Standing.objects.filter(
                board=board, period=bucket.period, bucket_start=bucket.start
            ).count()
        else:
            stats.created = warming.bucket_warm(board=board, bucket=bucket, trigger="reconcile", wait=True).members
        stats.seconds = round(time.perf_counter() - started, 3)
        return stats
    _postgres_into_redis(board, bucket, stats, state)
    _strays_out_of_redis(board, bucket, stats, state)
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _postgres_into_redis(board: Board, bucket: Bucket, stats: BucketStats, state: RunState) -> None:
    """Members missing from Redis or with another score there get PostgreSQL's score."""
    for batch in warming.standing_batches(board, bucket, size=settings.LEADERBOARD_RECONCILE_BATCH):
        cached = store_buckets.members_scores(
            board_slug=board.slug, period=bucket.period, bucket=bucket.key, members=[u for u, _ in batch]
        )
        wrong: list[str] = []
        for (user_id, score), in_redis in zip(batch, cached, strict=True):
            if in_redis is None:
                stats.created += 1
                wrong.append(user_id)
            elif in_redis != score:
                stats.updated += 1
                wrong.append(user_id)
            else:
                stats.unchanged += 1
        if wrong and not state.dry_run:
            _repair(board, bucket, wrong, stats, state)


def _repair(board: Board, bucket: Bucket, user_ids: list[str], stats: BucketStats, state: RunState) -> None:
    # Re-read just before writing: a submit may have committed since the batch was read.
    fresh = [
        (str(user_id), score)
        for user_id, score in Standing.objects.filter(
            board=board, period=bucket.period, bucket_start=bucket.start, user_id__in=user_ids
        ).values_list("user_id", "score")
    ]
    try:
        store_buckets.scores_apply(
            board_slug=board.slug,
            period=bucket.period,
            bucket=bucket.key,
            scores=fresh,
            zadd_flag="",
            expire_at=warming.bucket_expire_at(bucket),
        )
    except RedisUnavailable:
        raise
    except Exception:  # one bad member must not stop the run: retry one by one
        for user_id, score in fresh:
            try:
                store_buckets.scores_apply(
                    board_slug=board.slug,
                    period=bucket.period,
                    bucket=bucket.key,
                    scores=[(user_id, score)],
                    zadd_flag="",
                    expire_at=warming.bucket_expire_at(bucket),
                )
            except RedisUnavailable:
                raise
            except Exception as exc:
                state.error(stats, user_id, f"{type(exc).__name__}: {exc}")


def _strays_out_of_redis(board: Board, bucket: Bucket, stats: BucketStats, state: RunState) -> None:
    """Members in Redis with no standing in PostgreSQL are removed.

    After the first pass every PostgreSQL member is in Redis, so the number of
    strays is known from two counts; the scan runs only when there are some.
    """
    rows = Standing.objects.filter(board=board, period=bucket.period, bucket_start=bucket.start)
    in_redis = store_buckets.bucket_card(board_slug=board.slug, period=bucket.period, bucket=bucket.key)
    # A dry run did not add the members it found missing.
    expected = rows.count() - (stats.created if state.dry_run else 0)
    if in_redis <= expected:
        return
    for batch in store_buckets.bucket_members(
        board_slug=board.slug, period=bucket.period, bucket=bucket.key, batch=settings.LEADERBOARD_RECONCILE_BATCH
    ):
        members = [member for member, _ in batch]
        strays = _unknown(board, bucket, members)
        if not strays:
            continue
        stats.deleted += len(strays)
        if not state.dry_run:
            # Checked again right before removal: a first submit may just have committed.
            known_now = set(members) - set(_unknown(board, bucket, strays))
            store_buckets.members_remove(
                board_slug=board.slug,
                period=bucket.period,
                bucket=bucket.key,
                members=[m for m in strays if m not in known_now],
            )


def _unknown(board: Board, bucket: Bucket, members: list[str]) -> list[str]:
    """The members with no standing in the bucket (one indexed query with an array)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id FROM {Standing._meta.db_table} "
            "WHERE board_id = %s AND period = %s AND bucket_start = %s AND user_id = ANY(%s)",
            [board.pk, bucket.period, bucket.start, members],
        )
        known = {row[0] for row in cursor.fetchall()}
    return [member for member in members if member not in known]


# --------------------------------------------------------------------------- management (seed 001's surface)

SCHEDULE_NAME = "leaderboard: hourly reconciliation"


def _schedule() -> PeriodicTask | None:
    return PeriodicTask.objects.filter(name=SCHEDULE_NAME).select_related("interval", "crontab").first()


def sync_schedule_set(*, enabled: bool) -> bool:
    """Start or stop the hourly reconciliation (the beat schedule); returns the new state."""
    schedules_ensure()
    task = _schedule()
    assert task is not None  # schedules_ensure created it
    if task.enabled != enabled:
        task.enabled = enabled
        task.save(update_fields=["enabled"])  # django-celery-beat tells beat about the change
    return task.enabled


def sync_enqueue(*, dry_run: bool, trigger: str) -> ReconciliationRun:
    """Record a queued run and hand it to a worker once the row is committed."""
    run = ReconciliationRun.objects.create(trigger=trigger, dry_run=dry_run)
    transaction.on_commit(lambda: jobs.enqueue(jobs.RECONCILE, dry_run=dry_run, trigger=trigger, run_id=run.pk))
    return run


def sync_status() -> dict[str, object]:
    task = _schedule()
    last = ReconciliationRun.objects.exclude(status=ReconciliationRun.Status.QUEUED).first()
    success = ReconciliationRun.objects.filter(status=ReconciliationRun.Status.SUCCEEDED, dry_run=False).first()
    try:
        running = coordination.lock_held(name=LOCK)
    except RedisUnavailable:
        running = False
    return {
        "enabled": bool(task and task.enabled),
        "running": running,
        "schedule": None
        if task is None
        else {
            "name": task.name,
            "task": task.task,
            "enabled": task.enabled,
            "schedule": str(task.crontab or task.interval),
            "last_run_at": task.last_run_at,
        },
        "last_run": last,
        "last_success_at": success.finished_at if success else None,
    }


def sync_metrics() -> dict[str, object]:
    rows: list[dict[str, object]] = []
    for board in Board.objects.filter(is_active=True):
        rows += [{"board": board.slug, **row} for row in board_drift(board=board)]
    try:
        memory = memory_used()
    except RedisUnavailable:
        memory = None
    return {
        "buckets": rows,
        "total_drift": sum(abs(int(str(row["drift"]))) for row in rows if row["drift"]),
        "last_run": ReconciliationRun.objects.exclude(status=ReconciliationRun.Status.QUEUED).first(),
        "redis_memory_bytes": memory,
    }
