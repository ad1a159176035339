"""Seed 002's WebSocket (``/ws/leaderboard/``): the core's live updates in the seed's payload shape."""

from __future__ import annotations

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from leaderboard import services
from leaderboard.tests.helpers import run, seed, updates
from leaderboard.tests.helpers import submit_async as submit
from seeds.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

APP = URLRouter(websocket_urlpatterns)


def test_seed002_clients_get_their_payload_shape():
    import importlib

    from django.apps import apps

    importlib.import_module("leaderboard.migrations.0002_default_boards").create_default_boards(apps, None)
    board = services.board_get(slug="score")
    seed(board, {"user123": 5000, "user456": 4800})

    async def scenario():
        ws = WebsocketCommunicator(APP, "/ws/leaderboard/")
        await ws.connect()
        first = await ws.receive_json_from(timeout=5)
        await submit(board=board, user_id="user456", value=300)
        pushed = await updates(ws, seconds=1.0)
        await ws.disconnect()
        return first, pushed

    first, pushed = run(scenario)
    assert first == {
        "event": "leaderboard_update",
        "data": {"leaderboard": [{"userId": "user123", "score": 5000}, {"userId": "user456", "score": 4800}]},
    }
    assert pushed == [
        {
            "event": "leaderboard_update",
            "data": {"leaderboard": [{"userId": "user456", "score": 5100}, {"userId": "user123", "score": 5000}]},
        }
    ]


def test_the_served_application_routes_seed002s_socket():
    """The ASGI application the servers run serves the seed's route beside the core's."""
    import importlib

    from django.apps import apps

    from leaderboard_project.asgi import application

    importlib.import_module("leaderboard.migrations.0002_default_boards").create_default_boards(apps, None)
    seed(services.board_get(slug="score"), {"user123": 5000})

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/leaderboard", headers=[(b"origin", b"http://localhost")])
        connected, _ = await ws.connect()
        first = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return connected, first

    connected, first = run(scenario)
    assert connected is True
    assert first == {"event": "leaderboard_update", "data": {"leaderboard": [{"userId": "user123", "score": 5000}]}}
