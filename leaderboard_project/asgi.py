"""ASGI entry point: WebSockets under /ws/ (HTTP is served through WSGI)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from leaderboard.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Served here too so one ASGI server can do everything in a pinch;
        # the run command sends HTTP through the faster WSGI server.
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
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
