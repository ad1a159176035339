"""The one way to Redis: the client, its errors, the circuit breaker, and running scripts.

Every command the service sends goes through ``client()`` (inside ``guard()``)
or, for Lua scripts, through ``run()``. ``guard`` turns redis-py's errors into
``RedisUnavailable`` and, after a connection failure, opens a short circuit
breaker: calls fail fast for ``BREAKER_SECONDS`` instead of each waiting on a
timeout, so reads fall back to PostgreSQL at full speed.

Scripts run on a connection of the calling thread's own (``_ThreadRunner``):
the hottest calls (every read and every submit) are one script each, and
redis-py's command path (retry wrappers, command lookup, response callbacks a
script never has) plus its pool's lock cost more CPU than the round trip. The
runner is built on redis-py's public connection API and keeps the pool's
guarantees (see its docstring).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    from .scripts import Script


class RedisUnavailable(Exception):
    """Redis could not be reached or answered with an error."""


BREAKER_SECONDS = 2.0

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
_down_until = 0.0
_local = threading.local()


def client() -> redis.Redis:
    """The shared client for ``settings.REDIS_URL`` (fails fast while the breaker is open)."""
    if time.monotonic() < _down_until:
        raise RedisUnavailable("Redis is unavailable (recent connection failure)")
    url = settings.REDIS_URL
    found = _clients.get(url)
    if found is not None:
        return found
    with _clients_lock:
        found = _clients.get(url)
        if found is None:
            timeout = settings.REDIS_SOCKET_TIMEOUT
            found = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=30,
                # One quick retry covers a connection the server closed while idle.
                retry=Retry(NoBackoff(), 1),
                max_connections=200,
            )
            _clients[url] = found
    return found


def reset_clients() -> None:
    """Forget connections and close the breaker (tests, and after a fork)."""
    global _down_until
    with _clients_lock:
        for found in _clients.values():
            found.close()
        _clients.clear()
    held = getattr(_local, "held", None)
    _local.held = None
    if held is not None and held[1] == os.getpid():
        held[2].conn.disconnect()
    _down_until = 0.0


class guard:
    """Turn redis-py errors into ``RedisUnavailable``; a connection failure trips the breaker."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        global _down_until
        if exc is None:
            return
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            _down_until = time.monotonic() + BREAKER_SECONDS
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(exc, redis.RedisError):
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc


def ping() -> bool:
    with guard():
        return bool(client().ping())


def run(script: Script, *, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
    """Run a Lua script (EVALSHA, EVAL when the server lacks it); errors as ``RedisUnavailable``."""
    with guard():
        return _runner().call(script, keys, args)


class _ThreadRunner:
    """Scripts on one connection of this thread's, made like the shared client's (URL, timeouts).

    Kept guarantees: a connection the server closed while idle is replaced
    before sending (as the pool checks on lending); a command that could not
    be sent is sent once more on a new connection; a reply is never waited for
    twice and a half-read one never reaches the next call; errors are
    redis-py's own, so ``guard`` treats them as any other.
    """

    __slots__ = ("conn", "pid", "pool")

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.conn = pool.connection_class(**pool.connection_kwargs)

    def call(self, script: Script, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
        conn = self.conn
        try:
            if conn.can_read():  # data or EOF waiting on an idle connection: the server closed it
                conn.disconnect()
            conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            # Nothing reached the server: one new connection may send it safely.
            conn.disconnect()
            conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            try:
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                conn.send_command("EVAL", script.source, len(keys), *keys, *args)
                return conn.read_response()
        except BaseException:
            # No retry here: the server may have run the script (a count taken twice, a
            # warm finished twice). Drop the connection so a late reply is never read.
            conn.disconnect()
            raise


def _runner() -> _ThreadRunner:
    pool = client().connection_pool  # fails fast while the breaker is open
    held = getattr(_local, "held", None)
    if held is not None and held[0] is pool and held[1] == os.getpid():
        return held[2]
    runner = _ThreadRunner(pool)
    _local.held = (pool, runner.pid, runner)
    return runner


# --------------------------------------------------------------------------- whole-server operations


def scan(pattern: str, *, count: int = 1000) -> Iterator[str]:
    """Every key matching ``pattern`` (SCAN; for maintenance, never a hot path)."""
    with guard():
        yield from client().scan_iter(match=pattern, count=count)


def keys_delete(pattern: str) -> int:
    """Delete every key matching ``pattern`` (SCAN + UNLINK in batches of 1,000)."""
    deleted = 0
    with guard():
        conn = client()
        batch: list[str] = []
        for key in conn.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += conn.unlink(*batch)
                batch.clear()
        if batch:
            deleted += conn.unlink(*batch)
    return deleted


def keys_count(pattern: str) -> int:
    """How many keys match ``pattern`` (SCAN; for status pages, not hot paths)."""
    return sum(1 for _ in scan(pattern))


def server_info() -> dict[str, Any]:
    with guard():
        conn = client()
        info = conn.info("memory")
        info.update(conn.info("stats"))
        info.update(conn.info("server"))
        return info


def memory_used() -> int:
    with guard():
        return int(client().info("memory")["used_memory"])
