"""The live updates' shared state: the throttle of each live group, and who watches.

Every process and host consults the same keys, so a group's updates are
throttled once for the deployment, in Redis' clock.
"""

from __future__ import annotations

from . import keys, scripts
from .connection import client, guard, run

WATCH_TTL = 86_400


def gate(*, board_slug: str, period: str, interval_ms: int, token: str = "", claim: str = "") -> int:
    """The shared throttle of one live group (``lua/live_gate.lua``).

    Returns 0 = send now (the caller owns the in-progress mark and must call
    ``release``), -1 = nothing to do, n > 0 = (re)schedule the trailing send in
    n ms. A change calls it with ``claim`` (a fresh token it keeps if told to
    schedule); the timer it then starts calls it again with that ``token``.
    """
    key_list = [
        keys.live(board_slug, period, "last"),
        keys.live(board_slug, period, "pending"),
        keys.live(board_slug, period, "sending"),
    ]
    return int(run(scripts.LIVE_GATE, keys=key_list, args=[interval_ms, token, claim or "-"]))


def release(*, board_slug: str, period: str, token: str) -> None:
    """End a send started by ``gate`` (only its owner's token clears the mark)."""
    run(scripts.LIVE_RELEASE, keys=[keys.live(board_slug, period, "sending")], args=[token])


def digest_swap(*, board_slug: str, period: str, digest: str) -> bool:
    """Record the digest of the top N about to be sent; False when it equals the last one sent."""
    with guard():
        previous = client().set(keys.live(board_slug, period, "digest"), digest, px=86_400_000, get=True)
    return previous != digest


def watch(*, board_slug: str, period: str, delta: int) -> None:
    """Count a subscription to a period (+1 on connect, -1 on disconnect) so submits know who watches.

    The counters expire after a day without changes: a crashed ASGI process can
    only leave them too high (a broadcast nobody receives), never too low for long.
    """
    _counter_add(keys.live(board_slug, period, "subscribers"), delta)


def watch_user(*, board_slug: str, user_id: str, delta: int) -> None:
    """Count an authenticated subscription of one user (for rank_update)."""
    _counter_add(keys.live_user(board_slug, user_id), delta)


def _counter_add(key: str, delta: int) -> None:
    with guard():
        pipe = client().pipeline(transaction=False)
        pipe.incrby(key, delta)
        pipe.expire(key, WATCH_TTL)
        pipe.execute()
