"""A socket refused at connect (4404) must ignore what the client still sends (issue 13: found by mypy).

``LeaderboardConsumer.board`` stays None when ``connect`` refuses an unknown board
or period (it accepts, then closes with 4404, so the client can read the code).
Until the close reaches the client, it may still send: an ``auth`` message then
reaches ``authenticate``, which reads ``self.board.slug`` and the consumer dies
with ``AttributeError`` (mypy: 'Item "None" of "Board | None" has no attribute
"slug"', leaderboard/consumers.py). It now ignores messages on a socket without a board.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from leaderboard.routing import websocket_urlpatterns
from leaderboard.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_auth_message_on_a_socket_closed_with_4404_is_ignored():
    token = str(AccessToken.for_user(UserFactory()))

    async def scenario() -> None:
        ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/boards/no-such-board/daily/")
        connected, _ = await ws.connect()
        assert connected
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
        await ws.send_json_to({"type": "auth", "token": token})
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()  # raises what the consumer raised

    async_to_sync(scenario)()
