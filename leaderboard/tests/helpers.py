"""Helpers for leaderboard tests: comparisons of the two stores, thread pools."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection

from leaderboard import redis_store
from leaderboard.models import Board, Standing
from leaderboard.periods import Bucket


def seed(board: Board, scores: dict[str, int]) -> None:
    """Users and their standings in every live bucket, written directly (no broadcasts), then warmed."""
    from django.utils import timezone

    from leaderboard import services
    from leaderboard.tests.factories import UserFactory

    now = timezone.now()
    for user_id in scores:
        UserFactory(username=user_id)
    Standing.objects.bulk_create(
        Standing(board=board, period=b.period, bucket_start=b.start, user_id=u, score=s, created_at=now, updated_at=now)
        for u, s in scores.items()
        for b in board.live_buckets(now)
    )
    services.board_warm(board=board)


def redis_members(board: Board, bucket: Bucket) -> dict[str, int]:
    found: dict[str, int] = {}
    for batch in redis_store.bucket_members(board_slug=board.slug, period=bucket.period, bucket=bucket.key):
        found.update(batch)
    return found


def pg_members(board: Board, bucket: Bucket) -> dict[str, int]:
    rows = Standing.objects.filter(board=board, period=bucket.period, bucket_start=bucket.start)
    return dict(rows.values_list("user_id", "score"))


def in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` for i in range(count) on ``count`` threads, each with its own connection."""

    def run(i: int) -> object:
        try:
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
