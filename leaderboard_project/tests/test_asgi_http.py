"""The ASGI app, serving WebSockets and HTTP under load, holds a bounded number of PostgreSQL connections.

uvicorn runs the Procfile's ``ws`` line (``uvicorn leaderboard_project.asgi:application``,
two workers) in a process of its own with production settings, as an operator deploys it,
on the test database. Its connections carry an ``application_name`` of their own, so
``pg_stat_activity`` counts exactly what the server holds while 40 sockets stay open and
40 HTTP clients read and submit.
Before the entry point made connections non-persistent, every request left a connection
open (Django's ASGI handler runs each request in a new thread, whose connection nothing
reuses or closes): 200 and more, and past ``max_connections`` requests answered 503.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from websockets.sync.client import connect

from devtools.stack import free_port, port_open, spawn, wait_until, websocket_command
from leaderboard.models import Board
from leaderboard.tests.factories import BoardFactory
from leaderboard.tests.helpers import seed
from leaderboard_project.conftest_helpers import bearer, command_env

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 40
REQUESTS_PER_CLIENT = 30  # a third of them submits: 400 in all, under the default per-IP submit limit
WORKERS = 2
POOL_MAX_SIZE = 8  # DATABASE_POOL_MAX_SIZE: each worker's connections, a fifth of the clients
POOL_TIMEOUT = 10  # DATABASE_POOL_TIMEOUT (the default): a request waiting this long for a connection gets a 503
BOUND = WORKERS * POOL_MAX_SIZE + 2  # the pools, and a connection being replaced, say


@dataclass
class Players:
    board: Board
    authorizations: dict[str, str]  # username: Authorization header, signed in this thread


@pytest.fixture
def players(redis_prefix) -> Players:
    """A warm board with 40 ranked players, and a token for each."""
    board = BoardFactory()
    usernames = [f"player{i:02d}" for i in range(CLIENTS)]
    seed(board, {name: i for i, name in enumerate(usernames)})
    users = get_user_model().objects.filter(username__in=usernames)
    return Players(board=board, authorizations={user.username: bearer(user) for user in users})


def held_connections(application_name: str) -> int:
    """The server's connections, counted on this test's own (opened before the server's clients start)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return int(cursor.fetchone()[0])


@contextlib.contextmanager
def asgi_server(*, redis_prefix: str, application_name: str) -> Iterator[int]:
    """The Procfile's ASGI server on a free port, its database connections named ``application_name``."""
    port = free_port()
    env = command_env(
        redis_url=django_settings.REDIS_URL,
        redis_prefix=redis_prefix,
        SECRET_KEY=django_settings.SECRET_KEY,  # the tokens signed here verify there
        WS_WORKERS=str(WORKERS),
        DATABASE_POOL_MAX_SIZE=str(POOL_MAX_SIZE),
        DATABASE_POOL_TIMEOUT=str(POOL_TIMEOUT),
    )
    env["DATABASE_URL"] += f"?application_name={quote(application_name)}"
    server = spawn("uvicorn", websocket_command(host="127.0.0.1", port=port), env=env)
    try:
        wait_until(lambda: port_open(port) or not server.alive(), timeout=30, what="uvicorn")
        assert server.alive(), "uvicorn exited"
        yield port
    finally:
        server.stop()


def client_run(*, port: int, slug: str, username: str, authorization: str, errors: list[str]) -> Counter[int]:
    """One client on one keep-alive connection: submits, top-10 reads and rank reads, in turn.

    Returns how many responses had each status (0: none, the connection failed); the
    bodies of 5xx responses go to ``errors``.
    """
    statuses: Counter[int] = Counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for n in range(REQUESTS_PER_CLIENT):
            kind = n % 3
            if kind == 0:
                headers = {"Authorization": authorization, "Content-Type": "application/json"}
                conn.request(
                    "POST", f"/api/v1/boards/{slug}/scores", body=json.dumps({"value": n + 1}), headers=headers
                )
            elif kind == 1:
                conn.request("GET", f"/api/v1/boards/{slug}/leaderboard/daily?limit=10")
            else:
                conn.request("GET", f"/api/v1/boards/{slug}/leaderboard/weekly/rank/{username}")
            response = conn.getresponse()
            content = response.read()
            statuses[response.status] += 1
            if response.status >= 500:
                errors.append(content[:300].decode(errors="replace"))
    except (OSError, http.client.HTTPException):
        statuses[0] += REQUESTS_PER_CLIENT - sum(statuses.values())  # refused or cut off: counted as lost
    finally:
        conn.close()
    return statuses


def socket_open(*, url: str, sockets: contextlib.ExitStack) -> dict:
    """A WebSocket client that stays open (until ``sockets`` closes); returns its first message.

    The updates it receives meanwhile are buffered unread (no keepalive to miss), and it
    closes without waiting long for the busy server's answer.
    """
    ws = sockets.enter_context(connect(url, proxy=None, ping_interval=None, max_queue=None, close_timeout=1))
    return json.loads(ws.recv(timeout=2 * POOL_TIMEOUT))


def test_forty_http_clients_beside_forty_open_sockets_hold_a_bounded_number_of_connections(players, redis_prefix):
    """Sockets first: each looks its token's user up (``database_sync_to_async``) and stays open; then HTTP.

    Channels closes the executor thread's connection around each call, which hands a
    pooled one back. A socket that kept the connection it checked out would hold it as
    long as it stays open: the pools would be empty after 16 sockets, and the next ones,
    and every HTTP request after them, would wait for one in vain.
    """
    application_name = f"asgi-{uuid.uuid4().hex[:8]}"
    slug = players.board.slug
    with (
        asgi_server(redis_prefix=redis_prefix, application_name=application_name) as port,
        contextlib.ExitStack() as sockets,
        ThreadPoolExecutor(CLIENTS) as clients,
    ):
        first_messages = list(
            clients.map(
                lambda authorization: socket_open(
                    url=f"ws://127.0.0.1:{port}/ws/boards/{slug}/daily/?token={authorization.removeprefix('Bearer ')}",
                    sockets=sockets,
                ),
                players.authorizations.values(),
            )
        )
        held_with_sockets = held_connections(application_name)

        observed: list[int] = []
        errors: list[str] = []
        started = time.monotonic()
        runs = [
            clients.submit(client_run, port=port, slug=slug, username=name, authorization=authorization, errors=errors)
            for name, authorization in players.authorizations.items()
        ]
        pending = set(runs)
        while pending:
            _, pending = wait(pending, timeout=0.02)
            observed.append(held_connections(application_name))
        elapsed = time.monotonic() - started
        statuses: Counter[int] = sum((run.result() for run in runs), Counter())
        time.sleep(0.5)  # a response goes out before its request's connection goes back
        held_after = held_connections(application_name)

    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        max_connections = cursor.fetchone()[0]
    socket_firsts = Counter(message["type"] for message in first_messages)
    figures = (
        f"{CLIENTS} sockets: first messages {dict(socket_firsts)}, {held_with_sockets} connections held; "
        f"{CLIENTS} HTTP clients: {sum(statuses.values())} requests in {elapsed:.1f} s, statuses {dict(statuses)}, "
        f"at most {max(observed)} connections held during the run, {held_after} after it "
        f"(bound {BOUND}, max_connections {max_connections}); 5xx bodies {errors[:3]}"
    )
    print(figures)
    assert socket_firsts == {"rank_update": CLIENTS}, figures
    assert sum(statuses.values()) == CLIENTS * REQUESTS_PER_CLIENT, figures
    assert set(statuses) <= {200, 201}, figures  # no 5xx, and nothing lost
    assert max(observed) <= BOUND, figures
    assert held_after <= BOUND, figures
