"""The leagues' Redis store (``leaderboard.store.leagues``): cold leagues left alone, fills atomic, writes guarded."""

from __future__ import annotations

from leaderboard.store import keys
from leaderboard.store import leagues as store
from leaderboard.store.connection import client

KEY = store.LeagueKey("arena", "weekly", "2026-11-30", 1, 3)
EXPIRE = 4_000_000_000


def test_every_key_of_a_league_carries_the_boards_hash_tag():
    assert all("{b:arena}" in name for name in KEY.names())
    assert keys.league_ready_pattern("arena", "weekly").startswith(KEY.names()[1].split(":lg:")[0])


def test_a_cold_league_is_read_as_none_and_left_alone_by_writes():
    assert store.league_read(league=KEY, higher_is_better=True) is None
    assert store.league_add(league=KEY, member="ann", score=5, zadd_flag="GT", expire_at=EXPIRE) is False
    assert not client().exists(KEY.names()[0])


def test_a_filled_league_lists_in_rank_order_and_late_writes_never_regress():
    store.league_fill(league=KEY, entries=[("ann", 5), ("bob", 9), ("cid", 5)], expire_at=EXPIRE)
    assert store.league_read(league=KEY, higher_is_better=True) == [("bob", 9), ("cid", 5), ("ann", 5)]
    assert store.league_read(league=KEY, higher_is_better=False) == [("ann", 5), ("cid", 5), ("bob", 9)]
    assert store.league_add(league=KEY, member="bob", score=7, zadd_flag="GT", expire_at=EXPIRE)
    assert store.league_add(league=KEY, member="ann", score=8, zadd_flag="GT", expire_at=EXPIRE)
    assert store.league_read(league=KEY, higher_is_better=True) == [("bob", 9), ("ann", 8), ("cid", 5)]
    assert store.league_add(league=KEY, member="bob", score=1, zadd_flag="", expire_at=EXPIRE)  # set: last wins
    found = store.league_read(league=KEY, higher_is_better=True)
    assert found is not None and found[-1] == ("bob", 1)
    assert client().expiretime(KEY.names()[0]) == EXPIRE
    assert client().expiretime(KEY.names()[1]) == EXPIRE


def test_an_empty_league_is_ready_and_empty():
    store.league_fill(league=KEY, entries=[], expire_at=EXPIRE)
    assert store.league_read(league=KEY, higher_is_better=True) == []


def test_leagues_unready_makes_every_league_of_the_period_cold():
    other_bucket = store.LeagueKey("arena", "weekly", "2026-12-07", 0, 1)
    other_period = store.LeagueKey("arena", "daily", "2026-11-30", 0, 1)
    for league in (KEY, other_bucket, other_period):
        store.league_fill(league=league, entries=[("ann", 1)], expire_at=EXPIRE)
    assert store.leagues_unready(board_slug="arena", period="weekly") == 2
    assert store.league_read(league=KEY, higher_is_better=True) is None
    assert store.league_read(league=other_bucket, higher_is_better=True) is None
    assert store.league_read(league=other_period, higher_is_better=True) == [("ann", 1)]


def test_league_forget_and_the_fill_lock():
    store.league_fill(league=KEY, entries=[("ann", 1)], expire_at=EXPIRE)
    store.league_forget(league=KEY)
    assert store.league_read(league=KEY, higher_is_better=True) is None
    token = store.lock_acquire(league=KEY, ttl_ms=5_000)
    assert token is not None and store.lock_acquire(league=KEY, ttl_ms=5_000) is None
    store.lock_release(league=KEY, token="not-mine")
    assert store.lock_acquire(league=KEY, ttl_ms=5_000) is None
    store.lock_release(league=KEY, token=token)
    assert store.lock_acquire(league=KEY, ttl_ms=5_000) is not None
