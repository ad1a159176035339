"""Render once, serve many (issue 18): the top page's bytes, ETag, Cache-Control and 304, and the lean rank read.

``leaderboard.api.hot_reads`` answers the plain requests, ``leaderboard.rendered`` keeps
the pages. The answers are compared byte for byte with the DRF actions they stand in
for; staleness across processes is checked against real servers in
``leaderboard_project/tests/test_two_hosts.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone
from redis.cluster import RedisCluster

from leaderboard import rendered, services, warming
from leaderboard.api import hot_reads
from leaderboard.models import Board
from leaderboard.store import buckets as store_buckets
from leaderboard.store import connection as store_connection
from leaderboard.store import keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import submitted

pytestmark = pytest.mark.django_db(transaction=True)


def board_with_players(**fields) -> Board:
    board = BoardFactory(periods=["daily", "all_time"], **fields)
    warming.board_warm(board=board)
    submitted(board, {f"p{i:02d}": (i * 7) % 23 for i in range(30)})
    return board


def board_server(board: Board) -> tuple[Any, dict[str, Any]]:
    """The Redis client and the arguments that address the server holding the board (its node on a cluster)."""
    server = store_connection.client()
    if isinstance(server, RedisCluster):
        return server, {"target_nodes": server.get_node_from_key(keys.bucket(board.slug, "daily", "any"))}
    return server, {}


def commands_since_reset(board: Board) -> dict[str, int]:
    """Calls per command on the board's Redis server since ``reset_commands`` (a script's inner ones too)."""
    server, where = board_server(board)
    stats = server.info("commandstats", **where)
    calls = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
    calls.pop("config|resetstat", None)
    return calls


def reset_commands(board: Board) -> None:
    server, where = board_server(board)
    server.config_resetstat(**where)


def drf_body(board: Board, path: str, **kwargs: str) -> bytes:
    """What the DRF action answers for ``path`` (called directly, not through the fast path)."""
    request = RequestFactory().get(path)
    view = hot_reads._drf_rank if "user_id" in kwargs else hot_reads._drf_top
    response = view(request, slug=board.slug, **kwargs)
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"tier_basis": "percentile", "tiers": [{"name": "Top", "cutoff": 10}, {"name": "Rest", "cutoff": None}]},
        {"entry_metadata_max_bytes": 64, "operator": "best"},
    ],
)
def test_fast_answers_are_byte_identical_to_the_drf_actions(client, fields):
    board = board_with_players(**fields)
    for query in ("", "?limit=5", "?limit=3&offset=7", "?offset=29", "?limit=100&offset=0"):
        path = f"/api/v1/boards/{board.slug}/leaderboard/daily{query}"
        fast = client.get(path)
        assert fast.status_code == 200 and fast["Allow"] == "GET, HEAD, OPTIONS"
        assert fast.content == drf_body(board, path, period="daily")
    for user_id in ("p03", "p17", "nobody"):
        path = f"/api/v1/boards/{board.slug}/leaderboard/all_time/rank/{user_id}"
        fast = client.get(path)
        assert fast.status_code == 200 and "ETag" not in fast
        assert fast.content == drf_body(board, path, period="all_time", user_id=user_id)


def test_a_top_page_has_an_etag_and_cache_control_and_a_matching_if_none_match_gets_304(client, settings):
    settings.LEADERBOARD_READ_CACHE_SECONDS = 2.5
    board = board_with_players()
    path = f"/api/v1/boards/{board.slug}/leaderboard/daily?limit=5"
    first = client.get(path)
    etag = first["ETag"]
    assert first["Cache-Control"] == "public, max-age=2"
    assert etag.startswith('"') and len(etag) == 26
    again = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client.get(path, HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert client.get(path, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    assert client.get(path, HTTP_IF_NONE_MATCH="*").status_code == 304
    settings.LEADERBOARD_READ_CACHE_SECONDS = 0.5
    rendered.forget_all()
    assert client.get(path)["Cache-Control"] == "public, no-cache"  # HTTP counts whole seconds


def test_the_etag_changes_exactly_when_the_content_does(client):
    board = board_with_players()
    path = f"/api/v1/boards/{board.slug}/leaderboard/daily?limit=3"
    first = client.get(path)
    rendered.forget_all()  # rendered again, same content: same validator
    assert client.get(path)["ETag"] == first["ETag"]
    services.score_submit(board=board, user_id=UserFactory(username="newcomer").username, value=1)
    changed = client.get(path)  # only the total moved (the newcomer is not in the top 3)
    assert changed.json()["total"] == first.json()["total"] + 1
    assert changed["ETag"] != first["ETag"]
    assert client.get(path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


def test_a_page_is_rendered_once_per_interval_and_a_write_in_this_process_drops_it_at_once(client, settings):
    settings.LEADERBOARD_READ_CACHE_SECONDS = 60
    board = board_with_players()
    path = f"/api/v1/boards/{board.slug}/leaderboard/daily"
    client.get(path)
    reset_commands(board)
    for _ in range(20):
        assert client.get(path).status_code == 200
    assert "evalsha" not in commands_since_reset(board)  # served from the rendered bytes
    rendered.forget_all()
    client.get(path)
    assert commands_since_reset(board)["evalsha"] == 1  # (the count above can fail)
    services.score_submit(board=board, user_id="p01", value=100)
    top = client.get(path).json()["entries"][0]
    assert (top["user_id"], top["score"]) == ("p01", 107)


def test_a_page_is_never_staler_than_the_interval(client, settings):
    settings.LEADERBOARD_READ_CACHE_SECONDS = 0.4
    board = board_with_players()
    path = f"/api/v1/boards/{board.slug}/leaderboard/daily?limit=1"
    before = client.get(path).json()
    rendered_at = time.monotonic()
    # A write this process does not hear about (as another host's), straight into the bucket Redis serves.
    bucket = board.bucket("daily", timezone.now())
    store_buckets.scores_apply(
        board_slug=board.slug, period="daily", bucket=bucket.key, scores=[("p05", 1000)], zadd_flag=""
    )
    while client.get(path).json() == before:
        assert time.monotonic() - rendered_at < 0.4 + 0.2
        time.sleep(0.02)
    assert client.get(path).json()["entries"][0]["user_id"] == "p05"


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("?limit=x", {}, 400),
        ("?limit=0", {}, 400),
        ("?limit=101", {}, 400),
        ("?offset=-1", {}, 400),
        ("?limit=5&limit=6", {}, 200),
        ("?format=json", {}, 200),
        ("?unknown=1", {}, 200),
        ("", {"HTTP_ACCEPT": "text/html"}, 406),
        ("?limit=%EF%BC%95", {}, 200),  # a full-width digit: not ASCII here, the serializer takes it
    ],
)
def test_anything_but_the_plain_request_is_answered_by_the_drf_action(client, query, headers, status):
    board = board_with_players()
    response = client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily{query}", **headers)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert "ETag" not in response  # only the fast path's plain pages carry one


def test_unknown_boards_and_periods_get_the_apis_json_404(client):
    board = board_with_players()
    for path in (
        "/api/v1/boards/nope/leaderboard/daily",
        f"/api/v1/boards/{board.slug}/leaderboard/weekly",
        f"/api/v1/boards/{board.slug}/leaderboard/never",
        "/api/v1/boards/nope/leaderboard/daily/rank/p01",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        body = response.json()
        assert set(body) == {"detail", "request_id"} and body["request_id"] == response["X-Request-ID"]


def test_the_rendered_pages_are_bounded(monkeypatch):
    monkeypatch.setattr(rendered, "MAX_PAGES", 3)
    page = rendered.Page(b"{}", rendered.etag(b"{}"), time.monotonic() + 60)
    for i in range(3):
        rendered.keep("b", (i,), page)
    assert rendered.get("b", (2,), time.monotonic()) is page
    rendered.keep("c", (0,), page)  # the fourth: everything kept so far is dropped first
    assert rendered.get("b", (2,), time.monotonic()) is None
    assert rendered.get("c", (0,), time.monotonic()) is page
    assert rendered.get("c", (0,), time.monotonic() + 61) is None  # expired


def test_a_rank_read_is_one_redis_round_trip(client):
    board = board_with_players()
    path = f"/api/v1/boards/{board.slug}/leaderboard/all_time/rank/p07"
    client.get(path)  # the board and the repair marks are now this process's copies
    reset_commands(board)
    body = client.get(path).json()
    # One script: rank, score and total together (the percentile follows from them); nothing else is sent.
    # (Commands a script runs are counted too, under their own names.)
    calls = commands_since_reset(board)
    assert calls.pop("evalsha") == 1
    assert set(calls) <= {"exists", "zscore", "zcount", "zcard"}, calls
    assert body["rank"] is not None and body["total"] == 30 and body["percentile"] is not None
