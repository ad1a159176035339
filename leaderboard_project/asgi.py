"""ASGI entry point: WebSockets under /ws/ (HTTP is served through WSGI), database connections pooled."""

import gc
import os

from django.apps import apps
from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")


def databases_pooled() -> None:
    """Every database alias without persistent connections; PostgreSQL ones through psycopg's pool.

    Django keeps a connection per thread, and its ASGI handler runs each HTTP request's code
    in a new thread of its own. A persistent connection (``CONN_MAX_AGE`` > 0, right for the
    WSGI servers, whose few threads serve request after request on one) is never reused
    here, and nothing closes it when its thread ends: it waits for the garbage collector,
    which this process runs rarely (see the end of this module). 40 clients made uvicorn
    hold 200 connections after 1,200 requests; past ``max_connections`` requests answer 503.
    With the pool a process holds at most ``DATABASE_POOL_MAX_SIZE``: a request hands its
    connection back when it finishes (``CONN_MAX_AGE`` 0: Django closes it, and closing
    returns it), and one that finds none free waits up to ``DATABASE_POOL_TIMEOUT``
    (then answers 503) instead of opening another. WebSocket consumers reach the database through
    ``database_sync_to_async``, whose executor threads are few and long-lived: Channels
    closes old connections in that thread around every call, which returns them too.

    The server's own process only: imported into a process that has set Django up already
    (the tests, a shell), it leaves that process's connections as they are.
    """
    if apps.ready:
        return
    for database in settings.DATABASES.values():
        database["CONN_MAX_AGE"] = 0
        if database.get("ENGINE") == "django.db.backends.postgresql":
            database.setdefault("OPTIONS", {}).setdefault("pool", dict(settings.DATABASE_POOL_OPTIONS))


databases_pooled()
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402

from leaderboard import invalidation  # noqa: E402
from leaderboard.routing import websocket_urlpatterns  # noqa: E402
from seeds.routing import websocket_urlpatterns as seed_websocket_urlpatterns  # noqa: E402

# Drop this process's short caches (boards, users) when another process or host changes them.
invalidation.follow()


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
        # Served here too so one ASGI server can do everything in a pinch (its database
        # connections pooled, see databases_pooled); the run command sends HTTP through the
        # faster WSGI server.
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
