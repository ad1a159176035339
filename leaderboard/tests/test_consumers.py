"""WebSocket consumers against the real channel layer (channels-redis) and real stores."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import re_path
from rest_framework_simplejwt.tokens import AccessToken

from leaderboard import services
from leaderboard.consumers import LeaderboardConsumer
from leaderboard.routing import websocket_urlpatterns
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import run, seed, updates
from leaderboard.tests.helpers import submit_async as submit

pytestmark = pytest.mark.django_db(transaction=True)

APP = URLRouter(websocket_urlpatterns)


def test_the_current_top_n_is_sent_on_connect():
    board = BoardFactory()
    seed(board, {"ann": 30, "bob": 20, "cat": 20})

    async def scenario():
        ws = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/daily/")
        connected, _ = await ws.connect()
        assert connected
        first = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return first

    first = run(scenario)
    assert first["type"] == "leaderboard_update" and first["period"] == "daily"
    assert [(e["user_id"], e["score"], e["rank"]) for e in first["entries"]] == [
        ("ann", 30, 1),
        ("cat", 20, 2),
        ("bob", 20, 2),
    ]


def test_a_change_of_the_top_n_is_pushed_and_one_below_it_is_not(settings):
    settings.LEADERBOARD_LIVE_TOP_N = 3
    board = BoardFactory()
    seed(board, {f"p{i:02d}": 100 - i for i in range(6)})

    async def scenario():
        ws = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/weekly/")
        await ws.connect()
        await ws.receive_json_from(timeout=5)  # the snapshot
        await submit(board=board, user_id="p05", value=1)  # 95 -> 96: still fifth, below the top 3
        quiet = await updates(ws, seconds=1.0)
        await submit(board=board, user_id="p04", value=50)  # 96 -> 146: now first
        pushed = await updates(ws, seconds=2.0)
        await ws.disconnect()
        return quiet, pushed

    quiet, pushed = run(scenario)
    assert quiet == []
    assert len(pushed) == 1
    assert [(e["user_id"], e["score"]) for e in pushed[0]["entries"]] == [("p04", 146), ("p00", 100), ("p01", 99)]


def test_five_hundred_quick_submits_are_coalesced_and_the_last_state_arrives(settings):
    settings.LEADERBOARD_LIVE_MIN_INTERVAL_MS = 250
    board = BoardFactory()
    seed(board, {"leader": 10, "chaser": 5})

    def storm() -> float:
        started = time.monotonic()
        for _ in range(500):
            services.score_submit(board=board, user_id="chaser", value=1)
        return time.monotonic() - started

    async def scenario():
        ws = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/all_time/")
        await ws.connect()
        await ws.receive_json_from(timeout=5)
        took = await database_sync_to_async(storm)()
        received = await updates(ws, seconds=1.5)
        await ws.disconnect()
        return took, received

    took, received = run(scenario)
    allowed = int(took / 0.25) + 3  # one per interval, plus the leading and trailing edges
    assert 1 <= len(received) <= allowed, (len(received), took, [round(m["sent_at"] % 100, 3) for m in received])
    assert len(received) < 50
    assert received[-1]["entries"][0] == {"user_id": "chaser", "score": 505, "rank": 1}


def zoe_watches_and_submits(board, *, value: int) -> tuple[list[dict], list[dict]]:
    """A player "zoe" subscribes to the board's monthly period with her token, then submits ``value``:
    what her socket received before and after."""
    token = str(AccessToken.for_user(UserFactory(username="zoe")))

    async def scenario():
        ws = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/monthly/?token={token}")
        await ws.connect()
        hello = await updates(ws, seconds=1.0)
        await submit(board=board, user_id="zoe", value=value)
        after = await updates(ws, seconds=1.5)
        await ws.disconnect()
        return hello, after

    return run(scenario)


def test_an_authenticated_subscriber_gets_its_own_rank_updates():
    board = BoardFactory()
    seed(board, {"ann": 50, "bob": 40})
    hello, after = zoe_watches_and_submits(board, value=45)
    assert {
        "type": "rank_update",
        "board": board.slug,
        "period": "monthly",
        "user_id": "zoe",
        "rank": None,
        "score": None,
        "total": 2,
    } in hello
    ranks = [m for m in after if m["type"] == "rank_update"]
    assert ranks == [
        {"type": "rank_update", "board": board.slug, "period": "monthly", "user_id": "zoe", "rank": 2, "score": 45}
    ]


def test_auth_by_first_message_and_bad_tokens_are_refused():
    board = BoardFactory()
    seed(board, {"ann": 5})
    token = str(AccessToken.for_user(UserFactory(username="max")))

    async def scenario():
        ws = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/daily/")
        await ws.connect()
        await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "auth", "token": token})
        ranked = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "ping"})
        pong = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        bad = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/daily/?token=nonsense")
        await bad.connect()
        error = await bad.receive_json_from(timeout=5)
        closed = await bad.receive_output(timeout=5)
        return ranked, pong, error, closed

    ranked, pong, error, closed = run(scenario)
    assert ranked["type"] == "rank_update" and ranked["user_id"] == "max"
    assert pong == {"type": "pong"}
    assert error["type"] == "error" and closed == {"type": "websocket.close", "code": 4401}


def full_stack():
    """The whole ASGI application of the servers, origin check included."""
    from leaderboard_project.asgi import application

    return application


@pytest.mark.parametrize("path", ["/ws/boards/no-such-board/daily/", "/ws/boards/{slug}/hourly/"])
def test_unknown_boards_and_periods_are_accepted_then_closed_with_4404(path):
    board = BoardFactory()

    async def scenario():
        ws = WebsocketCommunicator(
            full_stack(), path.format(slug=board.slug), headers=[(b"origin", b"http://localhost")]
        )
        connected, _ = await ws.connect()
        closed = await ws.receive_output(timeout=5)
        return connected, closed

    # Closing before the accept would be an HTTP 403 at the handshake: the client could not see the 4404.
    connected, closed = run(scenario)
    assert connected is True
    assert closed == {"type": "websocket.close", "code": 4404}


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (None, True),  # not a browser: an origin check protects nothing
        (b"http://localhost", True),
        (b"http://localhost:8000", True),
        (b"https://evil.example", False),
        (b"null", False),  # a sandboxed page or file:// in a browser
    ],
)
def test_clients_without_an_origin_are_served_and_browsers_from_foreign_origins_are_refused(origin, accepted):
    board = BoardFactory()
    seed(board, {"ann": 5})

    async def scenario():
        headers = [] if origin is None else [(b"origin", origin)]
        ws = WebsocketCommunicator(full_stack(), f"/ws/boards/{board.slug}/daily/", headers=headers)
        connected, _ = await ws.connect()
        first = await ws.receive_json_from(timeout=5) if connected else None
        await ws.disconnect()
        return connected, first

    connected, first = run(scenario)
    assert connected is accepted
    if accepted:
        assert first["entries"][0]["user_id"] == "ann"


def watchers(board, user_id: str) -> int:
    return int(store_connection.client().get(store_keys.live(board.slug, "user", user_id)) or 0)


def test_authenticating_again_on_one_socket_moves_the_watcher_count_to_the_new_user():
    board = BoardFactory()
    seed(board, {"ann": 50})
    alice, bert = UserFactory(username="alice"), UserFactory(username="bert")
    token_a, token_b = str(AccessToken.for_user(alice)), str(AccessToken.for_user(bert))

    async def scenario():
        counts = {}
        switcher = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/daily/?token={token_a}")
        other = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/daily/?token={token_b}")
        for ws in (switcher, other):
            await ws.connect()
            await updates(ws, seconds=0.3)  # rank_update and the snapshot
        counts["before"] = (watchers(board, "alice"), watchers(board, "bert"))
        await switcher.send_json_to({"type": "auth", "token": token_b})
        assert (await switcher.receive_json_from(timeout=5))["user_id"] == "bert"
        counts["switched"] = (watchers(board, "alice"), watchers(board, "bert"))
        await switcher.disconnect()
        counts["one left"] = (watchers(board, "alice"), watchers(board, "bert"))
        await submit(board=board, user_id="bert", value=60)
        got = await updates(other, seconds=1.5)
        await other.disconnect()
        counts["none left"] = (watchers(board, "alice"), watchers(board, "bert"))
        return counts, got

    counts, got = run(scenario)
    assert counts == {"before": (1, 1), "switched": (0, 2), "one left": (0, 1), "none left": (0, 0)}
    assert [m for m in got if m["type"] == "rank_update"] == [
        {"type": "rank_update", "board": board.slug, "period": "daily", "user_id": "bert", "rank": 1, "score": 60}
    ]


class StalledConsumer(LeaderboardConsumer):
    """A client whose socket stops draining after its snapshot (uvicorn's send then waits)."""

    drained: asyncio.Event

    async def send(self, text_data=None, bytes_data=None, close=False):
        if self.writer is not None:  # past the snapshot
            await type(self).drained.wait()
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)


def test_a_stalled_client_holds_up_nobody_and_gets_the_latest_state_when_it_drains(settings):
    settings.LEADERBOARD_LIVE_MIN_INTERVAL_MS = 50
    board = BoardFactory()
    seed(board, {"ann": 10})
    app = URLRouter(
        [re_path(r"^stalled/(?P<slug>[-\w]+)/(?P<period>\w+)/$", StalledConsumer.as_asgi()), *websocket_urlpatterns]
    )

    async def scenario():
        StalledConsumer.drained = asyncio.Event()
        fast = WebsocketCommunicator(app, f"/ws/boards/{board.slug}/daily/")
        slow = WebsocketCommunicator(app, f"/stalled/{board.slug}/daily/")
        for ws in (fast, slow):
            await ws.connect()
            await ws.receive_json_from(timeout=5)  # the snapshot
        await asyncio.sleep(0.6)  # past the re-check window after a snapshot
        for _ in range(3):
            await submit(board=board, user_id="ann", value=1)
            await asyncio.sleep(0.2)
        fast_got = await updates(fast, seconds=0.5)
        slow_before = await updates(slow, seconds=0.2)
        StalledConsumer.drained.set()
        slow_after = await updates(slow, seconds=0.5)
        for ws in (fast, slow):
            await ws.disconnect()
        return fast_got, slow_before, slow_after

    fast_got, slow_before, slow_after = run(scenario)
    assert [m["entries"][0]["score"] for m in fast_got] == [11, 12, 13]
    assert slow_before == []
    # The send that was stuck, then straight to the latest state: nothing piled up in between.
    assert [m["entries"][0]["score"] for m in slow_after] == [11, 13]


def test_live_updates_on_a_board_with_tiers_carry_each_entrys_tier_and_the_players_own():
    board = BoardFactory(tier_basis="score", tiers=[{"name": "Gold", "cutoff": 45}, {"name": "Rest", "cutoff": None}])
    seed(board, {"ann": 50, "bob": 40})
    hello, after = zoe_watches_and_submits(board, value=45)
    first = next(m for m in hello if m["type"] == "leaderboard_update")
    assert [(e["user_id"], e["tier"]) for e in first["entries"]] == [("ann", "Gold"), ("bob", "Rest")]
    assert next(m for m in hello if m["type"] == "rank_update")["tier"] is None  # not ranked yet
    top = [m for m in after if m["type"] == "leaderboard_update"][-1]
    assert [(e["user_id"], e["tier"]) for e in top["entries"]] == [("ann", "Gold"), ("zoe", "Gold"), ("bob", "Rest")]
    ranks = [m for m in after if m["type"] == "rank_update"]
    assert [(m["rank"], m["tier"]) for m in ranks] == [(2, "Gold")]
