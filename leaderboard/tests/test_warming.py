"""Warming and repair (``leaderboard.warming``): Redis rebuilt from PostgreSQL, against real servers."""

from __future__ import annotations

import threading
from typing import cast

import pytest
from django.utils import timezone

from leaderboard import services, warming
from leaderboard.models import BucketRepair, Standing
from leaderboard.store import buckets as store_buckets
from leaderboard.store import coordination, keys
from leaderboard.store.connection import client
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _all_time(board):
    return board.bucket("all_time", timezone.now())


def test_a_warm_replaces_the_bucket_with_exactly_what_postgres_holds():
    board = BoardFactory(periods=["all_time"])
    users = UserFactory.create_batch(5)
    for i, user in enumerate(users):
        services.score_submit(board=board, user_id=user.username, value=i + 1)
    bucket = _all_time(board)
    client().zadd(keys.bucket(board.slug, "all_time", bucket.key), {"stray": 99})
    result = warming.bucket_warm(board=board, bucket=bucket)
    assert result.members == 5 and not result.skipped
    # The client decodes responses: members are str (the store casts them the same way).
    members = client().zrange(keys.bucket(board.slug, "all_time", bucket.key), 0, -1, withscores=True)
    found = dict(cast(list[tuple[str, float]], members))
    assert found == {u.username: float(i + 1) for i, u in enumerate(users)}
    assert store_buckets.bucket_is_ready(board_slug=board.slug, period="all_time", bucket=bucket.key)


def test_one_warm_at_a_time_per_bucket_the_others_are_told_they_were_skipped():
    board = BoardFactory(periods=["all_time"])
    bucket = _all_time(board)
    name = keys.warm_lock_name(bucket.period, bucket.key)
    token = store_buckets.lock_acquire(board_slug=board.slug, name=name, ttl_ms=10_000)
    assert token is not None
    try:
        assert warming.bucket_warm(board=board, bucket=bucket).skipped
    finally:
        store_buckets.lock_release(board_slug=board.slug, name=name, token=token)
    assert not warming.bucket_warm(board=board, bucket=bucket).skipped


def test_a_read_of_a_cold_bucket_warms_it_once_for_many_readers():
    board = BoardFactory(periods=["all_time"])
    for user in UserFactory.create_batch(3):
        services.score_submit(board=board, user_id=user.username, value=5)
    bucket = _all_time(board)
    store_buckets.bucket_invalidate(board_slug=board.slug, period="all_time", bucket=bucket.key)
    threads = [threading.Thread(target=warming.bucket_warm_on_miss, kwargs={"board": board, "bucket": bucket})]
    threads += [threading.Thread(target=warming.bucket_warm_on_miss, kwargs={"board": board, "bucket": bucket})]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store_buckets.bucket_card(board_slug=board.slug, period="all_time", bucket=bucket.key) == 3


def test_marks_that_postgres_could_not_take_are_moved_there_and_repaired():
    board = BoardFactory(periods=["all_time"])
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=4)
    bucket = _all_time(board)
    Standing.objects.filter(board=board, user_id=user.username).update(score=40)  # Redis now behind PostgreSQL
    coordination.repair_pending_add(marks={f"{board.pk}|all_time|{bucket.start.isoformat()}": "test"})
    assert warming.buckets_repair_marked() == 1
    assert coordination.repair_pending_take() == {}
    assert not BucketRepair.objects.exists()
    assert store_buckets.members_scores(
        board_slug=board.slug, period="all_time", bucket=bucket.key, members=[user.username]
    ) == [40]


def test_a_newer_mark_made_while_a_repair_ran_survives_it(monkeypatch):
    board = BoardFactory(periods=["all_time"])
    bucket = _all_time(board)
    warming.buckets_mark_for_repair(board=board, buckets=[bucket], reason="first")
    real_warm = warming.bucket_warm

    def warm_while_a_submit_fails_again(**kwargs):
        # A submit's Redis write fails while the repair is running: it marks the bucket again.
        warming.buckets_mark_for_repair(board=board, buckets=[bucket], reason="second")
        return real_warm(**kwargs)

    monkeypatch.setattr(warming, "bucket_warm", warm_while_a_submit_fails_again)
    assert warming.buckets_repair_marked() == 1
    # The repair read the first mark: the newer one stays for the next run.
    assert BucketRepair.objects.get().reason == "second"
    monkeypatch.setattr(warming, "bucket_warm", real_warm)
    assert warming.buckets_repair_marked() == 1
    assert not BucketRepair.objects.exists()


def test_a_bucket_warmed_empty_gets_its_expiry_from_the_scores_caught_up_after_it(monkeypatch):
    """Warming found nothing; a submit committed meanwhile is caught up: the key it creates expires with the bucket."""
    board = BoardFactory(periods=["daily"])
    bucket = board.live_buckets(timezone.now())[0]
    player = UserFactory()
    real_finish = store_buckets.warm_finish

    def finish_then_commit(**kwargs):
        real_finish(**kwargs)
        now = timezone.now()
        Standing.objects.create(
            board=board, period="daily", bucket_start=bucket.start, user=player, score=3, created_at=now, updated_at=now
        )

    monkeypatch.setattr(store_buckets, "warm_finish", finish_then_commit)
    warming.bucket_warm(board=board, bucket=bucket)
    key = keys.bucket(board.slug, "daily", bucket.key)
    server = client()
    assert server.zscore(key, player.username) == 3
    assert 0 < server.ttl(key) <= warming.bucket_expire_at(bucket) - int(timezone.now().timestamp()) + 1
