"""WebSocket consumers: join a board's period group, forward its events.

``/ws/boards/<slug>/<period>/`` sends the current top N as ``leaderboard_update``
on connect and again whenever it changes. A client that authenticates (a JWT
in ``?token=`` or a first message ``{"type": "auth", "token": ...}``) also gets
``rank_update`` events for its own rank. ``/ws/leaderboard/`` serves seed 002's
clients: the ``score`` board's all-time top 10 as
``{"event": "leaderboard_update", "data": {"leaderboard": [{"userId", "score"}]}}``.

Close codes: 4404 unknown board or period, 4401 invalid token.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from leaderboard_project.exceptions import ServiceError

from . import broadcasts, metrics, redis_store, selectors, services

CLOSE_NOT_FOUND = 4404
CLOSE_BAD_TOKEN = 4401


@database_sync_to_async
def _resolve(slug: str, period: str):
    board = services.board_get(slug=slug)
    return board, services.period_check(board=board, period=period)


@database_sync_to_async
def _snapshot(board, period: str) -> dict[str, Any]:
    return broadcasts.snapshot(board=board, period=period)


@database_sync_to_async
def _rank(board, period: str, user_id: str) -> dict[str, Any]:
    info = selectors.user_rank(board=board, period=period, user_id=user_id)
    return {"rank": info.rank, "score": info.score, "total": info.total}


@database_sync_to_async
def _watch(slug: str, period: str, user_id: str, delta: int) -> None:
    """Tell submits that somebody watches (so they broadcast only then)."""
    try:
        if user_id:
            redis_store.live_watch_user(board_slug=slug, user_id=user_id, delta=delta)
        else:
            redis_store.live_watch(board_slug=slug, period=period, delta=delta)
    except redis_store.RedisUnavailable:
        pass  # updates then simply stop until Redis is back


@database_sync_to_async
def _user_from_token(raw: str) -> str:
    from django.contrib.auth import get_user_model

    token = AccessToken(raw)
    user = get_user_model().objects.filter(pk=token[api_settings.USER_ID_CLAIM], is_active=True).first()
    if user is None:
        raise TokenError("unknown user")
    return user.get_username()


class LeaderboardConsumer(AsyncJsonWebsocketConsumer):
    board = None
    period = ""
    group = ""
    user_id = ""
    user_group = ""

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.board, self.period = await _resolve(kwargs.get("slug", "score"), kwargs.get("period", "all_time"))
        except ServiceError:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = redis_store.group_name(self.board.slug, self.period)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await _watch(self.board.slug, self.period, "", 1)
        await self.accept()
        metrics.WS_CONNECTIONS.inc()
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if token and not await self.authenticate(token):
            return
        await self.send_update(await _snapshot(self.board, self.period))

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await _watch(self.board.slug, self.period, "", -1)
            metrics.WS_CONNECTIONS.dec()
        if self.user_group:
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
            await _watch(self.board.slug, "", self.user_id, -1)

    async def authenticate(self, token: str) -> bool:
        try:
            self.user_id = await _user_from_token(token)
        except (TokenError, KeyError):
            await self.send_json({"type": "error", "detail": "Invalid or expired token."})
            await self.close(code=CLOSE_BAD_TOKEN)
            return False
        if self.user_group:  # authenticated again on the same socket
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
            await _watch(self.board.slug, "", self.user_id, -1)
        self.user_group = redis_store.user_group_name(self.board.slug, self.user_id)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await _watch(self.board.slug, "", self.user_id, 1)
        await self.send_json(
            {
                "type": "rank_update",
                "board": self.board.slug,
                "period": self.period,
                "user_id": self.user_id,
                **await _rank(self.board, self.period, self.user_id),
            }
        )
        return True

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "auth" and isinstance(content.get("token"), str):
            await self.authenticate(content["token"])
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "detail": 'Send {"type": "auth", "token": ...} or {"type": "ping"}.'}
            )

    # Handlers, named after the event types sent to the groups.

    async def leaderboard_update(self, event: dict[str, Any]) -> None:
        if "sent_at" in event:
            metrics.BROADCAST_LAG.observe(max(0.0, time.time() - event["sent_at"]))
        if "text" in event and type(self).send_update is LeaderboardConsumer.send_update:
            await self.send(text_data=event["text"])  # rendered once by the broadcaster
            return
        await self.send_update(event)

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
                }
            )

    async def send_update(self, state: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "leaderboard_update",
                "board": state["board"],
                "period": state["period"],
                "bucket": state["bucket"],
                "total": state["total"],
                "entries": state["entries"],
                "sent_at": state.get("sent_at"),
            }
        )


class Seed002Consumer(LeaderboardConsumer):
    """Seed 002's clients: the score board's all-time top 10 in its own payload shape."""

    async def send_update(self, state: dict[str, Any]) -> None:
        await self.send_json(
            {
                "event": "leaderboard_update",
                "data": {"leaderboard": [{"userId": e["user_id"], "score": e["score"]} for e in state["entries"]]},
            }
        )
