"""Small helpers shared by tests (importable, unlike conftest.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import quote

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


def session_database_url() -> str:
    """The URL of the test database this process uses (pytest-django's ``test_<name>``), quoted."""
    from django.db import connection

    db = connection.settings_dict
    return (
        f"postgres://{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
        f"@{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"
    )


@contextlib.contextmanager
def serving(argv: list[str], port: int, env: dict[str, str], *, cwd: str | os.PathLike[str]) -> Iterator[None]:
    """A server started as a user would (``argv``), until it accepts on ``port``; stopped with SIGINT after."""
    child = subprocess.Popen(argv, env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert child.poll() is None, f"{argv[0]} exited"
            assert time.monotonic() < deadline, f"{argv[0]} did not start within 30 s"
            time.sleep(0.1)
        yield
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


def command_env(*, redis_url: str, redis_prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a management command run in a subprocess on this test's servers.

    An operator's shell (the session's own variables removed) with the URLs of the
    test session's PostgreSQL, naming the test database pytest-django made, and
    Redis, under this test's key prefix. The settings module is left to the command
    (``manage.py``: production's; ``./manage``: the stack's). Committed rows only:
    the test needs ``transactional_db`` for the command to see its data.
    """
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in SESSION_ONLY}
    env.update(
        DATABASE_URL=session_database_url(),
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
