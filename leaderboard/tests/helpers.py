"""Helpers for leaderboard tests: comparisons of the two stores, thread pools."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.utils import timezone

from leaderboard import services, warming
from leaderboard.models import Board, Standing
from leaderboard.periods import Bucket
from leaderboard.store import buckets as store_buckets
from leaderboard.tests.factories import UserFactory


def seed(board: Board, scores: dict[str, int]) -> None:
    """Users and their standings in every live bucket, written directly (no events, no broadcasts), then warmed."""
    now = timezone.now()
    for user_id in scores:
        UserFactory(username=user_id)
    Standing.objects.bulk_create(
        Standing(board=board, period=b.period, bucket_start=b.start, user_id=u, score=s, created_at=now, updated_at=now)
        for u, s in scores.items()
        for b in board.live_buckets(now)
    )
    warming.board_warm(board=board)


def submitted(board: Board, scores: dict[str, int]) -> None:
    """Users, each submitting one score through the service (events, standings, Redis, as in production)."""
    for user_id, value in scores.items():
        services.score_submit(board=board, user_id=UserFactory(username=user_id).username, value=value)


def redis_members(board: Board, bucket: Bucket) -> dict[str, int]:
    found: dict[str, int] = {}
    for batch in store_buckets.bucket_members(board_slug=board.slug, period=bucket.period, bucket=bucket.key):
        found.update(batch)
    return found


def pg_members(board: Board, bucket: Bucket) -> dict[str, int]:
    rows = Standing.objects.filter(board=board, period=bucket.period, bucket_start=bucket.start)
    # The user id column holds usernames (the foreign key's ``to_field``), whatever the stubs infer.
    return dict(cast(Iterable[tuple[str, int]], rows.values_list("user_id", "score")))


T = TypeVar("T")


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` for i in range(count) on ``count`` threads, each with its own connection."""

    def run(i: int) -> T:
        try:
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


class FaultyProxy:
    """A TCP proxy in front of the real PostgreSQL that can lose replies and refuse connections.

    ``lose_replies()`` lets the next statements reach the server (so they run and
    commit) but never delivers the answers, then drops the client: what a client
    sees when the server or the network dies during COMMIT. ``refuse()`` makes
    new connections fail at once, ``heal()`` undoes both.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket
        import threading

        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.losing = threading.Event()
        self.refusing = threading.Event()
        self.closed = threading.Event()
        self.pairs: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            server = socket.create_connection(self.target)
            self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source, sink, replies: bool) -> None:
        import time

        try:
            while chunk := source.recv(65536):
                if replies and self.losing.is_set():
                    # The server has run the statement; its answer is lost with the connection.
                    time.sleep(0.3)
                    _drop(sink, source)
                    return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _drop(sink, source)

    def lose_replies(self) -> None:
        self.losing.set()

    def drop_all_in(self, seconds: float) -> None:
        """Cut every open connection after ``seconds``, whatever is in flight (a network failure)."""
        import threading

        def cut() -> None:
            for pair in list(self.pairs):
                _drop(*pair)

        threading.Timer(seconds, cut).start()

    def refuse(self) -> None:
        self.refusing.set()

    def heal(self) -> None:
        self.losing.clear()
        self.refusing.clear()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for pair in self.pairs:
            _drop(*pair)


def _drop(*socks) -> None:
    """Close sockets so that the peer and any thread blocked on them notice at once."""
    import socket

    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


# WebSocket consumers under Channels' test communicator.

submit_async = database_sync_to_async(services.score_submit)


async def updates(communicator: WebsocketCommunicator, *, seconds: float) -> list[dict]:
    """Every message received within ``seconds``."""
    received = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        # receive_nothing waits without cancelling the consumer (a timed-out receive would).
        if not await communicator.receive_nothing(timeout=min(left, 0.05), interval=0.01):
            received.append(await communicator.receive_json_from(timeout=5))
    return received


def run(coroutine: Callable[[], Awaitable[T]]) -> T:
    """Run an async scenario to its end from a synchronous test."""
    return async_to_sync(coroutine)()
