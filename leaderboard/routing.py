"""WebSocket routes, served by the ASGI application."""

from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"^ws/boards/(?P<slug>[-a-zA-Z0-9_]+)/(?P<period>[a-z_-]+)/?$", consumers.LeaderboardConsumer.as_asgi()),
]
