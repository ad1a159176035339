"""Rate-limit windows: fixed windows counted in Redis, shared by every process and host.

The window is taken from Redis' clock (``TIME`` inside the script), not the
caller's: two hosts whose clocks disagree still count into one window, so a
limit is never doubled by skew.
"""

from __future__ import annotations

from . import keys, scripts
from .connection import keys_delete, run


def hit(*, scope: str, ident: str, window: int) -> tuple[int, int]:
    """Count one hit in the current fixed window; returns (hits so far, seconds left)."""
    hits, left = run(scripts.RATE_HIT, keys=[keys.rate(scope, ident)], args=[window, "1"])
    return int(hits), max(1, int(left))


def count(*, scope: str, ident: str, window: int) -> tuple[int, int]:
    """The hits counted in the current fixed window, without counting one; (hits, seconds left)."""
    found, left = run(scripts.RATE_HIT, keys=[keys.rate(scope, ident)], args=[window, "0"])
    return int(found), max(1, int(left))


def user_forget(*, user_id: str) -> int:
    """Drop every per-user submit window of ``user_id`` (an erased id leaves no key behind)."""
    return keys_delete(keys.user_rates_pattern(user_id))
