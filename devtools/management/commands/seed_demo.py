"""Create demo users and score events in bulk, rebuild the live standings, warm Redis."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from devtools import demo
from leaderboard import services, warming
from leaderboard.models import Board


class Command(BaseCommand):
    help = "Create N demo users and M score events on a board (bulk inserts), then rebuild and warm its standings."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--board", default="score", help="board slug (default: score)")
        parser.add_argument("--users", type=int, default=1_000)
        parser.add_argument("--events", type=int, default=10_000)
        parser.add_argument("--days", type=float, default=1.0, help="spread events over the last D days")
        parser.add_argument("--prefix", default="demo", help="user ids are <prefix>0000001...")

    def handle(self, *args, board: str, users: int, events: int, days: float, prefix: str, **options) -> None:
        if users < 1 or events < 0 or users > 9_999_999:
            raise CommandError("--users must be 1..9999999 and --events >= 0")
        found = Board.objects.filter(slug=board).first()
        if found is None:
            raise CommandError(f"No board {board!r}; boards: {', '.join(Board.objects.values_list('slug', flat=True))}")
        started = time.perf_counter()
        created = demo.users_bulk_create(prefix=prefix, count=users)
        self.stdout.write(f"users: {created} created ({users} wanted) in {time.perf_counter() - started:.1f}s")
        mark = time.perf_counter()
        count = demo.events_bulk_create(
            board=found, prefix=prefix, users=users, events=events, days=days, max_value=min(found.max_value, 1000)
        )
        self.stdout.write(f"events: {count} in {time.perf_counter() - mark:.1f}s")
        mark = time.perf_counter()
        rebuilt = services.standings_rebuild(board=found)
        self.stdout.write(f"standings rebuilt from events: {rebuilt} in {time.perf_counter() - mark:.1f}s")
        for result in warming.board_warm(board=found):
            self.stdout.write(
                f"warmed {result.period} {result.bucket}: {result.members} members in {result.seconds:.2f}s"
            )
        self.stdout.write(self.style.SUCCESS(f"done in {time.perf_counter() - started:.1f}s"))
