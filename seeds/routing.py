"""Seed 002's WebSocket route, served by the ASGI application beside the core's."""

from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    # The seed's clients name no board or period: its board is ``score``, all time.
    re_path(
        r"^ws/leaderboard/?$",
        consumers.Seed002Consumer.as_asgi(),
        kwargs={"slug": "score", "period": "all_time"},
    ),
]
