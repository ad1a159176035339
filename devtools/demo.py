"""Bulk demo and benchmark data, generated inside PostgreSQL (fast, no Python loops)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.models import User
from leaderboard.models import Board, ScoreEvent, Standing


def users_bulk_create(*, prefix: str, count: int) -> int:
    """``count`` users named ``<prefix>0000001``... with unusable passwords; existing ones are kept."""
    table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (username, password, is_superuser, first_name, last_name, email,
                                 is_staff, is_active, date_joined)
            SELECT %(prefix)s || lpad(i::text, 7, '0'), '!', false, '', '', '', false, true, now()
            FROM generate_series(1, %(count)s) AS i
            ON CONFLICT (username) DO NOTHING
            """,
            {"prefix": prefix, "count": count},
        )
        return cursor.rowcount


def events_bulk_create(*, board: Board, prefix: str, users: int, events: int, days: float, max_value: int) -> int:
    """``events`` random score events by the ``prefix`` users over the last ``days`` days."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {ScoreEvent._meta.db_table} (board_id, user_id, value, metadata, submitted_by, created_at)
            SELECT %(board)s, %(prefix)s || lpad((1 + floor(random() * %(users)s))::int::text, 7, '0'),
                   1 + floor(random() * %(max)s)::bigint, '{{}}'::jsonb, 'seed_demo',
                   now() - random() * make_interval(secs => %(seconds)s)
            FROM generate_series(1, %(events)s)
            """,
            {
                "board": board.pk,
                "prefix": prefix,
                "users": users,
                "events": events,
                "max": max(1, max_value),
                "seconds": days * 86_400,
            },
        )
        return cursor.rowcount


def standings_bulk_create(*, board: Board, period: str, prefix: str, users: int, max_score: int) -> int:
    """Synthetic standings for the live bucket of ``period`` (benchmarks: no history behind them)."""
    bucket = board.bucket(period, timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Standing._meta.db_table} WHERE board_id = %s AND period = %s AND bucket_start = %s",
            [board.pk, period, bucket.start],
        )
        cursor.execute(
            f"""
            INSERT INTO {Standing._meta.db_table}
                (board_id, period, bucket_start, user_id, score, created_at, updated_at)
            SELECT %(board)s, %(period)s, %(start)s, %(prefix)s || lpad(i::text, 7, '0'),
                   floor(random() * %(max)s)::bigint, now(), now()
            FROM generate_series(1, %(users)s) AS i
            """,
            {
                "board": board.pk,
                "period": period,
                "start": bucket.start,
                "prefix": prefix,
                "users": users,
                "max": max_score,
            },
        )
        return cursor.rowcount


@contextmanager
def staff_user_temporary(*, username: str) -> Iterator[User]:
    """A staff account (a trusted game server's) for the block: benchmarks submit as it.

    The database is left as it was found when the block ends, by an exception or
    Ctrl-C too: an account this created is deleted (or, should it have scores of
    its own by then, which PROTECT keeps, made non-staff again); one that existed
    keeps its row and gets its ``is_staff`` back.
    """
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    was_staff = user.is_staff and not created
    if not user.is_staff:
        User.objects.filter(pk=user.pk).update(is_staff=True)
        user.is_staff = True
    try:
        yield user
    finally:
        if created:
            try:
                User.objects.filter(pk=user.pk).delete()
            except ProtectedError:
                User.objects.filter(pk=user.pk).update(is_staff=False)
        elif not was_staff:
            User.objects.filter(pk=user.pk).update(is_staff=False)
