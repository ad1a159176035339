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

Redis Cluster: a ``redis+cluster://`` (or ``rediss+cluster://``) URL, or
``REDIS_CLUSTER=true``, makes the client a ``RedisCluster``: it follows
``MOVED``/``ASK`` and routes each script by its keys (every script's keys share
one slot: a board's keys carry its hash tag, the service-wide ones are single
keys). Scripts then go through the cluster client (no per-thread connection);
scans, counts, deletes and memory cover every primary. Every cluster failure
(``RedisClusterException`` and its kin are not ``RedisError``s) is a
``RedisUnavailable`` like any other.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError
from redis.retry import Retry

from leaderboard_project.redis_urls import cluster_node

from .scripts import Script


class RedisUnavailable(Exception):
    """Redis could not be reached or answered with an error."""


BREAKER_SECONDS = 2.0

Client = redis.Redis | RedisCluster

_clients: dict[str, Client] = {}
_clients_lock = threading.Lock()
_down_until = 0.0
_local = threading.local()


def cluster_url(url: str) -> str | None:
    """The plain URL of a Redis Cluster named by ``url`` (``redis+cluster://...``), or None for one server."""
    return cluster_node(url, cluster=settings.REDIS_CLUSTER)


def is_cluster() -> bool:
    """Whether the store is a Redis Cluster (settings, not a round trip)."""
    return cluster_url(settings.REDIS_URL) is not None


def client() -> Client:
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
            cluster = cluster_url(url)
            if cluster is not None:
                _clients[url] = RedisCluster.from_url(
                    cluster,
                    decode_responses=True,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    # MOVED and ASK are followed; nothing is sent twice (a script that timed out may
                    # have run: a warm finished twice would empty a bucket, a limit counted twice).
                    retry=Retry(NoBackoff(), 0),
                    health_check_interval=30,
                    max_connections=200,
                )
                return _clients[url]
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
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, RedisClusterException, ClusterDownError)):
            # Unreachable, or a cluster that cannot serve (slots uncovered, no primary): fail fast a while.
            _down_until = time.monotonic() + BREAKER_SECONDS
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(exc, redis.RedisError):
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc


def ping() -> bool:
    """Redis answers; for a cluster, every primary answers and the cluster state is ``ok``."""
    with guard():
        conn = client()
        if isinstance(conn, RedisCluster):
            state = conn.cluster_info(target_nodes=RedisCluster.RANDOM).get("cluster_state")
            if state != "ok":
                raise ClusterDownError(f"cluster_state is {state!r}")
            return bool(conn.ping(target_nodes=RedisCluster.PRIMARIES))
        return bool(conn.ping())


def run(script: Script, *, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
    """Run a Lua script (EVALSHA, EVAL when the server lacks it); errors as ``RedisUnavailable``."""
    with guard():
        conn = client()
        if isinstance(conn, RedisCluster):
            return _cluster_call(conn, script, keys, args)
        return _runner(conn).call(script, keys, args)


def _cluster_call(conn: RedisCluster, script: Script, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
    """A script through the cluster client, which routes it to the node of its keys' slot."""
    try:
        return conn.evalsha(script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        # That node has not seen it (new, restarted, or a replica promoted): send the source.
        return conn.eval(script.source, len(keys), *keys, *args)
    except TryAgainError:
        # The slot is migrating with the keys split between two nodes: once more, then fail.
        time.sleep(0.05)
        return conn.evalsha(script.sha, len(keys), *keys, *args)


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


def _runner(conn: redis.Redis) -> _ThreadRunner:
    pool = conn.connection_pool
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
    """Delete every key matching ``pattern`` (SCAN + UNLINK in batches of 1,000; every primary of a cluster,
    whose client splits a batch by slot)."""
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


def _info(section: str) -> list[dict[str, Any]]:
    """INFO ``section`` of the server, or of every primary of a cluster."""
    conn = client()
    if isinstance(conn, RedisCluster):
        found = conn.info(section, target_nodes=RedisCluster.PRIMARIES)
        # One primary answers with its dict; several with {node name: dict}.
        return [found] if "redis_version" in found or f"used_{section}" in found else list(found.values())
    return [conn.info(section)]


_SUMMED = ("used_memory", "keyspace_hits", "keyspace_misses", "total_commands_processed", "connected_clients")


def server_info() -> dict[str, Any]:
    """INFO memory, stats and server; a cluster's counters are summed over its primaries."""
    with guard():
        per_node: list[dict[str, Any]] = [{} for _ in _info("server")]
        for section in ("memory", "stats", "server"):
            for node, found in zip(per_node, _info(section), strict=False):
                node.update(found)
    merged = dict(per_node[0])
    for name in _SUMMED:
        if all(isinstance(node.get(name), int) for node in per_node):
            merged[name] = sum(node[name] for node in per_node)
    merged["nodes"] = len(per_node)
    return merged


def memory_used() -> int:
    """Bytes used by Redis (summed over a cluster's primaries)."""
    with guard():
        return sum(int(found["used_memory"]) for found in _info("memory"))
