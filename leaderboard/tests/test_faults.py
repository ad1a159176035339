"""Faults with real servers: Redis really stopped, PostgreSQL unreachable."""

from __future__ import annotations

import pytest
from django.db import connection

from leaderboard import rendered, selectors, services, warming
from leaderboard.models import BucketRepair, ScoreEvent
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import pg_members, redis_members
from leaderboard_project.conftest_helpers import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot(board):
    """Every read the API offers, as plain data (entries, ranks, totals)."""
    page = selectors.leaderboard_page(board=board, period="daily", limit=50)
    around = selectors.leaderboard_around(board=board, period="weekly", user_id="u03", count=2)
    members = selectors.leaderboard_members(board=board, period="all_time", user_ids=["u01", "u05", "nobody"])
    rank = selectors.user_rank(board=board, period="monthly", user_id="u04")
    return (
        [(e.user_id, e.score, e.rank) for e in page.entries],
        page.total,
        [(e.user_id, e.score, e.rank) for e in around.entries],
        [(e.user_id, e.score, e.rank) for e in members.entries],
        members.unranked,
        (rank.score, rank.rank, rank.total),
    ), {page.cached, around.cached, members.cached, rank.cached}


def test_with_redis_stopped_reads_match_submits_succeed_and_redis_is_repaired(disposable_redis, api_client):
    board = BoardFactory()
    users = [UserFactory(username=f"u{i:02d}") for i in range(8)]
    warming.board_warm(board=board)
    for i, user in enumerate(users):
        services.score_submit(board=board, user_id=user.username, value=(i % 3 + 1) * 10)

    before, sources = snapshot(board)
    assert sources == {True}

    disposable_redis.stop()  # the server process is gone, not mocked
    during, sources = snapshot(board)
    assert sources == {False}
    assert during == before

    # Submits still succeed through the API: PostgreSQL has them.
    api_client.credentials(HTTP_AUTHORIZATION=bearer(users[0]))
    response = api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["cache_updated"] is False
    assert response.json()["scores"]["all_time"] == 15
    assert ScoreEvent.objects.filter(board=board).count() == 9
    assert BucketRepair.objects.filter(board=board).count() == 5

    # Redis returns with its old data (it persisted), missing the write above.
    disposable_redis.start()
    bucket = board.live_buckets(ScoreEvent.objects.latest("id").created_at)[-1]
    assert redis_members(board, bucket)["u00"] == 10
    repaired = warming.buckets_repair_marked()
    assert repaired == 5
    assert not BucketRepair.objects.exists()
    for bucket in board.live_buckets(ScoreEvent.objects.latest("id").created_at):
        assert redis_members(board, bucket) == pg_members(board, bucket)
    after, sources = snapshot(board)
    assert sources == {True}
    assert ("u00", 15) in [(user_id, score) for user_id, score, _ in after[0]]


def test_redis_restarted_empty_is_rewarmed_from_postgres_on_the_next_read(disposable_redis, settings):
    board = BoardFactory()
    for i in range(5):
        services.score_submit(board=board, user_id=UserFactory(username=f"u{i:02d}").username, value=i + 1)
    warming.board_warm(board=board)
    hot = selectors.leaderboard_page(board=board, period="daily")
    disposable_redis.stop()
    disposable_redis.persistent = False
    disposable_redis.start()
    cold = selectors.leaderboard_page(board=board, period="daily")
    assert not cold.cached
    warm = selectors.leaderboard_page(board=board, period="daily")
    assert warm.cached
    assert [(e.user_id, e.score, e.rank) for e in warm.entries] == [(e.user_id, e.score, e.rank) for e in hot.entries]


def test_a_submit_while_postgres_is_unreachable_is_a_503_and_redis_is_untouched(api_client, settings):
    board = BoardFactory()
    user = UserFactory()
    warming.board_warm(board=board)
    services.score_submit(board=board, user_id=user.username, value=1)
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    bucket = board.live_buckets(ScoreEvent.objects.get().created_at)[-1]

    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: connecting fails for real
    try:
        response = api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    assert "database" in response.json()["detail"].lower()
    assert response["Retry-After"]
    assert ScoreEvent.objects.count() == 1
    assert redis_members(board, bucket) == {user.username: 1}


# --------------------------------------------------------------------------- hardening findings 10 and 11


@pytest.fixture
def faulty_postgres():
    """Django's connection goes through a proxy that can lose replies (real server behind it)."""
    from leaderboard.tests.helpers import FaultyProxy

    real = (connection.settings_dict["HOST"], connection.settings_dict["PORT"])
    proxy = FaultyProxy(real[0] or "127.0.0.1", int(real[1]))
    connection.close()
    connection.settings_dict["HOST"], connection.settings_dict["PORT"] = "127.0.0.1", str(proxy.port)
    yield proxy
    connection.close()
    connection.settings_dict["HOST"], connection.settings_dict["PORT"] = real
    proxy.close()


def _events(board):
    from django.db import connections

    other = connections.create_connection("default")  # past the proxy
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM leaderboard_scoreevent WHERE board_id = %s", [board.pk])
            return cursor.fetchone()[0]
    finally:
        other.close()


def test_a_submit_whose_commit_answer_is_lost_is_resolved_not_reported_as_unwritten(faulty_postgres, api_client):
    """The reply to a committed submit is lost: the service finds the event and answers 201, once."""
    board = BoardFactory()
    user = UserFactory()
    warming.board_warm(board=board)
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    first = api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1}, format="json")
    assert first.status_code == 201

    faulty_postgres.lose_replies()
    # The lost reply is noticed on the first statement; the check runs on a new connection.
    timer = __import__("threading").Timer(0.2, faulty_postgres.heal)
    timer.start()
    response = api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json")
    timer.join()
    assert response.status_code == 201, response.content
    assert response.json()["scores"]["all_time"] == 6
    assert _events(board) == 2  # counted once: neither lost nor doubled
    warming.buckets_repair_marked()
    for bucket in board.live_buckets(ScoreEvent.objects.latest("id").created_at):
        assert redis_members(board, bucket) == pg_members(board, bucket) == {user.username: 6}


def test_a_submit_whose_outcome_cannot_be_known_says_so_and_redis_converges(faulty_postgres, api_client):
    """PostgreSQL dies after the statement was sent: not "nothing written", but "outcome unknown"."""
    board = BoardFactory()
    user = UserFactory()
    warming.board_warm(board=board)
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    assert api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1}, format="json").status_code == 201

    faulty_postgres.lose_replies()
    faulty_postgres.refuse()
    response = api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json")
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["code"] == "outcome_unknown"
    assert "nothing was written" not in body["detail"]
    assert "Idempotency-Key" in body["detail"]
    assert response["Retry-After"]

    faulty_postgres.heal()
    committed = _events(board)
    assert committed in (1, 2)  # the server may or may not have committed it: that is the point
    # The buckets were marked in Redis, PostgreSQL being unreachable: the minute's repair converges.
    assert warming.buckets_repair_marked() == 5
    expected = 1 + 5 * (committed - 1)
    for bucket in board.live_buckets(ScoreEvent.objects.latest("id").created_at):
        assert redis_members(board, bucket) == pg_members(board, bucket) == {user.username: expected}


def test_a_keyed_submit_that_never_committed_is_retried_and_counted_once(faulty_postgres, api_client):
    board = BoardFactory()
    user = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    assert api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1}, format="json").status_code == 201
    faulty_postgres.lose_replies()
    timer = __import__("threading").Timer(0.2, faulty_postgres.heal)
    timer.start()
    response = api_client.post(
        f"/api/v1/boards/{board.slug}/scores", {"value": 2}, format="json", HTTP_IDEMPOTENCY_KEY="k-lost"
    )
    timer.join()
    assert response.status_code == 201, response.content
    assert response.json()["scores"]["all_time"] == 3
    assert _events(board) == 2


def test_a_bucket_marked_for_repair_is_not_served_stale_after_redis_returns(disposable_redis, api_client):
    """Redis comes back from its own persistence, behind PostgreSQL: no stale `cached: true` answer."""
    board = BoardFactory()
    user = UserFactory(username="u00")
    warming.board_warm(board=board)
    services.score_submit(board=board, user_id=user.username, value=10)
    disposable_redis.stop()
    services.score_submit(board=board, user_id=user.username, value=500)  # PostgreSQL only, buckets marked
    disposable_redis.start()  # with the old data: 10

    page = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily").json()
    assert page["entries"][0]["score"] == 510
    rank = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/all_time/rank/u00").json()
    assert rank["score"] == 510
    stats = api_client.get(f"/api/v1/boards/{board.slug}/users/u00/stats").json()
    assert stats["scores"]["daily"] == 510
    # The read that found the mark started the repair at once (eager tasks here; a worker in production).
    assert not BucketRepair.objects.filter(board=board).exists()
    rendered.forget_all()  # the read-cache interval passes: the page is rendered anew
    again = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily").json()
    assert again["cached"] is True
    assert again["entries"][0]["score"] == 510


def test_a_lost_submit_still_running_on_the_server_is_stopped_before_it_is_run_again(faulty_postgres, api_client):
    """The connection dies while the submit waits on a lock: the old server process must not commit it later."""
    import threading

    import psycopg

    board = BoardFactory()
    user = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    assert api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1}, format="json").status_code == 201

    real = connection.settings_dict
    # Another session holds the board's submits back as a manual reset does: the submit waits behind it.
    holder = psycopg.connect(
        host="127.0.0.1",
        port=int(faulty_postgres.target[1]),
        dbname=real["NAME"],
        user=real["USER"],
        password=real["PASSWORD"] or None,
    )
    holder.execute("SELECT leaderboard_board_submits_exclude(%s)", [board.pk])
    threading.Timer(1.5, holder.commit).start()
    faulty_postgres.drop_all_in(0.5)
    response = api_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json")
    holder.close()
    assert response.status_code == 201, response.content
    assert response.json()["scores"]["all_time"] == 6
    assert _events(board) == 2  # the first attempt was stopped, not left to commit behind the lock
