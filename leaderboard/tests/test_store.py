"""The Redis store's own guarantees (``leaderboard.store``), against a real server."""

from __future__ import annotations

import random
import threading
import time

import pytest
from redis.cluster import RedisCluster

from leaderboard import ranking, selectors, services, warming
from leaderboard.store import buckets, keys, limits, scripts
from leaderboard.store.connection import RedisUnavailable, client, ping, reset_clients, run
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def ranked_board():
    board = BoardFactory()
    warming.board_warm(board=board)
    for value, user in zip((30, 10, 20), UserFactory.create_batch(3), strict=True):
        services.score_submit(board=board, user_id=user.username, value=value)
    return board


def test_scripts_flushed_from_the_server_are_sent_again():
    board = ranked_board()
    client().script_flush()
    page = selectors.leaderboard_page(board=board, period="all_time", limit=10)
    assert page.cached
    assert [e.score for e in page.entries] == [30, 20, 10]
    conn = client()
    if isinstance(conn, RedisCluster):  # loaded again on the node that holds the board
        node = conn.get_node_from_key(keys.bucket(board.slug, "all_time", "all"))
        assert node.redis_connection.script_exists(scripts.TOP.sha) == [True]
    else:
        assert conn.script_exists(scripts.TOP.sha) == [True]


def test_connections_the_server_closed_while_idle_are_replaced_without_tripping_the_breaker():
    board = ranked_board()
    killed = client().client_kill_filter(_type="normal", skipme=False)
    assert killed >= 1
    page = selectors.leaderboard_page(board=board, period="all_time", limit=10)
    assert page.cached  # served by Redis, not the PostgreSQL fallback
    assert [e.score for e in page.entries] == [30, 20, 10]
    assert ping()


def test_a_script_whose_reply_is_late_is_not_sent_twice(settings):
    settings.REDIS_SOCKET_TIMEOUT = 0.2
    reset_clients()
    # An hour's window: the test's three seconds must not cross into the next window.
    limits.hit(scope="user", ident="late", window=3600)  # connected and loaded
    conn = client()
    if isinstance(conn, RedisCluster):  # hold the node that owns the rate key
        busy = conn.get_node_from_key(keys.rate("user", "late")).redis_connection.connection_pool.make_connection()
    else:
        busy = conn.connection_pool.make_connection()
    busy_loop = "local x = 0 for i = 1, 80000000 do x = x + i end return x"  # holds the server ~1 s
    blocker = threading.Thread(target=lambda: busy.send_command("EVAL", busy_loop, 0))
    blocker.start()
    time.sleep(0.1)
    with pytest.raises(RedisUnavailable):
        limits.hit(scope="user", ident="late", window=3600)
    blocker.join()
    busy.read_response(timeout=30)
    busy.disconnect()
    time.sleep(2.1)  # the breaker opened by the timeout closes again
    hits, _ = limits.hit(scope="user", ident="late", window=3600)
    assert hits == 3  # the first call, the late one (run once), this one


def test_every_script_loads_and_the_ranking_rule_is_included_once_where_asked():
    for script in vars(scripts).values():
        if isinstance(script, scripts.Script):
            assert client().script_load(script.source) == script.sha
            assert script.source.count("local function rank_better") == (1 if "rank_" in script.source else 0)


def test_every_key_of_a_board_shares_one_cluster_slot():
    from redis.crc import key_slot

    slug = "some-board"
    board_keys = [
        keys.bucket(slug, "daily", "2026-11-30"),
        keys.ready(slug, "daily", "2026-11-30"),
        keys.warming(slug, "daily", "2026-11-30", "t"),
        keys.user(slug, "u@x"),
        keys.board_lock(slug, keys.warm_lock_name("daily", "2026-11-30")),
        keys.fence(slug, "u@x"),
        keys.live(slug, "daily", "subscribers"),
        keys.live_user(slug, "u@x"),
    ]
    assert len({key_slot(k.encode()) for k in board_keys}) == 1
    assert all(k.startswith(keys.all_pattern()[:-1]) for k in board_keys)


def _lua_window(position: int, count: int, total: int) -> tuple[int, int]:
    source = ranking.LUA + "local a, b = rank_window(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))\n"
    source += "return {a, b}"
    start, stop = run(scripts.Script("window", source), keys=[], args=[position, count, total])
    return int(start), int(stop)


def test_the_lua_window_is_the_python_window():
    cases = [(p, c, t) for t in range(1, 12) for p in range(t) for c in range(0, 6)]
    for position, count, total in cases:
        assert _lua_window(position, count, total) == ranking.window(position, count, total), (position, count, total)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_ranks_from_redis_and_from_the_python_rule_agree_on_random_ties(higher_is_better):
    rng = random.Random(7)
    scores = {f"u{i:03d}{rng.choice('aBz._@-')}": rng.randint(0, 6) for i in range(60)}
    buckets.warm_finish(
        board_slug="rank-check",
        period="all_time",
        bucket="all",
        staging_key=keys.warming("rank-check", "all_time", "all", "none"),
        expire_at=int(time.time()) + 60,
    )
    buckets.scores_apply(board_slug="rank-check", period="all_time", bucket="all", scores=scores.items(), zadd_flag="")
    page = buckets.top_range(
        board_slug="rank-check", period="all_time", bucket="all", offset=0, limit=100, higher_is_better=higher_is_better
    )
    assert page is not None
    expected_order = sorted(scores.items(), key=lambda kv: kv[0], reverse=higher_is_better)
    expected_order.sort(key=lambda kv: kv[1], reverse=higher_is_better)
    assert page.items == expected_order
    listed = ranking.ranked(page.items, start=0, first_better=page.first_better)
    for entry in listed:
        better = sum(1 for s in scores.values() if (s > entry.score if higher_is_better else s < entry.score))
        assert entry.rank == ranking.rank_from_better(better)
    found = buckets.members_ranks(
        board_slug="rank-check",
        period="all_time",
        bucket="all",
        members=list(scores),
        higher_is_better=higher_is_better,
    )
    assert found is not None
    assert {uid: rank for uid, (_, rank) in found.found.items()} == {e.user_id: e.rank for e in listed}
    assert (
        ranking.in_rank_order(
            [ranking.Entry(uid, s, r) for uid, (s, r) in found.found.items()], higher_is_better=higher_is_better
        )
        == listed
    )


def test_hosts_with_skewed_clocks_count_into_one_rate_window(monkeypatch):
    real = time.time
    assert limits.hit(scope="user", ident="skew", window=3600)[0] == 1
    monkeypatch.setattr(time, "time", lambda: real() + 5400)  # this host's clock is 90 minutes ahead
    hits, left = limits.hit(scope="user", ident="skew", window=3600)
    assert hits == 2  # the same window: Redis' clock decides, not the caller's
    assert 1 <= left <= 3600
    assert limits.count(scope="user", ident="skew", window=3600)[0] == 2


# --------------------------------------------------------------------------- the submit script (apply_submit)

FAR = 4_000_000_000  # an expire-at far ahead


def warm_bucket(slug: str, period: str, bucket: str, scores: dict[str, int], expire_at: int = FAR) -> None:
    buckets.warm_finish(
        board_slug=slug,
        period=period,
        bucket=bucket,
        staging_key=keys.warming(slug, period, bucket, "none"),
        expire_at=expire_at,
    )
    if scores:
        buckets.scores_apply(board_slug=slug, period=period, bucket=bucket, scores=scores.items(), zadd_flag="")
        client().expireat(keys.bucket(slug, period, bucket), expire_at)


def mirror(slug: str, member: str, writes: list[buckets.BucketWrite], *, flag: str = "GT", event_id: int = 10, **kw):
    return buckets.apply_submit(
        board_slug=slug,
        member=member,
        writes=writes,
        zadd_flag=flag,
        higher_is_better=True,
        updated_at=f"u{event_id}",
        cached_at=f"c{event_id}",
        user_ttl=600,
        event_id=event_id,
        **kw,
    )


def test_a_submit_writes_every_warm_bucket_ranks_it_and_leaves_cold_ones_to_postgresql():
    warm_bucket("sub", "daily", "d1", {"a": 50, "b": 30})
    warm_bucket("sub", "all_time", "all", {"a": 50, "b": 30, "c": 90})
    writes = [
        buckets.BucketWrite("daily", "d1", 40, FAR, expiry_fixed=True),
        buckets.BucketWrite("weekly", "w1", 40, FAR, expiry_fixed=True),  # cold: no ready key
        buckets.BucketWrite("all_time", "all", 40, FAR),
    ]
    mirrored = mirror("sub", "me", writes)
    assert mirrored.ranks == [2, None, 3]
    assert mirrored.subscribers == [0, 0, 0] and not mirrored.user_watching
    assert client().zscore(keys.bucket("sub", "daily", "d1"), "me") == 40
    assert not client().exists(keys.bucket("sub", "weekly", "w1"))


def test_a_guarded_submit_never_lowers_a_score_and_ranks_by_the_score_kept():
    warm_bucket("guard", "all_time", "all", {"me": 80, "x": 60, "y": 90})
    mirrored = mirror("guard", "me", [buckets.BucketWrite("all_time", "all", 70, FAR)], flag="GT")
    assert client().zscore(keys.bucket("guard", "all_time", "all"), "me") == 80
    assert mirrored.ranks == [2]  # 80's rank, not 70's
    mirror("guard", "x", [buckets.BucketWrite("all_time", "all", 50, FAR)], flag="")
    assert client().zscore(keys.bucket("guard", "all_time", "all"), "x") == 50  # no guard: the last write wins


def test_the_users_cached_details_keep_each_periods_newest_score_and_bucket_its_times_and_ttl():
    ukey = keys.user("details", "me")
    warm_bucket("details", "daily", "d1", {})
    mirror("details", "me", [buckets.BucketWrite("daily", "d1", 70, FAR, expiry_fixed=True)], event_id=1)
    # A late, older write of the same bucket does not win; a new bucket does, even with a lower score.
    mirror("details", "me", [buckets.BucketWrite("daily", "d1", 60, FAR, expiry_fixed=True)], event_id=2)
    assert client().hgetall(ukey) == {
        "daily": "70", "daily:b": "d1", "updated_at": "u2", "cached_at": "c2"
    }  # fmt: skip
    mirror("details", "me", [buckets.BucketWrite("daily", "d2", 5, FAR, expiry_fixed=True)], event_id=3)
    assert client().hmget(ukey, "daily", "daily:b", "updated_at") == ["5", "d2", "u3"]
    assert 0 < client().ttl(ukey) <= 600


def test_a_fixed_expiry_is_set_by_the_write_that_creates_the_key_and_a_rolling_one_by_every_write():
    warm_bucket("ttl", "daily", "d1", {}, expire_at=FAR)  # an empty bucket: the first write creates the set
    warm_bucket("ttl", "all_time", "all", {"a": 1}, expire_at=FAR - 100)
    daily, all_time = keys.bucket("ttl", "daily", "d1"), keys.bucket("ttl", "all_time", "all")
    mirror("ttl", "me", [buckets.BucketWrite("daily", "d1", 1, FAR, expiry_fixed=True)])
    assert client().expiretime(daily) == FAR
    client().expireat(daily, FAR - 50)  # as the bucket's warm set it: a later write leaves it
    mirror("ttl", "me", [buckets.BucketWrite("daily", "d1", 2, FAR, expiry_fixed=True)])
    assert client().expiretime(daily) == FAR - 50
    mirror("ttl", "me", [buckets.BucketWrite("all_time", "all", 2, FAR)])
    assert client().expiretime(all_time) == FAR


def test_ranks_are_counted_for_the_periods_asked_for_watched_or_all_when_the_user_watches():
    for period in ("daily", "weekly", "all_time"):
        warm_bucket("want", period, "k", {"a": 50, "b": 30})
    writes = [buckets.BucketWrite(p, "k", 40, FAR) for p in ("daily", "weekly", "all_time")]
    assert mirror("want", "me", writes, ranks_for=["all_time"]).ranks == [None, None, 2]
    assert mirror("want", "me", writes, ranks_for=[]).ranks == [None, None, None]
    client().set(keys.live("want", "weekly", "subscribers"), 2)
    watched = mirror("want", "me", writes, ranks_for=[])
    assert watched.ranks == [None, 2, None] and watched.subscribers == [0, 2, 0]
    assert watched.totals == [None, None, None]  # totals only feed the watching user's tiers
    client().set(keys.live_user("want", "me"), 1)
    mine = mirror("want", "me", writes, ranks_for=[])
    assert mine.user_watching and mine.ranks == [2, 2, 2] and mine.totals == [3, 3, 3]


def test_a_submit_fenced_off_by_a_moderation_writes_nothing():
    warm_bucket("fenced", "all_time", "all", {"a": 50})
    client().set(keys.fence("fenced", "me"), 10)
    mirrored = mirror("fenced", "me", [buckets.BucketWrite("all_time", "all", 40, FAR)], event_id=10)
    assert mirrored.ranks == [None] and mirrored.subscribers == [0]
    assert client().zscore(keys.bucket("fenced", "all_time", "all"), "me") is None
    assert not client().exists(keys.user("fenced", "me"))
    assert mirror("fenced", "me", [buckets.BucketWrite("all_time", "all", 40, FAR)], event_id=11).ranks == [2]


def test_a_scripts_leading_include_lines_put_the_shared_lua_in_front_of_it_once():
    from leaderboard.store import scripts

    for script in (scripts.TOP, scripts.AROUND, scripts.MEMBERS):
        assert script.source.startswith(ranking.LUA)
        assert script.source.count("local function entry_metadata(") == 1
        assert script.source.count("local function rank_better(") == 1
    assert "entry_metadata" not in scripts.SUBMIT.source.split("--! ranking", 1)[0]
