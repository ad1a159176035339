"""Fixtures shared by every app's tests. Tests run against real PostgreSQL and Redis."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from leaderboard import warming
from leaderboard.store import connection as store_connection
from leaderboard_project.conftest_helpers import bearer


@pytest.fixture(autouse=True)
def board_cache():
    """Boards, token users and rendered pages are cached per process for a few seconds; tests start without."""
    from accounts.authentication import user_cache_clear
    from leaderboard import rendered, repair_marks
    from leaderboard.services import board_cache_clear

    board_cache_clear()
    user_cache_clear()
    repair_marks.forget_all()
    rendered.forget_all()
    yield
    board_cache_clear()
    user_cache_clear()
    repair_marks.forget_all()
    rendered.forget_all()


@pytest.fixture(autouse=True)
def redis_prefix(settings):
    """Each test gets its own Redis key prefix, so tests cannot see each other's keys."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings.LEADERBOARD_REDIS_PREFIX = prefix
    store_connection.reset_clients()
    yield prefix
    try:
        store_connection.reset_clients()
        store_connection.keys_delete(f"{prefix}:*")
    except store_connection.RedisUnavailable:
        pass
    store_connection.reset_clients()


@pytest.fixture
def default_boards(db):
    """The boards the data migration creates (transactional tests flush them), warm."""
    import importlib

    from django.apps import apps

    from leaderboard.models import Board

    importlib.import_module("leaderboard.migrations.0002_default_boards").create_default_boards(apps, None)
    for board in Board.objects.all():
        warming.board_warm(board=board)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    from leaderboard.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def staff(db):
    from leaderboard.tests.factories import UserFactory

    return UserFactory(is_staff=True)


@pytest.fixture
def auth_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    client.user = user
    return client


@pytest.fixture
def staff_client(staff) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(staff))
    client.user = staff
    return client


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_tcp_port() -> int:
    return _free_port()


class DisposableRedis:
    """A real Valkey server of the test's own, which the test may stop and restart."""

    def __init__(self, tmp_path, *, persistent: bool) -> None:
        self.port = _free_port()
        self.dir = tmp_path
        self.persistent = persistent
        self.child = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from devtools.stack import port_open, spawn, valkey_server_binary, wait_until

        argv = [
            valkey_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--loglevel",
            "warning",
        ]
        argv += ["--appendonly", "yes" if self.persistent else "no"]
        self.child = spawn("valkey", argv, quiet=True)
        wait_until(lambda: port_open(self.port), timeout=20, what="disposable Valkey")
        store_connection.reset_clients()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None
        store_connection.reset_clients()


@pytest.fixture
def disposable_redis(settings, tmp_path):
    server = DisposableRedis(tmp_path, persistent=True)
    server.start()
    settings.REDIS_URL = server.url
    store_connection.reset_clients()
    yield server
    server.stop()


@pytest.fixture
def disposable_cluster(settings):
    """A Redis Cluster of three Valkey primaries of the test's own, which the test may break; the store uses it."""
    from devtools.stack import start_valkey_cluster

    children, url = start_valkey_cluster(3)
    settings.REDIS_URL = url
    store_connection.reset_clients()
    yield children
    for child in children:
        child.stop()
    store_connection.reset_clients()
