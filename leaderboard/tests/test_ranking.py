"""One ranking rule everywhere: Redis and the PostgreSQL fallback agree entry for entry."""

from __future__ import annotations

import pytest

from leaderboard import selectors
from leaderboard.models import Board
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory
from leaderboard.tests.helpers import seed

pytestmark = pytest.mark.django_db(transaction=True)


def triples(page) -> list[tuple[str, int, int]]:
    return [(e.user_id, e.score, e.rank) for e in page.entries]


def cold(board: Board) -> None:
    """Drop the Redis copy so the next read is served from PostgreSQL."""
    store_connection.keys_delete(store_keys.board_pattern(board.slug))


@pytest.fixture
def read_both(settings):
    """The same read from Redis, then from PostgreSQL (the bucket made cold and kept cold)."""

    def run(read):
        hot = read()
        assert hot.cached
        cold(hot.board)
        settings.LEADERBOARD_INLINE_WARM_MAX = -1  # no inline warm: this read must use PostgreSQL
        fallback = read()
        assert not fallback.cached
        settings.LEADERBOARD_INLINE_WARM_MAX = 50_000
        return hot, fallback

    return run


SCORES = {"ann": 100, "bob": 90, "cat": 90, "dan": 80, "eve": 80, "fay": 80, "gus": 10}
# The whole board in rank order: ties share a rank and are listed by user id, descending.
RANKED = [
    ("ann", 100, 1),
    ("cat", 90, 2),
    ("bob", 90, 2),
    ("fay", 80, 4),
    ("eve", 80, 4),
    ("dan", 80, 4),
    ("gus", 10, 7),
]


def test_ties_share_a_rank_and_the_next_rank_skips(read_both):
    board = BoardFactory()
    seed(board, SCORES)
    hot, fallback = read_both(lambda: selectors.leaderboard_page(board=board, period="daily", limit=10))
    assert triples(hot) == triples(fallback) == RANKED
    assert hot.total == fallback.total == 7


@pytest.mark.parametrize(("offset", "limit"), [(0, 3), (2, 3), (4, 2), (5, 10), (7, 5)])
def test_pages_that_start_inside_a_tie_keep_the_shared_rank(offset, limit, read_both):
    board = BoardFactory()
    seed(board, SCORES)
    hot, fallback = read_both(
        lambda: selectors.leaderboard_page(board=board, period="weekly", limit=limit, offset=offset)
    )
    assert triples(hot) == triples(fallback)
    assert triples(hot) == RANKED[offset : offset + limit]


def test_lower_is_better_boards_rank_ascending_with_ties_by_user_id_ascending(read_both):
    board = BoardFactory(sort_order=Board.SortOrder.ASC, operator=Board.Operator.BEST)
    seed(board, {"ann": 30, "bob": 20, "cat": 20, "dan": 40})
    hot, fallback = read_both(lambda: selectors.leaderboard_page(board=board, period="all_time"))
    assert triples(hot) == triples(fallback) == [("bob", 20, 1), ("cat", 20, 1), ("ann", 30, 3), ("dan", 40, 4)]


@pytest.mark.parametrize(
    ("user", "expected_users"),
    [
        ("ann", ["ann", "cat", "bob", "fay", "eve"]),  # top edge: the window shifts down
        ("cat", ["ann", "cat", "bob", "fay", "eve"]),
        ("fay", ["cat", "bob", "fay", "eve", "dan"]),
        ("gus", ["bob", "fay", "eve", "dan", "gus"]),  # bottom edge: the window shifts up
    ],
)
def test_around_a_user_returns_a_full_window_even_at_the_edges(user, expected_users, read_both):
    board = BoardFactory()
    seed(board, SCORES)
    hot, fallback = read_both(lambda: selectors.leaderboard_around(board=board, period="daily", user_id=user, count=2))
    assert triples(hot) == triples(fallback)
    assert len(hot.entries) == 5
    assert [e.user_id for e in hot.entries] == expected_users


def test_around_an_unranked_user_is_empty(read_both):
    board = BoardFactory()
    seed(board, SCORES)
    hot, fallback = read_both(lambda: selectors.leaderboard_around(board=board, period="daily", user_id="zed"))
    assert hot.entries == fallback.entries == []
    assert hot.total == fallback.total == 7


def test_a_chosen_set_of_users_comes_back_in_rank_order_with_global_ranks(read_both):
    board = BoardFactory()
    seed(board, SCORES)
    hot, fallback = read_both(
        lambda: selectors.leaderboard_members(board=board, period="monthly", user_ids=["gus", "eve", "bob", "zed"])
    )
    assert triples(hot) == triples(fallback) == [("bob", 90, 2), ("eve", 80, 4), ("gus", 10, 7)]
    assert hot.unranked == fallback.unranked == ["zed"]


def test_a_users_rank_score_total_and_percentile(read_both):
    board = BoardFactory()
    seed(board, SCORES)
    hot, fallback = read_both(lambda: selectors.user_rank(board=board, period="yearly", user_id="eve"))
    for info in (hot, fallback):
        assert (info.score, info.rank, info.total) == (80, 4, 7)
        assert info.percentile == round(100 * 4 / 7, 2)
