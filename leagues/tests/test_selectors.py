"""League reads (``leagues.selectors``): Redis first, PostgreSQL with the same ranks, cold leagues filled once."""

from __future__ import annotations

import pytest

from leaderboard import moderation, warming
from leaderboard import services as engine
from leaderboard.models import BucketRepair, Standing
from leaderboard.store import leagues as store_leagues
from leaderboard.tests.factories import BoardFactory
from leagues import selectors, services
from leagues.models import League
from leagues.tests.helpers import league_board, play

pytestmark = pytest.mark.django_db(transaction=True)

# Ties on purpose: equal scores are listed by user id and share a competition rank.
SCORES = {"amy": 30, "ben": 50, "cat": 30, "dan": 10, "eve": 50, "fay": 30, "gus": 5, "hal": 30}


def mine(board, user_id="cat"):
    found = services.league_mine(board=board, period="weekly", user_id=user_id, limit=1000, offset=0)
    answer = (
        [e.as_dict() for e in found.entries],
        found.me.as_dict() if found.me else None,
        found.ranked,
        (found.league.level, found.league.number, found.league.member_count),
    )
    return answer, found.cached


@pytest.mark.parametrize("sort_order", ["desc", "asc"])
def test_my_league_is_equal_from_redis_and_from_the_postgresql_fallback(disposable_redis, sort_order):
    board = league_board(size=8, promote=2, demote=3)
    board.sort_order = sort_order
    board.save()
    play(board, SCORES)
    cold, cached = mine(board)
    assert not cached  # the first read found the league cold: PostgreSQL answered and filled it
    warm, cached = mine(board)
    assert cached
    assert warm == cold
    # A later submit is mirrored into the warm league.
    engine.score_submit(board=board, user_id="gus", value=100)
    after, cached = mine(board)
    assert cached
    disposable_redis.stop()  # Redis really gone: the same answer from PostgreSQL
    fallback, cached = mine(board)
    assert not cached
    assert fallback == after
    entries = after[0]
    if sort_order == "desc":
        assert [(e["user_id"], e["rank"]) for e in entries][:4] == [("gus", 1), ("eve", 2), ("ben", 2), ("hal", 4)]
        assert [e["zone"] for e in entries] == ["promote"] * 3 + ["stay"] * 4 + ["demote"]
    else:
        assert [(e["user_id"], e["rank"]) for e in entries][:3] == [("dan", 1), ("amy", 2), ("cat", 2)]


def test_a_league_read_from_postgres_ranks_like_the_board(disposable_redis):
    board = league_board(size=8)
    play(board, SCORES)
    disposable_redis.stop()
    found = services.league_mine(board=board, period="weekly", user_id="amy", limit=1000, offset=0)
    from leaderboard import selectors as board_selectors

    page = board_selectors.leaderboard_page(board=board, period="weekly", limit=100)
    assert [e.entry for e in found.entries] == page.entries  # one league holds the whole board here


def test_a_page_of_a_league_keeps_the_ranks_of_the_whole_league():
    board = league_board(size=8)
    play(board, SCORES)
    whole = services.league_mine(board=board, period="weekly", user_id="gus", limit=1000, offset=0)
    page = services.league_mine(board=board, period="weekly", user_id="gus", limit=2, offset=3)
    assert page.entries == whole.entries[3:5]
    assert page.me == whole.me and page.me is not None and page.me.entry.rank == 8


def test_moderation_makes_the_leagues_cold_and_the_next_read_rebuilds_them():
    board = league_board(size=8)
    play(board, SCORES)
    mine(board)
    assert mine(board)[1]  # warm
    moderation.scores_remove(user_id="ben", board=board, reason="cheating", actor="staff")
    answer, cached = mine(board)
    assert not cached
    assert "ben" not in [e["user_id"] for e in answer[0]]
    again, cached = mine(board)
    assert cached and again == answer


def test_a_league_whose_bucket_is_marked_for_repair_is_served_from_postgres_then_rebuilt():
    board = league_board(size=8)
    play(board, SCORES)
    mine(board)
    assert mine(board)[1]
    bucket = board.bucket("weekly", Standing.objects.latest("updated_at").updated_at)
    warming.buckets_mark_for_repair(board=board, buckets=[bucket], reason="test")
    # Redis "missed" a write: PostgreSQL has a score Redis never saw.
    Standing.objects.filter(board=board, period="weekly", user_id="dan").update(score=99)
    answer, cached = mine(board)
    assert not cached and answer[0][0]["user_id"] == "dan"
    assert League.objects.get().needs_rebuild
    warming.buckets_repair_marked()
    assert not BucketRepair.objects.exists()
    rebuilt, cached = mine(board)
    assert not cached and rebuilt == answer  # the stale copy was dropped and filled afresh, not served
    assert mine(board) == (answer, True)
    assert not League.objects.get().needs_rebuild


def test_a_league_fill_is_single_flight():
    board = league_board(size=8)
    play(board, SCORES)
    league = League.objects.get()
    bucket = board.bucket("weekly", league.bucket_start)
    key = selectors.league_key(board=board, league=league, bucket=bucket)
    token = store_leagues.lock_acquire(league=key, ttl_ms=10_000)
    assert token is not None
    assert selectors.league_fill(board=board, league=league, bucket=bucket) is None
    store_leagues.lock_release(league=key, token=token)
    assert selectors.league_fill(board=board, league=league, bucket=bucket) is not None


def test_a_board_without_leagues_or_another_period_is_not_found():
    from leaderboard_project.exceptions import NotFound

    plain = BoardFactory()
    with pytest.raises(NotFound, match="has no leagues"):
        selectors.league_settings_get(board=plain, period="weekly")
    board = league_board()
    with pytest.raises(NotFound, match="on the weekly period"):
        selectors.league_settings_get(board=board, period="daily")
