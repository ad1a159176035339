"""WSGI entry point: the REST API, admin and live page are served through it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")

application = get_wsgi_application()
