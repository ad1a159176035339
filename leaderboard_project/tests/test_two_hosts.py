"""Two complete hosts (web + WebSocket servers each) on one PostgreSQL and one Redis, as deployed.

Each "host" is the Procfile's web server (granian, WSGI) and WebSocket server (uvicorn,
ASGI) started as subprocesses on their own ports, against this test's database and Redis
(a Redis Cluster when the suite runs on one: ``make test-cluster``). What one host does
must hold on the other: live updates cross, board and user changes are enforced within a
second, and rate limits are shared.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from websockets.sync.client import connect as ws_connect

from devtools.stack import free_port, web_command, websocket_command
from leaderboard import warming
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import bearer, serving, session_database_url

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Host:
    web: int
    ws: int

    def call(self, method: str, path: str, body: dict | None = None, token: str = "") -> tuple[int, dict]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **({"Authorization": token} if token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def _hosts(django_db_setup, django_db_blocker) -> Iterator[tuple[tuple[Host, Host], str]]:
    """Two hosts for the whole module (starting four servers costs seconds), under one Redis prefix."""
    from django.conf import settings

    prefix = f"hosts{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        database_url = session_database_url()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="leaderboard_project.settings_test",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        CHANNELS_REDIS_URL=settings.CHANNELS_REDIS_URL,
        LEADERBOARD_REDIS_PREFIX=prefix,
        SECRET_KEY=settings.SECRET_KEY,
        WEB_WORKERS="1",
        WS_WORKERS="1",
    )
    hosts = [Host(free_port(), free_port()) for _ in range(2)]
    root = settings.BASE_DIR
    with contextlib.ExitStack() as stack:
        for host in hosts:
            stack.enter_context(
                serving(web_command(host="127.0.0.1", port=host.web, workers=1), host.web, env, cwd=root)
            )
            stack.enter_context(serving(websocket_command(host="127.0.0.1", port=host.ws), host.ws, env, cwd=root))
        yield (hosts[0], hosts[1]), prefix


@pytest.fixture
def two_hosts(_hosts, settings) -> tuple[Host, Host]:
    """The module's two hosts; this test's keys under their prefix (each test uses boards of its own)."""
    hosts, prefix = _hosts
    settings.LEADERBOARD_REDIS_PREFIX = prefix
    return hosts


def test_a_submit_on_one_host_reaches_a_websocket_on_the_other(two_hosts):
    a, b = two_hosts
    board = BoardFactory(periods=["all_time"])
    warming.board_warm(board=board)
    player = UserFactory()
    with ws_connect(f"ws://127.0.0.1:{b.ws}/ws/boards/{board.slug}/all_time", open_timeout=10) as socket_on_b:
        first = json.loads(socket_on_b.recv(timeout=10))
        assert first["type"] == "leaderboard_update" and first["entries"] == []
        status, _ = a.call("POST", f"/api/v1/boards/{board.slug}/scores", {"value": 7}, token=bearer(player))
        assert status == 201
        update = json.loads(socket_on_b.recv(timeout=10))
    assert update["entries"] == [{"user_id": player.username, "score": 7, "rank": 1}]


def _until(check, *, within: float) -> float:
    """Seconds until ``check()`` holds; fails the test after ``within`` seconds."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"not seen within {within} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_board_deactivated_on_one_host_is_refused_on_the_other_within_a_second(two_hosts, staff):
    a, b = two_hosts
    board = BoardFactory(periods=["all_time"])
    path = f"/api/v1/boards/{board.slug}"
    assert b.call("GET", path)[0] == 200  # host B now holds the board in its cache
    assert a.call("PATCH", path, {"is_active": False}, token=bearer(staff))[0] == 200
    seconds = _until(lambda: b.call("GET", path)[0] == 404, within=1.0)
    assert seconds < 1.0


def test_a_user_deactivated_on_one_host_is_refused_on_the_other_within_a_second(two_hosts):
    a, b = two_hosts
    board = BoardFactory(periods=["all_time"])
    player = UserFactory()
    token = bearer(player)
    submit = f"/api/v1/boards/{board.slug}/scores"
    assert b.call("POST", submit, {"value": 1}, token=token)[0] == 201  # B caches the token's user
    player.is_active = False
    player.save(update_fields=["is_active"])  # a third process: the operator's
    _until(lambda: b.call("POST", submit, {"value": 1}, token=token)[0] == 401, within=1.0)
    assert a.call("POST", submit, {"value": 1}, token=token)[0] == 401


def test_rate_limits_hold_across_hosts(two_hosts):
    a, b = two_hosts
    board = BoardFactory(periods=["all_time"], rate_limit_user="3/min")
    token = bearer(UserFactory())
    submit = f"/api/v1/boards/{board.slug}/scores"
    codes = [host.call("POST", submit, {"value": 1}, token=token)[0] for host in (a, b, a, b, a)]
    assert codes == [201, 201, 201, 429, 429]


def test_a_top_page_on_one_host_shows_the_others_submit_within_the_read_cache_interval(two_hosts, settings):
    a, b = two_hosts
    board = BoardFactory(periods=["all_time"])
    warming.board_warm(board=board)
    top = f"http://127.0.0.1:{b.web}/api/v1/boards/{board.slug}/leaderboard/all_time"
    with urllib.request.urlopen(top, timeout=10) as response:  # host B renders and keeps the page
        etag, cache_control = response.headers["ETag"], response.headers["Cache-Control"]
        assert json.loads(response.read())["entries"] == []
    assert cache_control == f"public, max-age={int(settings.LEADERBOARD_READ_CACHE_SECONDS)}"
    not_modified = urllib.request.Request(top, headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as caught:  # urllib raises on a 304
        urllib.request.urlopen(not_modified, timeout=10)
    assert caught.value.code == 304 and caught.value.headers["ETag"] == etag

    player = UserFactory()
    status, _ = a.call("POST", f"/api/v1/boards/{board.slug}/scores", {"value": 7}, token=bearer(player))
    assert status == 201
    seconds = _until(
        lambda: b.call("GET", f"/api/v1/boards/{board.slug}/leaderboard/all_time")[1]["total"] == 1,
        within=settings.LEADERBOARD_READ_CACHE_SECONDS + 0.5,
    )
    assert seconds <= settings.LEADERBOARD_READ_CACHE_SECONDS + 0.5
    with urllib.request.urlopen(urllib.request.Request(top, headers={"If-None-Match": etag}), timeout=10) as fresh:
        assert fresh.status == 200 and fresh.headers["ETag"] != etag
