"""ASGI entry point: WebSockets under /ws/ (HTTP is served through WSGI)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from leaderboard.routing import websocket_urlpatterns  # noqa: E402
from seeds.routing import websocket_urlpatterns as seed_websocket_urlpatterns  # noqa: E402


class BrowserOriginValidator(OriginValidator):
    """Refuses browsers on pages of other sites; lets clients that are no browser in.

    Browsers always send ``Origin`` with a WebSocket handshake and the page's
    site cannot change it, so checking it (against ``ALLOWED_HOSTS``) stops
    another site's page from using a visitor's connection. A client without an
    ``Origin`` header is no browser (a game server, a script, a mobile app): it
    can send any header it likes, so refusing it protects nothing, and the
    token it sends is checked anyway. A header that is present but not a
    known host (including ``null`` from sandboxed pages) is refused with 403.
    Channels' ``AllowedHostsOriginValidator`` refuses clients without the header.
    """

    def __init__(self, application) -> None:
        super().__init__(application, [])

    async def __call__(self, scope, receive, send):
        if not any(name == b"origin" for name, _ in scope.get("headers", [])):
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:  # present but undecodable
            return False
        # Read per connection, like Django's own host check (and as channels' validator would at startup).
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = ["localhost", "127.0.0.1", "[::1]"]
        return any(pattern == "*" or self.match_allowed_origin(parsed_origin, pattern) for pattern in allowed)


application = ProtocolTypeRouter(
    {
        # Served here too so one ASGI server can do everything in a pinch;
        # the run command sends HTTP through the faster WSGI server.
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns + seed_websocket_urlpatterns)),
    }
)

# This process holds thousands of long-lived sockets (about 150 tracked objects
# each). With Python's default thresholds, the objects in flight during every
# broadcast get promoted and a full collection rescans all sockets every few
# seconds: 100-200 ms pauses with 1,000 clients, the p99 of live delivery
# (benchmark_ws). Rarer young collections promote far less; what was loaded at
# startup is never rescanned.
gc.freeze()
gc.set_threshold(50_000, 20, 100)
