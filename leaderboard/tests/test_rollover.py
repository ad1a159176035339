"""Rollover, archives and manual resets, against real PostgreSQL and Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from leaderboard import rollover, services, warming
from leaderboard.models import PeriodArchive, ScoreEvent, Standing
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import in_threads, pg_members, redis_members

pytestmark = pytest.mark.django_db(transaction=True)

TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone))


def daily_archives(board) -> list[str]:
    return [
        a.bucket_start.astimezone(ZoneInfo(board.time_zone)).date().isoformat()
        for a in PeriodArchive.objects.filter(board=board, period="daily").order_by("bucket_start")
    ]


def test_rollover_happens_at_each_boards_own_local_midnight():
    tokyo = BoardFactory(time_zone=TOKYO, periods=["daily", "all_time"])
    new_york = BoardFactory(time_zone=NEW_YORK, periods=["daily", "all_time"])
    alice, bob = UserFactory(), UserFactory()
    played = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo, 07:00 in New York
    services.score_submit(board=tokyo, user_id=alice.username, value=5, at=played)
    services.score_submit(board=tokyo, user_id=bob.username, value=9, at=played)
    services.score_submit(board=new_york, user_id=alice.username, value=3, at=played)

    rollover.buckets_finalise_ended(now=local(TOKYO, 2026, 11, 23, 0, 0, 30))  # Tokyo's day is over
    assert daily_archives(tokyo) == ["2026-11-22"]
    assert daily_archives(new_york) == []

    rollover.buckets_finalise_ended(now=local(NEW_YORK, 2026, 11, 23, 0, 0, 30))
    assert daily_archives(new_york) == ["2026-11-22"]
    archive = PeriodArchive.objects.get(board=tokyo, period="daily")
    assert archive.participants == 2
    assert archive.winners == [{"user_id": bob.username, "score": 9, "rank": 1}]
    assert [e["user_id"] for e in archive.top] == [bob.username, alice.username]
    assert archive.bucket_end == local(TOKYO, 2026, 11, 23, 0, 0).astimezone(UTC)
    # The standings stay as history; all-time is never archived.
    assert Standing.objects.filter(board=tokyo, period="daily").count() == 2
    assert not PeriodArchive.objects.filter(period="all_time").exists()


def test_missed_days_are_caught_up_oldest_first():
    board = BoardFactory(time_zone="UTC", periods=["daily", "weekly"])
    user = UserFactory()
    for day in (16, 17, 19):  # nobody played on the 18th
        services.score_submit(board=board, user_id=user.username, value=day, at=datetime(2026, 11, day, 9, tzinfo=UTC))
    result = rollover.buckets_finalise_ended(now=datetime(2026, 11, 24, 0, 5, tzinfo=UTC))
    assert daily_archives(board) == ["2026-11-16", "2026-11-17", "2026-11-19"]
    weekly = PeriodArchive.objects.get(board=board, period="weekly")
    assert weekly.top == [{"user_id": user.username, "score": 16 + 17 + 19, "rank": 1}]
    assert len(result.archived) == 4


def test_running_rollover_twice_or_concurrently_archives_once():
    board = BoardFactory(time_zone="UTC", periods=["daily"])
    services.score_submit(
        board=board, user_id=UserFactory().username, value=1, at=datetime(2026, 11, 20, 9, tzinfo=UTC)
    )
    later = datetime(2026, 11, 21, 0, 1, tzinfo=UTC)
    results = in_threads(4, lambda _: rollover.buckets_finalise_ended(now=later))
    assert sum(len(r.archived) for r in results) == 1
    assert rollover.buckets_finalise_ended(now=later).archived == []
    assert PeriodArchive.objects.filter(board=board).count() == 1


def test_a_reset_under_twenty_submitting_threads_loses_and_duplicates_nothing():
    board = BoardFactory(periods=["daily", "all_time"], max_value=10)
    warming.board_warm(board=board)
    users = [UserFactory(username=f"r{i:02d}") for i in range(20)]
    per_thread = 40
    half = threading.Barrier(21)

    def work(i: int) -> None:
        for n in range(per_thread):
            if n == per_thread // 2:
                half.wait()
            services.score_submit(board=board, user_id=users[i].username, value=1)

    runner = threading.Thread(target=lambda: in_threads(20, work))
    runner.start()
    half.wait()  # every thread is half way: reset while the rest keep submitting
    archive = rollover.period_reset(board=board, period="daily", triggered_by="test")
    runner.join()

    total = 20 * per_thread
    assert ScoreEvent.objects.filter(board=board).count() == total
    old = Standing.objects.filter(board=board, period="daily", bucket_start=archive.bucket_start)
    new = Standing.objects.filter(board=board, period="daily").exclude(bucket_start=archive.bucket_start)
    before, after = old.aggregate(s=Sum("score"))["s"] or 0, new.aggregate(s=Sum("score"))["s"] or 0
    assert before + after == total
    assert before >= 20 * (per_thread // 2)
    assert sum(e["score"] for e in archive.top) == before
    assert archive.reason == "reset" and archive.participants == 20
    # All-time is untouched by a daily reset, and the new daily bucket is the same in both stores.
    assert Standing.objects.filter(board=board, period="all_time").aggregate(s=Sum("score"))["s"] == total
    board.refresh_from_db()
    bucket = board.bucket("daily", ScoreEvent.objects.latest("id").created_at)
    assert bucket.start > archive.bucket_start
    assert redis_members(board, bucket) == pg_members(board, bucket)


def test_reads_after_a_reset_start_from_zero():
    from leaderboard import selectors

    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=7)
    rollover.period_reset(board=board, period="weekly")
    assert selectors.leaderboard_page(board=board, period="weekly").entries == []
    assert selectors.leaderboard_page(board=board, period="daily").entries[0].score == 7
    services.score_submit(board=board, user_id=user.username, value=2)
    page = selectors.leaderboard_page(board=board, period="weekly")
    assert [(e.user_id, e.score) for e in page.entries] == [(user.username, 2)]
    assert page.cached


def test_after_a_reset_the_rest_of_the_period_is_archived_at_its_end():
    board = BoardFactory(time_zone="UTC", periods=["daily"])
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)
    rollover.period_reset(board=board, period="daily")
    services.score_submit(board=board, user_id=user.username, value=4)
    tomorrow = board.bucket("daily", datetime.now(UTC)).end + timedelta(minutes=1)
    rollover.buckets_finalise_ended(now=tomorrow)
    archives = list(PeriodArchive.objects.filter(board=board).order_by("bucket_start"))
    assert [(a.reason, a.top[0]["score"]) for a in archives] == [("reset", 1), ("rollover", 4)]


def test_a_reset_before_rollover_still_archives_the_previous_bucket():
    board = BoardFactory(time_zone="UTC", periods=["daily"])
    user = UserFactory()
    now = datetime.now(UTC)
    today = board.bucket("daily", now)
    yesterday = today.start - timedelta(hours=1)
    services.score_submit(board=board, user_id=user.username, value=3, at=yesterday)
    services.score_submit(board=board, user_id=user.username, value=5, at=max(today.start, now - timedelta(seconds=1)))
    # Reset before the rollover archived yesterday (a reset just after midnight, or beat down).
    rollover.period_reset(board=board, period="daily")
    archived = rollover.buckets_finalise_ended(now=datetime.now(UTC)).archived
    assert [(a.bucket_start, a.reason, a.top[0]["score"]) for a in archived] == [
        (board.bucket("daily", yesterday).start, "rollover", 3)
    ]
    # Exactly once, whatever runs next.
    assert rollover.buckets_finalise_ended(now=datetime.now(UTC)).archived == []
    board.refresh_from_db()
    tomorrow = today.end + timedelta(minutes=1)
    assert rollover.buckets_finalise_ended(now=tomorrow).archived == []  # the restarted bucket holds nobody
    assert [
        (a.reason, a.top[0]["score"]) for a in PeriodArchive.objects.filter(board=board).order_by("bucket_start")
    ] == [
        ("rollover", 3),
        ("reset", 5),
    ]
