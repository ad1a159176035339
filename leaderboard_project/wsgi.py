"""WSGI entry point: the REST API, admin and live page are served through it."""

import os

from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")

django_application = get_wsgi_application()

# Imported once Django is set up (the app registry is ready). Drop this process's short
# caches when another process (or host) changes a board or user.
from leaderboard import invalidation  # noqa: E402

invalidation.follow()


def application(environ, start_response):
    """Django's WSGI handler, with complete responses handed over as one bytes chunk.

    A Django response is an iterable the server would step through from its own
    thread, taking the GIL back for every chunk; a list lets granian send the body
    at once (about a sixth of the CPU of a small API request). Streaming responses
    (files, exports) are passed through untouched. ``close()`` runs here, as the
    server would run it after the body: it ends the request (request_finished).
    """
    response = django_application(environ, start_response)
    if not isinstance(response, HttpResponse):  # streaming: StreamingHttpResponse, FileResponse
        return response
    try:
        return [response.content]
    finally:
        response.close()
