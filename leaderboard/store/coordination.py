"""Service-wide state in Redis: locks, heartbeats, and repair marks awaiting PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from . import keys, scripts
from .connection import RedisUnavailable, client, guard, run

logger = logging.getLogger(__name__)


def lock_acquire(*, name: str, ttl_ms: int) -> str | None:
    """A service-wide lock (e.g. one reconciliation at a time); the token, or None if held."""
    token = uuid.uuid4().hex
    with guard():
        ok = client().set(keys.global_lock(name), token, nx=True, px=ttl_ms)
    return token if ok else None


def lock_release(*, name: str, token: str) -> None:
    run(scripts.UNLOCK, keys=[keys.global_lock(name)], args=[token])


def lock_extend(*, name: str, token: str, ttl_ms: int) -> bool:
    """Keep a service-wide lock ``ttl_ms`` longer; False when ``token`` no longer holds it."""
    return bool(run(scripts.LOCK_EXTEND, keys=[keys.global_lock(name)], args=[token, ttl_ms]))


def lock_held(*, name: str) -> bool:
    with guard():
        return bool(client().exists(keys.global_lock(name)))


def heartbeat_set(*, name: str, ttl: int = 3600) -> None:
    """Record that a background component is alive (value: unix time)."""
    with guard():
        client().set(keys.heartbeat(name), f"{time.time():.3f}", ex=ttl)


def heartbeat_age(*, name: str) -> float | None:
    """Seconds since the component last reported, or None if it never did."""
    with guard():
        raw = client().get(keys.heartbeat(name))
    return None if raw is None else max(0.0, time.time() - float(raw))


def invalidation_publish(*, kind: str) -> None:
    """Tell every process (on every host) to drop its cached ``kind`` ("board", "user")."""
    with guard():
        client().publish(keys.invalidations(), kind)


def invalidations_follow(on_message: Callable[[str], None], *, stop: threading.Event) -> None:
    """Call ``on_message(kind)`` for every invalidation published, until ``stop`` is set.

    Runs in a thread of its own. After every (re)subscription it calls
    ``on_message("*")``: whatever was published while this process was not
    listening is covered by dropping everything. A lost connection is retried
    every second; meanwhile the caches' own few-second lifetimes bound staleness.
    """
    while not stop.is_set():
        try:
            with guard():
                pubsub = client().pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(keys.invalidations())
                on_message("*")
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        on_message(str(message["data"]))
        except RedisUnavailable as exc:
            logger.warning("cache invalidations not received (retrying every second): %s", exc)
            stop.wait(1.0)
        except Exception:  # the follower must outlive any one bad message
            logger.exception("cache invalidation follower failed; restarting it")
            stop.wait(1.0)


def repair_pending_add(*, marks: dict[str, str]) -> None:
    """Record buckets that may be behind PostgreSQL while PostgreSQL cannot take the mark.

    ``marks`` maps "<board id>|<period>|<bucket start ISO>" to a reason; the
    repair task moves them into PostgreSQL (``repair_pending_take``).
    """
    with guard():
        client().hset(keys.repair_pending(), mapping=cast(dict[Any, Any], marks))


def repair_pending_take() -> dict[str, str]:
    """The pending marks (not removed: ``repair_pending_done`` removes those moved)."""
    with guard():
        return cast(dict[str, str], client().hgetall(keys.repair_pending()))


def repair_pending_done(*, fields: Sequence[str]) -> None:
    if fields:
        with guard():
            client().hdel(keys.repair_pending(), *fields)
