"""The store on a Redis Cluster, including when one of its primaries dies (a cluster of the test's own)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from redis.cluster import RedisCluster

from leaderboard import selectors, services, warming
from leaderboard.models import BucketRepair
from leaderboard.store import keys
from leaderboard.store.connection import client, is_cluster, keys_count, memory_used, server_info
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _port(child) -> int:
    argv = list(child.popen.args)
    return int(argv[argv.index("--port") + 1])


def test_reads_submits_limits_and_clearing_work_on_a_cluster(disposable_cluster, auth_client, settings):
    assert is_cluster()
    settings.LEADERBOARD_SUBMIT_RATE_USER = "3/min"
    boards = [BoardFactory(periods=["daily", "all_time"]) for _ in range(4)]  # spread over the slots
    for board in boards:
        warming.board_warm(board=board)
        codes = [
            auth_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json").status_code
            for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        top = auth_client.get(f"/api/v1/boards/{board.slug}/leaderboard/all_time").json()
        assert top["cached"] is True and top["entries"][0]["score"] == 15
    assert keys_count(keys.all_pattern()) > 0
    assert server_info()["nodes"] == 3 and memory_used() > 0
    assert warming.cache_clear() > 0  # keys of every primary, deleted slot by slot
    assert keys_count(keys.all_pattern()) == 0


def test_a_dead_primary_degrades_to_postgres_and_repairs_never_a_500(disposable_cluster, api_client, auth_client):
    board = BoardFactory(periods=["all_time"])
    warming.board_warm(board=board)
    for user in UserFactory.create_batch(3):
        services.score_submit(board=board, user_id=user.username, value=10)
    conn = client()
    assert isinstance(conn, RedisCluster)
    owner = conn.get_node_from_key(keys.bucket(board.slug, "all_time", "all")).port
    dead = next(child for child in disposable_cluster if _port(child) == owner)
    dead.stop()
    top = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/all_time")
    assert top.status_code == 200 and top.json()["cached"] is False  # PostgreSQL answered
    assert [e["score"] for e in top.json()["entries"]] == [10, 10, 10]
    submitted = auth_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 4}, format="json")
    assert submitted.status_code == 201  # committed in PostgreSQL; Redis is repaired later
    bucket = board.bucket("all_time", timezone.now())
    assert BucketRepair.objects.filter(board=board, period="all_time", bucket_start=bucket.start).exists()
    assert api_client.get("/readyz").status_code == 503
    page = selectors.leaderboard_page(board=board, period="all_time", limit=10)
    assert not page.cached and page.total == 4
