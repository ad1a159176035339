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
from django.db import connection, transaction
from django.utils import timezone

from leaderboard_project.exceptions import InvalidInput

from . import metrics, selectors, services, signals, warming
from .models import Board, PeriodArchive, Standing
from .periods import Bucket, Period, bucket_starting
from .store.connection import RedisUnavailable

logger = logging.getLogger(__name__)


def bucket_finalise(
    *, board: Board, bucket: Bucket, end: datetime, reason: str = PeriodArchive.Reason.ROLLOVER, triggered_by: str = ""
) -> tuple[PeriodArchive, bool]:
    """Archive one bucket (once). Returns the archive and whether this call created it."""
    entries, total = selectors.bucket_top_from_postgres(
        board=board, bucket=bucket, limit=settings.LEADERBOARD_ARCHIVE_TOP_N
    )
    top = [e.as_dict() for e in entries]
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
    with transaction.atomic():
        PeriodArchive.objects.bulk_create([candidate], ignore_conflicts=True)
        archive = PeriodArchive.objects.get(board=board, period=bucket.period, bucket_start=bucket.start)
        # Our row, unless another process archived the bucket first.
        fresh = archive.created_at == candidate.created_at
        if fresh:
            # In the archive's transaction: what receivers write (rewards' webhook deliveries)
            # exists exactly when the archive does, once per archive however often beat fires.
            signals.bucket_finalised.send(
                sender=PeriodArchive, board=board, period=bucket.period, bucket=bucket, archive=archive
            )
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

    Every ended bucket that holds standings is archived exactly once, whatever
    the order of resets, rollovers and catch-ups (``_unarchived_starts``). Cheap
    when there is nothing to do: one indexed query per board and period.
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
    done: list[PeriodArchive] = []
    for start in _unarchived_starts(board, period, current.start):
        bucket = bucket_starting(period, start, board.time_zone)
        end = bucket.end if bucket.end is not None and bucket.end <= current.start else current.start
        archive, fresh = bucket_finalise(board=board, bucket=bucket, end=end, triggered_by="rollover")
        if fresh:
            done.append(archive)
    return done


def _unarchived_starts(board: Board, period: str, before: datetime) -> list[datetime]:
    """Start of every bucket of ``period`` before ``before`` that holds standings and has no archive.

    Not "every bucket after the latest archive": a reset archives the current
    bucket, possibly while an earlier one still waits for its rollover, so the
    archives can have holes anywhere. An archive covers its bucket's time (it
    ends where the next bucket starts), so standings can only lack an archive
    where the archives leave time uncovered: the query walks the period's
    archives once (the unique index on (board, period, bucket_start)) and
    probes the standings only in the uncovered stretches (``standing_rank``'s
    leading columns). With nothing to do that is one probe per stretch: on a
    busy board one, the time since the latest archive ended; on a quiet one
    also each run of days nobody played. Standing rows are read only in
    buckets about to be archived. The anti-join keeps the answer exact even if
    archives ever overlapped.
    """
    archive_table = PeriodArchive._meta.db_table
    standing_table = Standing._meta.db_table
    sql = f"""
        WITH archived AS (
            SELECT bucket_start, bucket_end, LAG(bucket_end) OVER (ORDER BY bucket_start) AS previous_end
            FROM {archive_table}
            WHERE board_id = %(board)s AND period = %(period)s AND bucket_start < %(before)s
        ), uncovered AS (
            SELECT COALESCE(previous_end, '-infinity'::timestamptz) AS since, bucket_start AS until
            FROM archived WHERE previous_end IS NULL OR previous_end < bucket_start
            UNION ALL
            SELECT COALESCE(MAX(bucket_end), '-infinity'::timestamptz), %(before)s FROM archived
        )
        SELECT found.bucket_start
        FROM uncovered u CROSS JOIN LATERAL (
            -- One index range probe per stretch (LATERAL + DISTINCT keep the planner from
            -- joining the whole standing table at once).
            SELECT DISTINCT s.bucket_start FROM {standing_table} s
            WHERE s.board_id = %(board)s AND s.period = %(period)s
              AND s.bucket_start >= u.since AND s.bucket_start < u.until
        ) found
        WHERE NOT EXISTS (
            SELECT 1 FROM {archive_table} a
            WHERE a.board_id = %(board)s AND a.period = %(period)s AND a.bucket_start = found.bucket_start
        )
        ORDER BY found.bucket_start
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"board": board.pk, "period": period, "before": before})
        return [row[0] for row in cursor.fetchall()]


def period_reset(*, board: Board, period: str, triggered_by: str = "") -> PeriodArchive:
    """Archive the current bucket of ``period`` and restart it at zero, in both stores.

    Atomic with respect to concurrent submits: the board's advisory lock is
    taken exclusively (``services.board_submits_exclude``), which waits for
    submits in flight (each holds it shared until it commits) and holds back new
    ones until the reset commits; those then read the new resets and land in the
    new bucket. So every submit is either archived here or counts in the new
    bucket, never both, never neither. The board row is then locked FOR UPDATE
    too, against a concurrent edit of the board (``boards.board_update``). The
    old bucket's standings stay as history; its Redis key expires.
    """
    period = services.period_check(board=board, period=period)
    with transaction.atomic():
        services.board_submits_exclude(board_id=board.pk)
        locked = Board.objects.select_for_update().get(pk=board.pk)
        now = timezone.now()
        bucket = locked.bucket(period, now)
        if bucket.start >= now:
            raise InvalidInput(fields={"period": "This period was reset a moment ago; try again."})
        archive, _ = bucket_finalise(
            board=locked, bucket=bucket, end=now, reason=PeriodArchive.Reason.RESET, triggered_by=triggered_by
        )
        # The new bucket's number within its calendar bucket (its label, ``2026-11-30.2``): the
        # calendar bucket is the first; a restart of unknown number (older data) counts as the second.
        sequence = (bucket.reset_sequence or 2) + 1 if bucket.reset_at is not None else 2
        locked.period_resets = {
            **(locked.period_resets or {}),
            period: now.isoformat(),
            f"{period}.sequence": sequence,
        }
        locked.save(update_fields=["period_resets", "updated_at"])
        new_bucket = locked.bucket(period, now)
        transaction.on_commit(lambda: _after_reset(locked, new_bucket))
    board.period_resets = locked.period_resets
    return archive


def _after_reset(board: Board, bucket: Bucket) -> None:
    """Mark the new, empty bucket warm so reads and submits use Redis at once."""
    try:
        warming.bucket_warm(board=board, bucket=bucket, trigger="reset", wait=True)
    except RedisUnavailable as exc:
        logger.warning(
            "reset of %s %s: Redis unavailable, the bucket warms on first read (%s)", board.slug, bucket.period, exc
        )
    signals.standings_changed.send(sender=Board, board=board, period=bucket.period)
