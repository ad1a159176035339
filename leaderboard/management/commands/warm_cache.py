"""Cache initialisation (seed 000's init_redis_cache): rebuild Redis from PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import cast

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.services import user_get_or_create_player
from leaderboard import selectors, services, warming
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.periods import PERIOD_ORDER, parse_period
from leaderboard.store import keys
from leaderboard.store.connection import RedisUnavailable, keys_delete


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.2f} ms  p99 {p99:.2f} ms  ({len(ordered)} calls)"


@contextlib.contextmanager
def table_instead_of_log() -> Iterator[None]:
    """The service's "warmed ..." log line says what this command's table row says: keep only the row.

    Other records of the service (warnings, errors) still reach the log.
    """

    def not_a_warm_line(record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and str(record.msg).startswith("warmed "))

    service_log = logging.getLogger(warming.__name__)
    service_log.addFilter(not_a_warm_line)
    try:
        yield
    finally:
        service_log.removeFilter(not_a_warm_line)


class Command(BaseCommand):
    help = "Warm the Redis sorted sets of the live buckets from PostgreSQL (streamed, pipelined)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--board", action="append", help="board slug (repeatable; default: every active board)")
        parser.add_argument("--period", action="append", help=f"period (repeatable): {', '.join(PERIOD_ORDER)}")
        parser.add_argument(
            "--test-performance",
            action="store_true",
            help="afterwards, print p50/p99 latencies of top-10, rank and submit (on a scratch board)",
        )
        parser.add_argument("--samples", type=int, default=500, help="calls per latency measurement")

    def handle(self, *args, board, period, test_performance: bool, samples: int, **options) -> None:
        boards = list(Board.objects.filter(is_active=True, **({"slug__in": board} if board else {})))
        if board and len(boards) != len(set(board)):
            missing = set(board) - {b.slug for b in boards}
            raise CommandError(f"Unknown boards: {', '.join(sorted(missing))}")
        periods = None
        if period:
            periods = [str(parse_period(p) or "") for p in period]
            if "" in periods:
                raise CommandError(f"Unknown period; use {', '.join(PERIOD_ORDER)}")
        total, started = 0, time.perf_counter()
        # Rows name buckets as the API does (2026-11-30, 2026-11-30.2 after a reset), in columns
        # as wide as the longest slug and label, so every row lines up.
        now = timezone.now()
        labels = {(b.pk, bucket.period): bucket.label for b in boards for bucket in b.live_buckets(now)}
        slug_width = max([16, *(len(b.slug) for b in boards)])
        label_width = max([10, *(len(label) for label in labels.values())])
        try:
            with table_instead_of_log():
                for found in boards:
                    for result in warming.board_warm(board=found, periods=periods):
                        total += result.members
                        rate = result.members / result.seconds if result.seconds else 0
                        label = labels.get((found.pk, result.period), result.bucket)
                        self.stdout.write(
                            f"{found.slug:>{slug_width}} {result.period:<8} {label:<{label_width}} "
                            f"{result.members:>9} members  {result.seconds:6.2f}s  {rate:>10,.0f}/s"
                        )
        except RedisUnavailable as exc:
            raise CommandError(f"Redis is unavailable: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"warmed {total} members in {time.perf_counter() - started:.2f}s"))
        if test_performance:
            if not boards:
                raise CommandError("No board to measure")
            # The named board, or the one with the most ranked users.
            measured = boards[0] if board else max(boards, key=lambda b: b.standings.count())
            with table_instead_of_log():  # the scratch board's warming is no news either
                self.performance(measured, samples)

    def performance(self, board: Board, samples: int) -> None:
        """Latencies through the same selectors and service the API uses."""
        period = board.ordered_periods[0]
        # The user id column holds usernames (the foreign key's ``to_field``), whatever the stubs infer.
        users = cast(
            list[str],
            list(Standing.objects.filter(board=board, period=period).values_list("user_id", flat=True)[:1000]),
        )
        timings: dict[str, list[float]] = {"top-10": [], "rank": [], "submit": []}
        for _ in range(samples):
            mark = time.perf_counter()
            selectors.leaderboard_page(board=board, period=period, limit=10)
            timings["top-10"].append((time.perf_counter() - mark) * 1000)
            if users:
                mark = time.perf_counter()
                selectors.user_rank(board=board, period=period, user_id=random.choice(users))
                timings["rank"].append((time.perf_counter() - mark) * 1000)
        scratch = Board.objects.create(slug=f"perf-{uuid.uuid4().hex[:8]}", name="performance test (temporary)")
        try:
            player = user_get_or_create_player(user_id=f"perf-{uuid.uuid4().hex[:8]}")
            warming.board_warm(board=scratch)
            for _ in range(samples):
                mark = time.perf_counter()
                services.score_submit(board=scratch, user_id=player.username, value=1)
                timings["submit"].append((time.perf_counter() - mark) * 1000)
        finally:
            Standing.objects.filter(board=scratch).delete()
            ScoreEvent.objects.filter(board=scratch).delete()
            keys_delete(keys.board_pattern(scratch.slug))
            scratch.delete()
            player.delete()
        self.stdout.write(f"board {board.slug} / {period}:")
        for name, values in timings.items():
            if values:
                self.stdout.write(f"  {name:<7} {percentiles(values)}")
