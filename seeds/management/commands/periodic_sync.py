"""Seed 001's management script: status, sync, start, stop and test of the hourly reconciliation."""

from __future__ import annotations

import json
import uuid
from typing import cast

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.services import user_get_or_create_player
from leaderboard import services, sync, warming
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys


class Command(BaseCommand):
    help = "Manage the hourly reconciliation that repairs Redis from PostgreSQL."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["status", "sync", "start", "stop", "test"])
        parser.add_argument("--dry-run", action="store_true", help="with sync: report, change nothing")

    def handle(self, *args, action: str, dry_run: bool, **options) -> None:
        if action == "status":
            status = sync.sync_status()
            last = status["last_run"]
            self.stdout.write(f"hourly schedule: {'enabled' if status['enabled'] else 'disabled'}")
            self.stdout.write(f"running now:     {'yes' if status['running'] else 'no'}")
            self.stdout.write(f"last success:    {status['last_success_at'] or 'never'}")
            if last is not None:
                self.stdout.write(f"last run:        {self.describe(last)}")
        elif action == "sync":
            run = sync.reconciliation_run(dry_run=dry_run, trigger="command")
            self.stdout.write(self.describe(run))
            if run.status == "failed":
                raise CommandError(run.detail)
        elif action in ("start", "stop"):
            enabled = sync.sync_schedule_set(enabled=action == "start")
            self.stdout.write(f"hourly reconciliation {'enabled' if enabled else 'disabled'}")
        else:
            self.scenario()

    def describe(self, run) -> str:
        kind = "dry run" if run.dry_run else "run"
        return (
            f"{kind} {run.pk} {run.status} in {run.duration_seconds or 0:.2f}s: created {run.created}, "
            f"updated {run.updated}, deleted {run.deleted}, unchanged {run.unchanged}, errors {run.error_count}"
            + (f" ({run.detail})" if run.detail else "")
        )

    def step(self, text: str) -> None:
        self.stdout.write(text)

    def expect(self, ok: bool, text: str) -> None:
        """Print a step's verdict; a failed one ends the scenario (named apart from Django's ``check``)."""
        self.stdout.write((self.style.SUCCESS("ok   ") if ok else self.style.ERROR("FAIL ")) + text)
        if not ok:
            raise CommandError(text)

    def scenario(self) -> None:
        """Seed 001's test: creation, update and deletion repair, on a scratch board, then clean up."""
        tag = uuid.uuid4().hex[:6]
        board = Board.objects.create(
            slug=f"sync-test-{tag}", name="reconciliation test (temporary)", periods=["daily", "weekly"]
        )
        users = [user_get_or_create_player(user_id=f"sync_test_{tag}_{i}") for i in (1, 2, 3)]
        try:
            self.step("1. creating 3 test users with scores in PostgreSQL and Redis")
            warming.board_warm(board=board)
            for user, value in zip(users, (5, 3, 8), strict=True):
                services.score_submit(board=board, user_id=user.username, value=value)
            bucket = board.bucket("daily", timezone.now())
            key = store_keys.bucket(board.slug, "daily", bucket.key)
            conn = store_connection.client()
            self.expect(conn.zcard(key) == 3, "3 members in Redis")

            self.step("2. removing test user 1 from Redis, then reconciling")
            conn.zrem(key, users[0].username)
            run = sync.reconciliation_run(trigger="command-test", boards=[board])
            self.step("   " + self.describe(run))
            self.expect(run.created == 1 and conn.zscore(key, users[0].username) == 5, "user 1 recreated with 5")

            self.step("3. corrupting test user 2's score in Redis, then reconciling")
            conn.zadd(key, {users[1].username: 42})
            run = sync.reconciliation_run(trigger="command-test", boards=[board])
            self.step("   " + self.describe(run))
            self.expect(run.updated == 1 and conn.zscore(key, users[1].username) == 3, "user 2 back to 3")

            self.step("4. adding a member PostgreSQL does not know, then reconciling")
            conn.zadd(key, {f"sync_test_{tag}_ghost": 7})
            dry = sync.reconciliation_run(dry_run=True, trigger="command-test", boards=[board])
            self.expect(dry.deleted == 1 and conn.zcard(key) == 4, "a dry run reports it and changes nothing")
            run = sync.reconciliation_run(trigger="command-test", boards=[board])
            self.step("   " + self.describe(run))
            self.expect(run.deleted == 1 and conn.zcard(key) == 3, "the stray member is removed")
            members = cast(list[tuple[str, float]], conn.zrange(key, 0, -1, withscores=True))
            self.step("   Redis now: " + json.dumps({str(member): int(score) for member, score in members}))
        finally:
            self.step("5. cleaning up")
            Standing.objects.filter(board=board).delete()
            ScoreEvent.objects.filter(board=board).delete()
            store_connection.keys_delete(store_keys.board_pattern(board.slug))
            board.delete()
            for user in users:
                user.delete()
        self.stdout.write(self.style.SUCCESS("reconciliation test completed successfully"))
