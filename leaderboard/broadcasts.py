"""Live updates: coalesced ``leaderboard_update`` broadcasts to WebSocket groups.

Only a change of the visible top N is broadcast, and at most once per
``LEADERBOARD_LIVE_MIN_INTERVAL_MS`` per group across every process: the first
change in a quiet group is sent at once (leading edge); changes during the
interval are folded into one trailing send, whose snapshot is read when it
fires, so the latest state is always delivered last (ARCHITECTURE 9).

The throttle lives in Redis (``store.live.gate``), so several web
processes and Celery workers share it; sends of one group never overlap, so
they cannot arrive out of order; a snapshot equal to the last one sent is not
sent again. channels-redis carries the messages to every ASGI process, where
each is fanned out to that process's subscribers. Every payload is rendered
to JSON text once here, not once per subscriber.

A process that dies while it owns a pending trailing send loses it; the mark
expires after four intervals and the next change sends again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connections
from django.dispatch import receiver

from . import metrics, operators, selectors, signals, tiers
from .models import Board
from .store import keys, live
from .store.connection import RedisUnavailable

logger = logging.getLogger(__name__)

# Payload shapes a subscription can ask for: ours, and seed 002's.
NATIVE = "native"
SEED002 = "seed002"


@receiver(signals.submit_mirrored, dispatch_uid="broadcasts.submit_mirrored")
def submit_mirrored(
    sender: object,
    *,
    board: Board,
    ranks: dict[str, int | None],
    user_id: str = "",
    scores: dict | None = None,
    all_ranks: dict[str, int | None] | None = None,
    totals: dict[str, int] | None = None,
    **_: Any,
) -> None:
    """After a submit reached Redis: broadcast the watched periods whose visible top N may have changed.

    ``ranks`` holds only the periods somebody watches; ``user_id`` is set only
    when that user has a live subscription (``all_ranks`` feeds its rank_update).
    """
    if user_id:
        # One message for every period; each subscription picks its own.
        message: dict[str, object] = {
            "type": "rank.update",
            "board": board.slug,
            "user_id": user_id,
            "ranks": all_ranks or ranks,
            "scores": scores or {},
        }
        board_tiers = tiers.board_tiers(board)
        if board_tiers is not None:
            # The tier of each period's new rank among that bucket's entries (``totals``, from the same write).
            message["tiers"] = {
                period: board_tiers.tier_of(score=(scores or {})[period], rank=rank, total=(totals or {})[period])
                for period, rank in (all_ranks or ranks).items()
                if rank is not None and period in (totals or {})
            }
        _send(keys.user_group(board.slug, user_id), message)
    top_n = settings.LEADERBOARD_LIVE_TOP_N
    worsens = operators.can_worsen(board)
    for period, rank in ranks.items():
        # A better score changes the top N only if it lands there. A worse one may push the
        # user out of it (rank > N now, but was inside): check those after every submit.
        if (rank is not None and rank <= top_n) or worsens:
            board_changed(board=board, period=period)


def board_changed(*, board: Board, period: str) -> None:
    """The top N of a group may have changed: send now, or once the interval has passed."""
    claim = uuid.uuid4().hex
    try:
        decision = live.gate(
            board_slug=board.slug, period=period, interval_ms=settings.LEADERBOARD_LIVE_MIN_INTERVAL_MS, claim=claim
        )
    except RedisUnavailable as exc:
        logger.warning("live update of %s %s skipped, Redis unavailable: %s", board.slug, period, exc)
        return
    if decision == 0:
        _send_owned(board=board, period=period, token=claim)
    elif decision > 0:
        _schedule(board_id=board.pk, period=period, token=claim, delay_ms=decision)


@receiver(signals.standings_changed, dispatch_uid="broadcasts.standings_changed")
def standings_changed(sender: object, *, board: Board, period: str, **_: Any) -> None:
    """A reset or a moderation changed a period: subscribers see it (through the throttle, like any change)."""
    board_changed(board=board, period=period)


def _schedule(*, board_id: int, period: str, token: str, delay_ms: int) -> None:
    timer = threading.Timer(delay_ms / 1000, _trailing, kwargs={"board_id": board_id, "period": period, "token": token})
    timer.daemon = True
    timer.start()


def _trailing(*, board_id: int, period: str, token: str) -> None:
    """The trailing send, in a timer thread: reads the state when it fires, so it is the latest."""
    close_old_connections()
    try:
        board = Board.objects.get(pk=board_id)
        decision = live.gate(
            board_slug=board.slug, period=period, interval_ms=settings.LEADERBOARD_LIVE_MIN_INTERVAL_MS, token=token
        )
        if decision == 0:
            _send_owned(board=board, period=period, token=token)
        elif decision > 0:  # the previous send is still going out
            _schedule(board_id=board_id, period=period, token=token, delay_ms=decision)
    except Exception:  # a timer thread has nobody to report to but the log
        logger.exception("trailing live update of board %s %s failed", board_id, period)
    finally:
        # This thread ends here: its connection must not wait for the garbage collector
        # (persistent connections under WSGI would otherwise pile up, one per timer).
        connections.close_all()


def _send_owned(*, board: Board, period: str, token: str) -> None:
    """Send while owning the group's in-progress mark, then release it."""
    try:
        broadcast(board=board, period=period)
    finally:
        with contextlib.suppress(RedisUnavailable):  # the mark expires by itself
            live.release(board_slug=board.slug, period=period, token=token)


def snapshot(*, board: Board, period: str) -> dict[str, Any]:
    """The visible top N of a period (Redis first, PostgreSQL when Redis cannot answer)."""
    page = selectors.leaderboard_page(board=board, period=period, limit=settings.LEADERBOARD_LIVE_TOP_N)
    return {
        "board": board.slug,
        "period": period,
        "bucket": page.bucket.label,
        "total": page.total,
        "entries": [e.as_dict() for e in page.entries],
    }


def render(state: dict[str, Any], *, sent_at: float | None = None) -> dict[str, str]:
    """The JSON text of a top-N state in every payload shape."""
    return {
        NATIVE: json.dumps({"type": "leaderboard_update", **state, "sent_at": sent_at}),
        # Seed 002's clients: {"event": ..., "data": {"leaderboard": [{"userId", "score"}]}}.
        SEED002: json.dumps(
            {
                "event": "leaderboard_update",
                "data": {"leaderboard": [{"userId": e["user_id"], "score": e["score"]} for e in state["entries"]]},
            }
        ),
    }


def broadcast(*, board: Board, period: str) -> bool:
    """Send the current top N to the group unless it equals the last one sent; True if sent."""
    state = snapshot(board=board, period=period)
    digest = hashlib.blake2s(json.dumps([state["bucket"], state["entries"]]).encode(), digest_size=12).hexdigest()
    try:
        if not live.digest_swap(board_slug=board.slug, period=period, digest=digest):
            return False
    except RedisUnavailable:
        pass  # better a repeated state than a lost one
    sent_at = time.time()
    # Only rendered text crosses the channel layer: each ASGI process decodes a
    # message once per subscriber, and a few strings decode far faster than the entries.
    _send(
        keys.group(board.slug, period),
        {"type": "leaderboard.update", "sent_at": sent_at, "texts": render(state, sent_at=sent_at)},
    )
    metrics.BROADCASTS.labels(board.slug, period).inc()
    return True


_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for channel-layer sends from sync code, in a daemon thread.

    ``async_to_sync`` would start a loop per send, and channels-redis opens a
    connection per loop: about 2 ms a send instead of 0.2 ms. Rebuilt after a fork.
    """
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-publisher", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]


def _send(group: str, message: dict[str, object]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _publisher_loop()).result(timeout=5)
    except Exception as exc:  # live updates must never fail a committed submit
        logger.warning("live message to %s not sent: %s", group, exc)
