"""Reconciliation at scale: 1,000,000 users in one bucket, damaged, then repaired.

Prints the run's duration and the process' peak resident memory while it ran
(targets on our 2-core machine: under 30 s and under 200 MB). Only its own board
is reconciled, and it is deleted afterwards, Ctrl-C included: every other board
is left as it was found.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils import timezone

from devtools import demo
from leaderboard import sync, warming
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.store import connection as store_connection
from leaderboard.store import keys


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples the resident set size every 20 ms in a thread."""

    def __enter__(self) -> PeakRss:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Command(BaseCommand):
    help = "Benchmark the reconciliation with 1,000,000 users in one bucket."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=1_000_000)
        parser.add_argument("--damage", type=int, default=1_000, help="members deleted, altered and added each")

    def handle(self, *args, users: int, damage: int, **options) -> None:
        board, _ = Board.objects.update_or_create(
            slug="bench-reconcile",
            defaults={
                "name": "Reconciliation benchmark",
                "periods": ["all_time"],
                "operator": "increment",
                "period_resets": {},
                "is_active": True,
            },
        )
        self.board_clear(board)
        try:
            self.measure(board, users, damage)
        finally:
            self.board_clear(board)
            board.delete()

    def measure(self, board: Board, users: int, damage: int) -> None:
        mark = time.perf_counter()
        demo.users_bulk_create(prefix="bench", count=users)
        demo.standings_bulk_create(board=board, period="all_time", prefix="bench", users=users, max_score=1_000_000)
        bucket = board.bucket("all_time", timezone.now())
        warming.bucket_warm(board=board, bucket=bucket, wait=True)
        self.stdout.write(f"seeded and warmed {users:,} members in {time.perf_counter() - mark:.1f}s")

        key = keys.bucket(board.slug, "all_time", bucket.key)
        conn = store_connection.client()
        picks = random.sample(range(1, users + 1), 2 * damage)
        conn.zrem(key, *[f"bench{i:07d}" for i in picks[:damage]])
        conn.zadd(key, {f"bench{i:07d}": -1 for i in picks[damage:]})
        conn.zadd(key, {f"stray{i:07d}": 1 for i in range(damage)})
        self.stdout.write(f"damaged: {damage} deleted, {damage} altered, {damage} strays added")

        baseline = rss_bytes()
        with PeakRss() as memory:
            # Its own board only: other boards are neither reconciled nor touched.
            run = sync.reconciliation_run(trigger="benchmark", boards=[board])
        exact = conn.zcard(key) == users
        self.stdout.write(
            f"reconciliation: {run.status} in {run.duration_seconds:.2f}s (target < 30 s); "
            f"created {run.created:,}, updated {run.updated:,}, deleted {run.deleted:,}, unchanged {run.unchanged:,}"
        )
        self.stdout.write(
            f"peak RSS during the run: {memory.peak / 2**20:.0f} MB (target < 200 MB; "
            f"{baseline / 2**20:.0f} MB before it started); Redis matches PostgreSQL: {exact}"
        )

    def board_clear(self, board: Board) -> None:
        Standing.objects.filter(board=board).delete()
        ScoreEvent.objects.filter(board=board).delete()
        store_connection.keys_delete(keys.board_pattern(board.slug))
