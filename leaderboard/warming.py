"""Redis brought to PostgreSQL's state: warming buckets, and repairing the ones marked behind.

PostgreSQL is the truth; a bucket's sorted set is a copy that can be rebuilt
at any time. ``bucket_warm`` rebuilds one (single flight, atomically swapped
in, late commits caught up); reads that find a bucket cold call
``bucket_warm_on_miss``. A write that could not reach Redis marks its buckets
(``buckets_mark_for_repair``: in PostgreSQL, or in Redis while PostgreSQL
cannot take it); ``buckets_repair_marked`` rewarms them, and ``repair_soon``
starts that at once when a read meets a mark. Work for a worker is queued by
name (``jobs``), never by importing the tasks above this layer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import jobs, metrics, operators, rendered, repair_marks
from .models import Board, BucketRepair, Standing
from .periods import Bucket, bucket_starting
from .store import buckets as store_buckets
from .store import coordination, keys
from .store.connection import RedisUnavailable, keys_delete

logger = logging.getLogger(__name__)

WARM_BATCH = 10_000
# At most one early repair is queued per this lock's life, across every process.
REPAIR_KICK_LOCK = "repair-kick"


def bucket_expire_at(bucket: Bucket, now: datetime | None = None) -> int:
    """When a bucket's Redis keys may go: some days after its period ends."""
    grace = timedelta(days=settings.LEADERBOARD_BUCKET_GRACE_DAYS)
    if bucket.end is None:
        # All-time keys are refreshed by every write and warm; idle ones go cold.
        return int(((now or timezone.now()) + timedelta(days=30)).timestamp())
    return int((bucket.end + grace).timestamp())


# --------------------------------------------------------------------------- repair marks


def buckets_mark_for_repair(*, board: Board, buckets: list[Bucket], reason: str) -> None:
    """Record buckets whose Redis copy is behind PostgreSQL (repaired by a task).

    This process's rendered pages of the board go at once: they may hold what Redis served.
    """
    rendered.forget(board.slug)
    try:
        _marks_upsert([(board, b.period, b.start, reason) for b in buckets])
    except Exception:  # the database failing too must not hide the first error
        logger.exception("could not mark buckets of %s for repair in PostgreSQL", board.slug)
        _mark_in_redis(board=board, buckets=buckets, reason=reason)
        return
    for b in buckets:
        repair_marks.note(board_id=board.pk, period=b.period, bucket_start=b.start)
    metrics.BUCKETS_MARKED.inc(len(buckets))


def _mark_in_redis(*, board: Board, buckets: list[Bucket], reason: str) -> None:
    """PostgreSQL cannot take a mark: leave it in Redis for the repair task to move there."""
    marks = {f"{board.pk}|{b.period}|{b.start.isoformat()}": reason[:300] for b in buckets}
    try:
        coordination.repair_pending_add(marks=marks)
    except RedisUnavailable as exc:
        # Neither store takes the mark: the hourly reconciliation is what repairs these buckets.
        logger.error("buckets of %s may be behind and could not be marked anywhere: %s", board.slug, exc)
        return
    metrics.BUCKETS_MARKED.inc(len(buckets))


def _pending_marks_move() -> None:
    """Move marks left in Redis (PostgreSQL was down) into PostgreSQL, where repairs read them."""
    pending = coordination.repair_pending_take()
    if not pending:
        return
    boards = Board.objects.in_bulk({int(name.split("|", 1)[0]) for name in pending})
    marks = []
    for name, reason in pending.items():
        board_id, period, start = name.split("|", 2)
        if int(board_id) in boards:
            marks.append((boards[int(board_id)], period, datetime.fromisoformat(start), reason))
    _marks_upsert(marks)
    coordination.repair_pending_done(fields=list(pending))


def _marks_upsert(marks: list[tuple[Board, str, datetime, str]]) -> None:
    """Write repair marks; a bucket marked again gets the new reason and time (a repair that
    started earlier then keeps the mark, see ``buckets_repair_marked``)."""
    now = timezone.now()
    BucketRepair.objects.bulk_create(
        [BucketRepair(board=b, period=p, bucket_start=t, reason=r[:300], created_at=now) for b, p, t, r in marks],
        update_conflicts=True,
        unique_fields=["board", "period", "bucket_start"],
        update_fields=["reason", "created_at"],
    )


def repair_soon() -> None:
    """Start repairing marked buckets now (a read found one), not at the next minute's beat.

    At most one task is queued every few seconds across every process (a short
    Redis lock, which also proves Redis answers again); without Redis nothing is queued.
    """
    try:
        token = coordination.lock_acquire(name=REPAIR_KICK_LOCK, ttl_ms=5_000)
    except RedisUnavailable:
        return
    if token is not None:
        transaction.on_commit(lambda: jobs.enqueue(jobs.REPAIR_MARKED_BUCKETS))


# --------------------------------------------------------------------------- warming


@dataclass
class WarmResult:
    board: str
    period: str
    bucket: str
    members: int
    seconds: float
    caught_up: int = 0
    skipped: bool = False


def _standings(board: Board, bucket: Bucket) -> QuerySet[Standing]:
    return Standing.objects.filter(board=board, period=bucket.period, bucket_start=bucket.start)


def bucket_warm(
    *, board: Board, bucket: Bucket, trigger: str = "manual", wait: bool = False, only_if_cold: bool = False
) -> WarmResult:
    """Rebuild one bucket's sorted set from PostgreSQL, single flight.

    Rows stream through a server-side cursor into a staging key, which then
    replaces the live key atomically, so readers never see a half-built set
    and memory stays flat. Submits that commit while the staging key fills
    are applied again afterwards from their ``updated_at`` (idempotent).
    Returns ``skipped`` when another process holds the bucket's warm lock, or
    (``only_if_cold``) when the bucket turned warm while this call waited.
    """
    lock_name = keys.warm_lock_name(bucket.period, bucket.key)
    deadline = time.monotonic() + (120 if wait else 0)
    token = store_buckets.lock_acquire(board_slug=board.slug, name=lock_name, ttl_ms=300_000)
    while token is None and time.monotonic() < deadline:
        time.sleep(0.1)
        token = store_buckets.lock_acquire(board_slug=board.slug, name=lock_name, ttl_ms=300_000)
    if token is None:
        return WarmResult(board.slug, bucket.period, bucket.key, 0, 0.0, skipped=True)
    try:
        # Checked under the lock: a reader that saw the bucket cold may arrive
        # just after another one finished warming it.
        if only_if_cold and store_buckets.bucket_is_ready(
            board_slug=board.slug, period=bucket.period, bucket=bucket.key
        ):
            return WarmResult(board.slug, bucket.period, bucket.key, 0, 0.0, skipped=True)
        return _bucket_warm_locked(board, bucket, trigger)
    finally:
        store_buckets.lock_release(board_slug=board.slug, name=lock_name, token=token)


def _bucket_warm_locked(board: Board, bucket: Bucket, trigger: str) -> WarmResult:
    started = time.perf_counter()
    # Commits may land with an updated_at slightly before they become visible.
    since = timezone.now() - timedelta(seconds=settings.LEADERBOARD_WARM_CATCHUP_SECONDS)
    staging = store_buckets.warm_begin(board_slug=board.slug, period=bucket.period, bucket=bucket.key)
    count = 0
    # PostgreSQL streams batches through a server-side cursor while a second
    # thread writes the previous batch to Redis: both sides stay busy, and at
    # most two batches are in memory at once.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm") as writer:
        pending = None
        for batch in standing_batches(board, bucket):
            if pending is not None:
                pending.result()
            pending = writer.submit(store_buckets.warm_add, staging_key=staging, batch=batch)
            count += len(batch)
        if pending is not None:
            pending.result()
    store_buckets.warm_finish(
        board_slug=board.slug,
        period=bucket.period,
        bucket=bucket.key,
        staging_key=staging,
        expire_at=bucket_expire_at(bucket),
    )
    late: list[tuple[str, int]] = [
        (str(user_id), score)
        for user_id, score in _standings(board, bucket).filter(updated_at__gte=since).values_list("user_id", "score")
    ]
    store_buckets.scores_apply(
        board_slug=board.slug,
        period=bucket.period,
        bucket=bucket.key,
        scores=late,
        zadd_flag=operators.zadd_flag(board),
        expire_at=bucket_expire_at(bucket),
    )
    rendered.forget(board.slug)  # this process's pages of the board were read from PostgreSQL or the old copy
    elapsed = time.perf_counter() - started
    metrics.WARMS.labels(trigger).inc()
    metrics.WARM_SECONDS.observe(elapsed)
    logger.info("warmed %s %s %s: %d members in %.2fs", board.slug, bucket.period, bucket.key, count, elapsed)
    return WarmResult(board.slug, bucket.period, bucket.key, count, elapsed, caught_up=len(late))


def standing_batches(board: Board, bucket: Bucket, size: int = WARM_BATCH) -> Iterator[list[tuple[str, int]]]:
    """(user id, score) rows of a bucket in batches, from a server-side cursor (flat memory)."""
    sql = (
        f"SELECT user_id, score FROM {Standing._meta.db_table} "
        "WHERE board_id = %s AND period = %s AND bucket_start = %s"
    )
    with transaction.atomic():  # a named (server-side) cursor lives in a transaction
        connection.ensure_connection()
        with connection.connection.cursor(name=f"warm_{uuid.uuid4().hex[:8]}") as cursor:
            cursor.itersize = size
            cursor.execute(sql, [board.pk, bucket.period, bucket.start])
            while rows := cursor.fetchmany(size):
                yield rows


def bucket_warm_on_miss(*, board: Board, bucket: Bucket) -> None:
    """A read found a bucket cold: warm it once, not once per request.

    Small buckets are warmed in this request by whoever takes the lock (the
    others read PostgreSQL meanwhile); large ones are handed to a worker.
    """
    inline_max = settings.LEADERBOARD_INLINE_WARM_MAX
    size = _standings(board, bucket)[: inline_max + 1].count()
    try:
        if size <= inline_max:
            bucket_warm(board=board, bucket=bucket, trigger="miss", only_if_cold=True)
            return
        token = store_buckets.lock_acquire(
            board_slug=board.slug, name=keys.warm_queued_lock_name(bucket.period, bucket.key), ttl_ms=60_000
        )
    except RedisUnavailable:
        return
    if token is not None:
        transaction.on_commit(lambda: jobs.enqueue(jobs.WARM_BUCKET, board.pk, bucket.period, bucket.start.isoformat()))


def board_warm(*, board: Board, periods: list[str] | None = None, at: datetime | None = None) -> list[WarmResult]:
    """Warm the live bucket of each kept period of a board (cache initialisation)."""
    now = at or timezone.now()
    chosen = [p for p in board.ordered_periods if periods is None or p in periods]
    return [bucket_warm(board=board, bucket=board.bucket(p, now), wait=True) for p in chosen]


def buckets_repair_marked(*, limit: int = 100) -> int:
    """Rewarm buckets marked for repair; a mark is removed only after success.

    Marks left in Redis while PostgreSQL was unreachable are moved to
    PostgreSQL first, so they are repaired like the others.
    """
    try:
        _pending_marks_move()
    except RedisUnavailable as exc:
        logger.warning("repair postponed: Redis unavailable (%s)", exc)
        return 0
    repaired = 0
    for mark in BucketRepair.objects.select_related("board").order_by("created_at")[:limit]:
        bucket = bucket_starting(mark.period, mark.bucket_start, mark.board.time_zone)
        try:
            outcome = bucket_warm(board=mark.board, bucket=bucket, trigger="repair", wait=True)
        except RedisUnavailable as exc:
            logger.warning("repair of %s postponed: Redis still unavailable (%s)", mark, exc)
            break
        if not outcome.skipped:
            # Cached user details may have missed the same writes.
            store_buckets.board_users_forget(board_slug=mark.board.slug)
            # Delete only the mark we read: a newer failure refreshes created_at.
            BucketRepair.objects.filter(pk=mark.pk, created_at=mark.created_at).delete()
            repaired += 1
    if repaired:
        repair_marks.forget_all()
    return repaired


def cache_clear() -> int:
    """Delete every leaderboard key from Redis; reads rewarm from PostgreSQL."""
    return keys_delete(keys.all_pattern())
