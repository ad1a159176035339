"""Period rollover, archives and manual resets.

Finished buckets are archived, never silently lost: ``PeriodArchive`` keeps the
winners, the top entries and the participant count, the ``Standing`` rows stay
as history, and the bucket's Redis key simply expires (ARCHITECTURE 2).

Everything here is safe to repeat: Celery beat may fire twice, run late or
run on two hosts. A unique constraint on (board, period, bucket_start) makes a
second archive of the same bucket a no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from leaderboard_project.exceptions import InvalidInput

from . import metrics, redis_store, selectors, services
from .models import Board, PeriodArchive, Standing
from .periods import Bucket, Period, bucket_starting

logger = logging.getLogger(__name__)


def bucket_finalise(
    *, board: Board, bucket: Bucket, end: datetime, reason: str = PeriodArchive.Reason.ROLLOVER, triggered_by: str = ""
) -> tuple[PeriodArchive, bool]:
    """Archive one bucket (once). Returns the archive and whether this call created it."""
    entries, total = selectors.bucket_top_from_postgres(
        board=board, bucket=bucket, limit=settings.LEADERBOARD_ARCHIVE_TOP_N
    )
    top = [{"user_id": e.user_id, "score": e.score, "rank": e.rank} for e in entries]
    candidate = PeriodArchive(
        board=board,
        period=bucket.period,
        bucket_start=bucket.start,
        bucket_end=end,
        reason=reason,
        participants=total,
        winners=[e for e in top if e["rank"] == 1],
        top=top,
        triggered_by=triggered_by,
    )
    PeriodArchive.objects.bulk_create([candidate], ignore_conflicts=True)
    archive = PeriodArchive.objects.get(board=board, period=bucket.period, bucket_start=bucket.start)
    # Our row, unless another process archived the bucket first.
    fresh = archive.created_at == candidate.created_at
    if fresh:
        metrics.ARCHIVED.labels(reason).inc()
        metrics.ROLLOVER_LAG.observe(max(0.0, (timezone.now() - end).total_seconds()))
        logger.info("archived %s %s %s (%s): %d participants", board.slug, bucket.period, bucket.key, reason, total)
    return archive, fresh


@dataclass
class RolloverResult:
    archived: list[PeriodArchive]
    boards: int


def buckets_finalise_ended(*, now: datetime | None = None) -> RolloverResult:
    """Archive every ended bucket of every active board, oldest first (catch-up included).

    Cheap when there is nothing to do: a period whose latest archive reaches
    the current bucket is skipped with one indexed query.
    """
    now = now or timezone.now()
    archived: list[PeriodArchive] = []
    boards = list(Board.objects.filter(is_active=True))
    for board in boards:
        for period in board.ordered_periods:
            if period == Period.ALL_TIME:
                continue
            archived += _finalise_period(board, period, now)
    return RolloverResult(archived, len(boards))


def _finalise_period(board: Board, period: str, now: datetime) -> list[PeriodArchive]:
    current = board.bucket(period, now)
    latest = PeriodArchive.objects.filter(board=board, period=period).aggregate(
        start=Max("bucket_start"), end=Max("bucket_end")
    )
    if latest["end"] is not None and latest["end"] >= current.start:
        return []
    starts = Standing.objects.filter(board=board, period=period, bucket_start__lt=current.start)
    if latest["start"] is not None:
        starts = starts.filter(bucket_start__gt=latest["start"])
    done: list[PeriodArchive] = []
    for start in starts.values_list("bucket_start", flat=True).distinct().order_by("bucket_start"):
        bucket = bucket_starting(period, start, board.time_zone)
        end = bucket.end if bucket.end is not None and bucket.end <= current.start else current.start
        archive, fresh = bucket_finalise(board=board, bucket=bucket, end=end, triggered_by="rollover")
        if fresh:
            done.append(archive)
    return done


def period_reset(*, board: Board, period: str, triggered_by: str = "") -> PeriodArchive:
    """Archive the current bucket of ``period`` and restart it at zero, in both stores.

    Atomic with respect to concurrent submits: the board row is locked FOR
    UPDATE, which waits for submits in flight (they hold it FOR KEY SHARE) and
    holds back new ones until the reset commits; those then see the new reset
    and land in the new bucket. So every submit is either archived here or
    counts in the new bucket, never both, never neither. The old bucket's
    standings stay as history; its Redis key expires.
    """
    period = services.period_check(board=board, period=period)
    with transaction.atomic():
        locked = Board.objects.select_for_update().get(pk=board.pk)
        now = timezone.now()
        bucket = locked.bucket(period, now)
        if bucket.start >= now:
            raise InvalidInput(fields={"period": "This period was reset a moment ago; try again."})
        archive, _ = bucket_finalise(
            board=locked, bucket=bucket, end=now, reason=PeriodArchive.Reason.RESET, triggered_by=triggered_by
        )
        locked.period_resets = {**(locked.period_resets or {}), period: now.isoformat()}
        locked.save(update_fields=["period_resets", "updated_at"])
        new_bucket = locked.bucket(period, now)
        transaction.on_commit(lambda: _after_reset(locked, new_bucket))
    board.period_resets = locked.period_resets
    return archive


def _after_reset(board: Board, bucket: Bucket) -> None:
    """Mark the new, empty bucket warm so reads and submits use Redis at once."""
    try:
        services.bucket_warm(board=board, bucket=bucket, trigger="reset", wait=True)
    except redis_store.RedisUnavailable as exc:
        logger.warning(
            "reset of %s %s: Redis unavailable, the bucket warms on first read (%s)", board.slug, bucket.period, exc
        )
    from . import broadcasts

    hook = getattr(broadcasts, "board_reset", None)
    if hook is not None:
        hook(board=board, period=bucket.period)
