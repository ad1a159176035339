"""WebSocket consumers: join a board's period group, forward its events.

``/ws/boards/<slug>/<period>/`` sends the current top N as ``leaderboard_update``
on connect and again whenever it changes. A client that authenticates (a JWT
in ``?token=`` or a first message ``{"type": "auth", "token": ...}``) also gets
``rank_update`` events for its own rank. Seed 002's ``/ws/leaderboard/`` is the
same consumer with another payload shape (``seeds.consumers``).

Close codes: 4404 unknown board or period, 4401 invalid token.

A board's period group can have thousands of subscribers in one process, so it
is joined once per process (``GroupFanout``) rather than once per socket: each
broadcast is received and decoded once, then handed to every local socket's
writer, which always sends the latest state it holds. A slow client therefore
skips states it had no time for and never holds up the others (nor piles up
memory). A user's own group (``rank_update``) is joined per socket, the
Channels way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import BaseChannelLayer
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from leaderboard_project.exceptions import ServiceError

from . import broadcasts, metrics, selectors, services
from .models import Board
from .store import keys, live
from .store.connection import RedisUnavailable

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404
CLOSE_BAD_TOKEN = 4401
# A broadcast arriving this soon after a snapshot may have been read before it.
RECHECK_SECONDS = 0.5


@database_sync_to_async
def _resolve(slug: str, period: str):
    board = services.board_get(slug=slug)
    return board, services.period_check(board=board, period=period)


def _read_snapshot(board, period: str) -> dict[str, Any]:
    return broadcasts.snapshot(board=board, period=period)


# Not thread-sensitive: many connects (or re-reads) at once must not queue behind one thread.
_snapshot = database_sync_to_async(_read_snapshot, thread_sensitive=False)


@database_sync_to_async
def _rank(board, period: str, user_id: str) -> dict[str, Any]:
    info = selectors.user_rank(board=board, period=period, user_id=user_id)
    # On boards with tiers, the tier too (null when unranked), as every later rank_update.
    tier = {"tier": info.tier} if any(name == "tier" for name, _ in info.extras) else {}
    return {"rank": info.rank, "score": info.score, "total": info.total, **tier}


def _count_watcher(slug: str, period: str, user_id: str, delta: int) -> None:
    """Tell submits that somebody watches (so they broadcast only then)."""
    try:
        if user_id:
            live.watch_user(board_slug=slug, user_id=user_id, delta=delta)
        else:
            live.watch(board_slug=slug, period=period, delta=delta)
    except RedisUnavailable:
        pass  # updates then simply stop until Redis is back


_watch = database_sync_to_async(_count_watcher, thread_sensitive=False)


@database_sync_to_async
def _user_from_token(raw: str) -> str:
    token = AccessToken(raw)  # type: ignore[arg-type]  # simplejwt annotates the encoded token as Token
    user = get_user_model().objects.filter(pk=token[api_settings.USER_ID_CLAIM], is_active=True).first()
    if user is None:
        raise TokenError("unknown user")
    return user.get_username()


class GroupFanout:
    """One channel-layer subscription to a group for all of this event loop's sockets.

    The first socket to join starts it, the last to leave stops it. Members get
    each message through ``offer``, which must not block.
    """

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, GroupFanout]] = weakref.WeakKeyDictionary()

    def __init__(self, layer: BaseChannelLayer, group: str) -> None:
        self.layer = layer
        self.group = group
        self.members: set[LeaderboardConsumer] = set()
        self.subscribed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._pump())

    @classmethod
    async def join(cls, layer: BaseChannelLayer, group: str, member: LeaderboardConsumer) -> None:
        """Add a member; returns once the group's messages reach this process."""
        groups = cls._by_loop.setdefault(asyncio.get_running_loop(), {})
        fanout = groups.get(group)
        if fanout is None:
            fanout = groups[group] = cls(layer, group)
        fanout.members.add(member)
        await fanout.subscribed.wait()

    @classmethod
    def leave(cls, group: str, member: LeaderboardConsumer) -> None:
        groups = cls._by_loop.get(asyncio.get_running_loop(), {})
        fanout = groups.get(group)
        if fanout is None:
            return
        fanout.members.discard(member)
        if not fanout.members:
            del groups[group]
            fanout.task.cancel()

    async def _pump(self) -> None:
        while True:
            channel = ""
            try:
                channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, channel)
                self.subscribed.set()
                while True:
                    self.deliver(await self.layer.receive(channel))
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer lost Redis: subscribe again; sockets keep their last state
                logger.exception("live group %s: receiving failed, subscribing again", self.group)
                await asyncio.sleep(1)
            finally:
                if channel:
                    with contextlib.suppress(Exception):  # the layer also expires memberships
                        await asyncio.shield(self.layer.group_discard(self.group, channel))

    def deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "leaderboard.update":
            return
        metrics.BROADCAST_LAG.observe(max(0.0, time.time() - message["sent_at"]))
        for member in tuple(self.members):
            member.offer(message)


class LeaderboardConsumer(AsyncJsonWebsocketConsumer):
    shape = broadcasts.NATIVE  # which rendering of leaderboard_update this route sends
    board: Board | None = None  # None on a socket refused at connect (closing with 4404)
    period = ""
    group = ""
    user_id = ""
    user_group = ""
    latest: str | None = None  # the newest state not yet written to the socket
    recheck_until = 0.0
    writer: asyncio.Task | None = None

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.board, self.period = await _resolve(kwargs["slug"], kwargs["period"])
        except ServiceError:
            # Accepted first: a close before the accept is an HTTP 403 at the handshake,
            # and the client would never see the close code.
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = keys.group(self.board.slug, self.period)
        self.wake = asyncio.Event()
        # Subscribed before the snapshot is read, so no change falls between the two.
        await GroupFanout.join(self.channel_layer, self.group, self)
        await _watch(self.board.slug, self.period, "", 1)
        await self.accept()
        metrics.WS_CONNECTIONS.inc()
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if token and not await self.authenticate(token):
            return
        await self.send_snapshot()
        self.recheck_until = time.monotonic() + RECHECK_SECONDS
        self.writer = asyncio.get_running_loop().create_task(self.write_latest())

    async def disconnect(self, code: int) -> None:
        if self.board is None:
            return  # refused at connect: nothing was joined or counted
        if self.group:
            GroupFanout.leave(self.group, self)
            if self.writer is not None:
                self.writer.cancel()
            await _watch(self.board.slug, self.period, "", -1)
            metrics.WS_CONNECTIONS.dec()
        if self.user_group:
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
            await _watch(self.board.slug, "", self.user_id, -1)

    async def authenticate(self, token: str) -> bool:
        """Subscribe this socket to the token's user's rank updates (instead of a previous user's).

        A user's watcher count goes up once per socket subscribed for it and down
        once when that socket leaves it, so it is never left too high or negative.
        """
        board = self.board
        if board is None:
            return False  # refused at connect and closing
        try:
            user_id = await _user_from_token(token)
        except (TokenError, KeyError):
            await self.send_json({"type": "error", "detail": "Invalid or expired token."})
            await self.close(code=CLOSE_BAD_TOKEN)
            return False
        if self.user_group:  # authenticated again on the same socket: leave the previous user first
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
            await _watch(board.slug, "", self.user_id, -1)
        self.user_id = user_id
        self.user_group = keys.user_group(board.slug, self.user_id)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await _watch(board.slug, "", self.user_id, 1)
        await self.send_json(
            {
                "type": "rank_update",
                "board": board.slug,
                "period": self.period,
                "user_id": self.user_id,
                **await _rank(board, self.period, self.user_id),
            }
        )
        return True

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.board is None:
            return  # refused at connect (4404): what the client still sends before the close is ignored
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "auth" and isinstance(content.get("token"), str):
            await self.authenticate(content["token"])
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "detail": 'Send {"type": "auth", "token": ...} or {"type": "ping"}.'}
            )

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Call the handler without Channels' per-message ``aclose_old_connections``.

        That is a hop through the one thread-sensitive executor for every message:
        with 1,000 subscribers one broadcast queued 1,000 hops and took seconds to
        deliver. No handler here touches the ORM directly; every query runs in a
        ``database_sync_to_async`` helper, which closes stale connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # The board's group, through GroupFanout.

    def offer(self, message: dict[str, Any]) -> None:
        """A new top N for this socket: keep only the latest, the writer sends it."""
        self.latest = message["texts"][self.shape]
        self.wake.set()

    async def write_latest(self) -> None:
        """This socket's writer: waits for states and sends the newest, one at a time."""
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                text, self.latest = self.latest, None
                if time.monotonic() < self.recheck_until:
                    # Read before our snapshot but published after it, this state could be older
                    # than the one the client has: read the current state instead, once.
                    self.recheck_until = 0.0
                    await self.send_snapshot()
                elif text is not None:
                    await self.send(text_data=text)
        except OSError:  # the client went away; disconnect() cleans up
            return

    async def send_snapshot(self) -> None:
        state = await _snapshot(self.board, self.period)
        await self.send(text_data=broadcasts.render(state)[self.shape])

    # Handlers, named after the event types sent to this socket's own channel.

    async def rank_update(self, event: dict[str, Any]) -> None:
        rank = event["ranks"].get(self.period)
        if rank is not None:
            await self.send_json(
                {
                    "type": "rank_update",
                    "board": event["board"],
                    "period": self.period,
                    "user_id": event["user_id"],
                    "rank": rank,
                    "score": event["scores"].get(self.period),
                    # On boards with tiers (``broadcasts.submit_mirrored``), the player's tier.
                    **({"tier": event["tiers"].get(self.period)} if "tiers" in event else {}),
                }
            )
