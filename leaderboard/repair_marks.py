"""Which buckets' Redis copies are known to be behind PostgreSQL, as every process sees them.

A bucket is marked (``BucketRepair``) when a committed write could not reach
Redis. Until the repair task rebuilds it, its Redis copy must not be served as
current: Redis may come back (from its own persistence, or after a partition)
with the data it had before the outage. Readers ask ``is_marked`` before they
read Redis; the answer comes from a per-process copy of the marks, reloaded
from PostgreSQL at most every ``LEADERBOARD_REPAIR_MARKS_SECONDS`` (1 s), and
updated at once in the process that marks. So a mark made anywhere is honoured
everywhere within that interval, at the cost of one small query per process
per interval. If PostgreSQL cannot be asked, the last known marks stand.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError

from .models import BucketRepair

logger = logging.getLogger(__name__)

_Mark = tuple[int, str, datetime]

_marks: frozenset[_Mark] = frozenset()
_fresh_until = 0.0
_reload_lock = threading.Lock()


def is_marked(*, board_id: int, period: str, bucket_start: datetime) -> bool:
    """Whether the bucket's Redis copy must not be served (a repair is pending)."""
    marks = _current()
    return (board_id, period, bucket_start) in marks if marks else False


def any_marked(*, board_id: int) -> bool:
    """Whether any bucket of the board is marked (its cached user details may be behind too)."""
    return any(mark[0] == board_id for mark in _current())


def _current() -> frozenset[_Mark]:
    if time.monotonic() >= _fresh_until:
        _reload()
    return _marks


def note(*, board_id: int, period: str, bucket_start: datetime) -> None:
    """This process just marked a bucket: honour it here before the next reload."""
    global _marks
    _marks = _marks | {(board_id, period, bucket_start)}


def forget_all() -> None:
    """Drop the copy (tests, and after a repair in this process): the next call reloads."""
    global _fresh_until
    _fresh_until = 0.0


def _reload() -> None:
    global _marks, _fresh_until
    if not _reload_lock.acquire(blocking=False):
        return  # another thread is reloading: use the copy we have
    try:
        try:
            rows = BucketRepair.objects.values_list("board_id", "period", "bucket_start")
            _marks = frozenset((b, p, s) for b, p, s in rows)
            _fresh_until = time.monotonic() + settings.LEADERBOARD_REPAIR_MARKS_SECONDS
        except DatabaseError as exc:
            # PostgreSQL unreachable: keep what we knew, try again a little later.
            logger.warning("repair marks not reloaded: %s", exc)
            _fresh_until = time.monotonic() + 5 * settings.LEADERBOARD_REPAIR_MARKS_SECONDS
    finally:
        _reload_lock.release()
