"""Development settings: production's, plus the dev-only app ``devtools``.

``./manage``, ``make run`` and ``make bench*`` use these: ``devtools.stack`` sets
``DJANGO_SETTINGS_MODULE`` to this module for the processes it starts, unless it
is set already. Nothing else differs from production, so that what runs locally
and what the benchmarks measure is what ships. Production
(``leaderboard_project.settings``, the Docker image) never imports ``devtools``.
"""

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS

# Benchmarks, seed_demo and their demo data.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]
# The project's URLconf plus /_bench/bare, the ceiling of `manage.py benchmark`.
ROOT_URLCONF = "devtools.urls"
