"""Live updates: coalesced ``leaderboard_update`` broadcasts to WebSocket groups.

Only a change of the visible top N is broadcast, and at most once per
``LEADERBOARD_LIVE_MIN_INTERVAL_MS`` per group across every process: the first
change in a quiet group is sent at once (leading edge); changes during the
interval are folded into one trailing send, whose snapshot is read when it
fires, so the latest state is always delivered last (ARCHITECTURE 9). The
throttle lives in Redis, so several web processes and workers share it;
channels-redis carries the messages to every ASGI process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from . import metrics, redis_store, selectors
from .models import Board

logger = logging.getLogger(__name__)


def submit_committed(
    *,
    board: Board,
    ranks: dict[str, int | None],
    user_id: str = "",
    score: dict | None = None,
    all_ranks: dict[str, int | None] | None = None,
) -> None:
    """After a submit reached Redis: broadcast the watched periods whose visible top N changed.

    ``ranks`` holds only the periods somebody watches; ``user_id`` is set only
    when that user has a live subscription (``all_ranks`` feeds its rank_update).
    """
    top_n = settings.LEADERBOARD_LIVE_TOP_N
    if user_id:
        # One message for every period; each subscription picks its own.
        _send(
            redis_store.user_group_name(board.slug, user_id),
            {
                "type": "rank.update",
                "board": board.slug,
                "user_id": user_id,
                "ranks": all_ranks or ranks,
                "scores": score or {},
            },
        )
    for period, rank in ranks.items():
        # A "set" board can push a user down and out of the top N: check those always.
        if (rank is not None and rank <= top_n) or board.operator == Board.Operator.SET:
            board_changed(board=board, period=period)


def board_changed(*, board: Board, period: str) -> None:
    """The top N of a group may have changed: send now, or once the interval has passed."""
    interval = settings.LEADERBOARD_LIVE_MIN_INTERVAL_MS
    claim = uuid.uuid4().hex
    try:
        decision = redis_store.live_gate(board_slug=board.slug, period=period, interval_ms=interval, claim=claim)
    except redis_store.RedisUnavailable as exc:
        logger.warning("live update of %s %s skipped, Redis unavailable: %s", board.slug, period, exc)
        return
    if decision == 0:
        broadcast(board=board, period=period)
    elif decision > 0:
        timer = threading.Timer(
            decision / 1000, _trailing, kwargs={"board_id": board.pk, "period": period, "token": claim}
        )
        timer.daemon = True
        timer.start()


def _trailing(*, board_id: int, period: str, token: str) -> None:
    close_old_connections()
    try:
        board = Board.objects.get(pk=board_id)
        interval = settings.LEADERBOARD_LIVE_MIN_INTERVAL_MS
        if redis_store.live_gate(board_slug=board.slug, period=period, interval_ms=interval, token=token) == 0:
            broadcast(board=board, period=period)
    except Exception:  # a timer thread has nobody to report to but the log
        logger.exception("trailing live update failed")
    finally:
        close_old_connections()


def snapshot(*, board: Board, period: str) -> dict[str, object]:
    page = selectors.leaderboard_page(board=board, period=period, limit=settings.LEADERBOARD_LIVE_TOP_N)
    return {
        "board": board.slug,
        "period": period,
        "bucket": page.bucket.key,
        "total": page.total,
        "entries": [{"user_id": e.user_id, "score": e.score, "rank": e.rank} for e in page.entries],
    }


def broadcast(*, board: Board, period: str) -> None:
    state = snapshot(board=board, period=period)
    sent_at = time.time()
    # Rendered once here rather than once per subscriber in the ASGI process.
    text = json.dumps({"type": "leaderboard_update", **state, "sent_at": sent_at})
    _send(
        redis_store.group_name(board.slug, period),
        {"type": "leaderboard.update", "sent_at": sent_at, "text": text, **state},
    )
    metrics.BROADCASTS.labels(board.slug, period).inc()


def board_reset(*, board: Board, period: str) -> None:
    """A manual reset emptied a period: subscribers see it at once."""
    broadcast(board=board, period=period)


def _send(group: str, message: dict[str, object]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # live updates must never fail a committed submit
        logger.warning("live message to %s not sent: %s", group, exc)
