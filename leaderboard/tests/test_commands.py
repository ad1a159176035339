"""Management commands: cache warming."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leaderboard import services, warming
from leaderboard.models import ScoreEvent
from leaderboard.store import buckets as store_buckets
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import pg_members, redis_members

pytestmark = pytest.mark.django_db(transaction=True)


def test_warm_cache_rebuilds_redis_from_postgres_and_reports_counts():
    board = BoardFactory(slug="warm-me")
    for i in range(30):
        services.score_submit(board=board, user_id=UserFactory(username=f"w{i:02d}").username, value=i + 1)
    warming.cache_clear()
    out = StringIO()
    call_command("warm_cache", "--board", "warm-me", "--period", "daily", "--period", "all-time", stdout=out)
    assert "warmed 60 members" in out.getvalue()
    now = ScoreEvent.objects.latest("id").created_at
    for period in ("daily", "all_time"):
        bucket = board.bucket(period, now)
        assert redis_members(board, bucket) == pg_members(board, bucket)
        assert len(redis_members(board, bucket)) == 30
    weekly = board.bucket("weekly", now)
    assert not store_buckets.bucket_is_ready(board_slug=board.slug, period="weekly", bucket=weekly.key)


def test_warm_cache_test_performance_prints_latencies_and_leaves_no_trace():
    board = BoardFactory(slug="perf-source")
    services.score_submit(board=board, user_id=UserFactory().username, value=5)
    boards_before = set(board._meta.model.objects.values_list("slug", flat=True))
    out = StringIO()
    call_command("warm_cache", "--board", "perf-source", "--test-performance", "--samples", "20", stdout=out)
    text = out.getvalue()
    for name in ("top-10", "rank", "submit"):
        assert f"  {name}" in text and "p99" in text
    assert set(board._meta.model.objects.values_list("slug", flat=True)) == boards_before
    assert ScoreEvent.objects.count() == 1


def test_warm_cache_names_unknown_boards_and_periods():
    with pytest.raises(CommandError, match="Unknown boards: nope"):
        call_command("warm_cache", "--board", "nope")
    BoardFactory(slug="real")
    with pytest.raises(CommandError, match="Unknown period"):
        call_command("warm_cache", "--board", "real", "--period", "hourly")
