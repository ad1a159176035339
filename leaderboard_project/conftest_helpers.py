"""Small helpers shared by tests (importable, unlike conftest.py)."""

from __future__ import annotations

import os

from rest_framework_simplejwt.tokens import RefreshToken

# What a test session sets for itself and an operator's shell would not have: the settings module
# (pytest-django's), the stack's own variables, and make's (the tests run under `make test`).
SESSION_ONLY = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
    "PROMETHEUS_MULTIPROC_DIR",
    "EMBEDDED_POSTGRES_PORT",
    "EMBEDDED_REDIS_PORT",
    "STACK_DATA_DIR",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
)


def bearer(user) -> str:
    """An Authorization header value with a fresh access token for ``user``."""
    return f"Bearer {RefreshToken.for_user(user).access_token}"


def command_env(*, redis_url: str, redis_prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a management command run in a subprocess on this test's servers.

    An operator's shell (the session's own variables removed) with the URLs of the
    test session's PostgreSQL, naming the test database pytest-django made, and
    Redis, under this test's key prefix. The settings module is left to the command
    (``manage.py``: production's; ``./manage``: the stack's). Committed rows only:
    the test needs ``transactional_db`` for the command to see its data.
    """
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {k: v for k, v in os.environ.items() if k not in SESSION_ONLY}
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=redis_url,
        LEADERBOARD_REDIS_PREFIX=redis_prefix,
        # The session's broker and channel layer (another server when the store is a cluster).
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CHANNELS_REDIS_URL=settings.CHANNELS_REDIS_URL,
        SECRET_KEY="test-only-secret-key-of-at-least-fifty-characters-0123456789",
        SECURE_HTTPS="false",
    )
    env.update(extra)
    return env
