"""The Redis store's own guarantees, against a real server."""

from __future__ import annotations

import pytest

from leaderboard import redis_store, selectors, services
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def ranked_board():
    board = BoardFactory()
    services.board_warm(board=board)
    for value, user in zip((30, 10, 20), UserFactory.create_batch(3), strict=True):
        services.score_submit(board=board, user_id=user.username, value=value)
    return board


def test_scripts_flushed_from_the_server_are_sent_again():
    board = ranked_board()
    redis_store.client().script_flush()
    page = selectors.leaderboard_page(board=board, period="all_time", limit=10)
    assert page.cached
    assert [e.score for e in page.entries] == [30, 20, 10]
    assert redis_store.client().script_exists(redis_store._script(redis_store._TOP).sha) == [True]


def test_connections_the_server_closed_while_idle_are_replaced_without_tripping_the_breaker():
    board = ranked_board()
    conn = redis_store.client()
    killed = conn.client_kill_filter(_type="normal", skipme=False)
    assert killed >= 1
    page = selectors.leaderboard_page(board=board, period="all_time", limit=10)
    assert page.cached  # served by Redis, not the PostgreSQL fallback
    assert [e.score for e in page.entries] == [30, 20, 10]
    assert redis_store.ping()


def test_a_script_whose_reply_is_late_is_not_sent_twice(settings):
    import threading
    import time

    settings.REDIS_SOCKET_TIMEOUT = 0.2
    redis_store.reset_clients()
    redis_store.rate_hit(scope="user", ident="late", window=60)  # connected and loaded
    busy = redis_store.client().connection_pool.make_connection()
    busy_loop = "local x = 0 for i = 1, 80000000 do x = x + i end return x"  # holds the server ~1 s
    blocker = threading.Thread(target=lambda: busy.send_command("EVAL", busy_loop, 0))
    blocker.start()
    time.sleep(0.1)
    with pytest.raises(redis_store.RedisUnavailable):
        redis_store.rate_hit(scope="user", ident="late", window=60)
    blocker.join()
    busy.read_response(timeout=30)
    busy.disconnect()
    time.sleep(2.1)  # the breaker opened by the timeout closes again
    hits, _ = redis_store.rate_hit(scope="user", ident="late", window=60)
    assert hits == 3  # the first call, the late one (run once), this one
