"""Rate-limit windows: fixed windows counted in Redis, shared by every process and host."""

from __future__ import annotations

import time

from . import keys, scripts
from .connection import keys_delete, run


def _key(scope: str, ident: str, window: int) -> str:
    return keys.rate(scope, ident, int(time.time() // window))


def hit(*, scope: str, ident: str, window: int) -> tuple[int, int]:
    """Count one hit in the current fixed window; returns (hits so far, seconds left)."""
    count, ttl = run(scripts.RATE_HIT, keys=[_key(scope, ident, window)], args=[window])
    return int(count), max(1, int(ttl))


def count(*, scope: str, ident: str, window: int) -> tuple[int, int]:
    """The hits counted in the current fixed window, without counting one; (hits, seconds left)."""
    found, ttl = run(scripts.RATE_COUNT, keys=[_key(scope, ident, window)], args=[])
    return int(found), max(1, int(ttl))


def user_forget(*, user_id: str) -> int:
    """Drop every per-user submit window of ``user_id`` (an erased id leaves no key behind)."""
    return keys_delete(keys.user_rates_pattern(user_id))
