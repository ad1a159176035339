"""Query counts of the hot paths, pinned: a top-10 read, a rank read and a submit (issue 13).

Each request is counted twice. ``django_assert_num_queries`` counts what goes
through Django's cursors; ``sent`` counts every statement the connection sends
PostgreSQL (libpq's protocol trace), which also sees what Django's counter cannot:
the submit's prepared statement on a psycopg cursor of its own, and the
server-side cursor (DECLARE, FETCH, CLOSE) that warming streams through.

The states:

- warm: the bucket in Redis and the process' short caches filled (the board, the
  repair marks, the token's user), as on a busy server. Reads send PostgreSQL
  nothing; a submit sends its one statement.
- a fresh process (or the first request after those caches expire, every few
  seconds per process): + the board, + the repair marks; a submit + the token's
  user and their permissions.
- cold: Redis answers but does not hold the bucket: the read warms it in the
  request (a small bucket) and answers from PostgreSQL.
- fallback: Redis is down (the server stopped): PostgreSQL answers.

Tests commit (``transaction=True``), so the counts include the submit's
after-commit work, as in production.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

import psycopg.pq
import pytest
from django.db import connection

from leaderboard import rendered
from leaderboard.store import connection as store_connection
from leaderboard.store import keys
from leaderboard.tests.factories import BoardFactory
from leaderboard.tests.helpers import seed

pytestmark = pytest.mark.django_db(transaction=True)

SCORES = {"ann": 30, "bob": 20, "cat": 10}


@contextlib.contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The statements this thread's connection sends PostgreSQL meanwhile, one trace line each.

    A statement is a simple-protocol ``Query`` or an extended-protocol ``Execute``
    (``Parse`` and ``Bind`` prepare and fill one; they are not counted).
    """
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    sent: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        try:
            yield sent
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace:  # a message's text may span lines: only a message's first line has the fields
                fields = line.split("\t", 3)
                if len(fields) >= 3 and fields[0] == "F" and fields[2].strip() in ("Query", "Execute"):
                    sent.append(line.rstrip())


@pytest.fixture
def pinned(django_assert_num_queries):
    """``with pinned(django=N, sent=M):`` both counts of what runs inside, exactly."""

    @contextlib.contextmanager
    def pin(*, django: int, sent: int) -> Iterator[None]:
        with django_assert_num_queries(django), statements_sent() as statements:
            yield
        assert len(statements) == sent, "\n".join(statements)

    return pin


@pytest.fixture
def caches_outlive_the_test(settings) -> None:
    """The per-process caches stay filled for the whole test, however slow the machine."""
    settings.LEADERBOARD_BOARD_CACHE_SECONDS = 600
    settings.LEADERBOARD_REPAIR_MARKS_SECONDS = 600
    settings.ACCOUNTS_USER_CACHE_SECONDS = 600


@pytest.fixture
def board(caches_outlive_the_test):
    """A board of three players, every live bucket warm in Redis."""
    board = BoardFactory()
    seed(board, SCORES)
    return board


def top_10(board) -> str:
    return f"/api/v1/boards/{board.slug}/leaderboard/daily?limit=10"


def rank_of_bob(board) -> str:
    return f"/api/v1/boards/{board.slug}/leaderboard/daily/rank/bob"


def redis_forgets(board) -> None:
    """Redis is up but holds nothing of the board (restarted empty, evicted); the next read renders its page
    anew (as once the read-cache interval has passed)."""
    store_connection.keys_delete(keys.board_pattern(board.slug))
    rendered.forget_all()


# --------------------------------------------------------------------------- top 10


def test_a_warm_top_10_read_sends_postgresql_nothing(board, api_client, pinned):
    api_client.get(top_10(board))  # the process learns the board and the repair marks

    with pinned(django=0, sent=0):
        response = api_client.get(top_10(board))

    assert response.status_code == 200 and response.json()["cached"] is True
    assert [(e["user_id"], e["rank"]) for e in response.json()["entries"]] == [("ann", 1), ("bob", 2), ("cat", 3)]


def test_a_warm_top_10_read_in_a_fresh_process_reads_the_board_and_the_repair_marks(board, api_client, pinned):
    with pinned(django=2, sent=2):
        response = api_client.get(top_10(board))

    assert response.status_code == 200 and response.json()["cached"] is True


def test_a_cold_top_10_read_warms_the_bucket_and_answers_from_postgresql(board, api_client, pinned):
    api_client.get(top_10(board))
    redis_forgets(board)

    # Warming: the bucket's size, its rows through a server-side cursor (BEGIN, DECLARE, two FETCHes,
    # CLOSE, COMMIT), the rows written meanwhile; the answer: the page, the total, the entries above it.
    with pinned(django=7, sent=11):
        cold = api_client.get(top_10(board))
    rendered.forget_all()  # the read-cache interval passes: the page is rendered anew, from Redis
    with pinned(django=0, sent=0):
        warm = api_client.get(top_10(board))

    assert (cold.json()["cached"], warm.json()["cached"]) == (False, True)
    assert cold.json()["entries"] == warm.json()["entries"]


def test_a_top_10_read_with_redis_down_costs_three_queries(
    caches_outlive_the_test, disposable_redis, api_client, pinned
):
    board = BoardFactory()
    seed(board, SCORES)
    api_client.get(top_10(board))
    disposable_redis.stop()  # the server process is gone
    rendered.forget_all()  # the interval has passed: the page is rendered anew

    # The page, the total, the entries above the page.
    with pinned(django=3, sent=3):
        response = api_client.get(top_10(board))

    assert response.json()["cached"] is False
    assert [(e["user_id"], e["rank"]) for e in response.json()["entries"]] == [("ann", 1), ("bob", 2), ("cat", 3)]


# --------------------------------------------------------------------------- rank


def test_a_warm_rank_read_sends_postgresql_nothing(board, api_client, pinned):
    api_client.get(rank_of_bob(board))

    with pinned(django=0, sent=0):
        response = api_client.get(rank_of_bob(board))

    assert (response.json()["rank"], response.json()["cached"]) == (2, True)


def test_a_warm_rank_read_in_a_fresh_process_reads_the_board_and_the_repair_marks(board, api_client, pinned):
    with pinned(django=2, sent=2):
        response = api_client.get(rank_of_bob(board))

    assert (response.json()["rank"], response.json()["cached"]) == (2, True)


def test_a_cold_rank_read_warms_the_bucket_and_answers_from_postgresql(board, api_client, pinned):
    api_client.get(rank_of_bob(board))
    redis_forgets(board)

    # Warming as for the top 10; the answer: the user's score, the entries better than it, the total.
    with pinned(django=7, sent=11):
        cold = api_client.get(rank_of_bob(board))
    with pinned(django=0, sent=0):
        warm = api_client.get(rank_of_bob(board))

    assert (cold.json()["rank"], cold.json()["cached"]) == (2, False)
    assert (warm.json()["rank"], warm.json()["cached"]) == (2, True)


def test_a_rank_read_with_redis_down_costs_three_queries(caches_outlive_the_test, disposable_redis, api_client, pinned):
    board = BoardFactory()
    seed(board, SCORES)
    api_client.get(rank_of_bob(board))
    disposable_redis.stop()

    # The user's score, the entries better than it, the total.
    with pinned(django=3, sent=3):
        response = api_client.get(rank_of_bob(board))

    assert (response.json()["rank"], response.json()["cached"]) == (2, False)


# --------------------------------------------------------------------------- submit


def test_a_warm_submit_sends_postgresql_one_statement(board, auth_client, pinned):
    submit = f"/api/v1/boards/{board.slug}/scores"
    auth_client.post(submit, {"value": 5}, format="json")  # the process learns the user; the statement is prepared

    # The one statement (a prepared statement on a psycopg cursor of its own: Django's counter does not see it).
    with pinned(django=0, sent=1):
        response = auth_client.post(submit, {"value": 5}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["scores"]["daily"] == 10 and body["ranks"]["daily"] == 3  # mirrored to Redis after the commit


def test_a_submit_in_a_fresh_process_also_reads_the_board_the_user_and_their_permissions(board, auth_client, pinned):
    with pinned(django=4, sent=5):
        response = auth_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json")

    assert response.status_code == 201, response.content
