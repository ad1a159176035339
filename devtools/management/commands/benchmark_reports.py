"""Top-players report over 1,000,000 score events: prints the time (target under 1 s)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from devtools import demo
from leaderboard.models import Board, ScoreEvent, Standing
from reports.selectors import top_players


class Command(BaseCommand):
    help = "Benchmark the top-players report over 1,000,000 score events."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--users", type=int, default=100_000)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--repeat", type=int, default=5)

    def handle(self, *args, events: int, users: int, days: int, repeat: int, **options) -> None:
        board, _ = Board.objects.update_or_create(
            slug="bench-reports",
            defaults={"name": "Reports benchmark", "operator": "best", "period_resets": {}},
        )
        Standing.objects.filter(board=board).delete()
        ScoreEvent.objects.filter(board=board).delete()
        mark = time.perf_counter()
        demo.users_bulk_create(prefix="bench", count=users)
        demo.events_bulk_create(board=board, prefix="bench", users=users, events=events, days=days, max_value=10**6)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {ScoreEvent._meta.db_table}")
        self.stdout.write(
            f"seeded {events:,} events by {users:,} users over {days} days in {time.perf_counter() - mark:.1f}s"
        )
        end = timezone.localdate()
        start = end - timedelta(days=days)
        timings = []
        for _ in range(repeat):
            mark = time.perf_counter()
            report = top_players(board=board, start_date=start, end_date=end, limit=10)
            timings.append(time.perf_counter() - mark)
        self.stdout.write(
            f"top players over {days} days ({report.total:,} players): best {min(timings) * 1000:.0f} ms, "
            f"worst {max(timings) * 1000:.0f} ms over {repeat} runs (target < 1000 ms)"
        )
        self.stdout.write("winner: " + str(report.entries[0] if report.entries else None))
        ScoreEvent.objects.filter(board=board).delete()
        board.delete()
