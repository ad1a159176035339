"""Moderation and erasure over the API: thin edges over ``leaderboard.moderation``."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard import moderation

from . import moderation_serializers as s
from .permissions import staff_or_key_with

TAGS = ["moderation"]
Moderator = staff_or_key_with("moderate")


def _validated(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _done(result: moderation.ModerationResult) -> Response:
    return Response(s.ModerationResultSerializer(asdict(result)).data)


class RemoveScoresView(APIView):
    permission_classes = [Moderator]

    @extend_schema(
        request=s.RemoveInputSerializer,
        responses=s.ModerationResultSerializer,
        tags=TAGS,
        summary="Remove a player's scores",
        description="From one board (every bucket, current and ended) or every board, in PostgreSQL and Redis. "
        "The events stay, voided. A submit racing the removal lands before it (and is removed) or after it "
        "(and counts from zero).",
    )
    def post(self, request: Request, user_id: str) -> Response:
        data = _validated(s.RemoveInputSerializer, request)
        board = moderation.board_by_slug(data["board"]) if data["board"] else None
        actor = request.user.get_username()
        return _done(moderation.scores_remove(user_id=user_id, reason=data["reason"], actor=actor, board=board))


class BanView(APIView):
    permission_classes = [Moderator]

    @extend_schema(
        request=s.ReasonInputSerializer,
        responses=s.ModerationResultSerializer,
        tags=TAGS,
        summary="Ban a player",
        description="Removes the player from every read at once; their submits are refused with 403. "
        "409 when already banned.",
    )
    def post(self, request: Request, user_id: str) -> Response:
        data = _validated(s.ReasonInputSerializer, request)
        return _done(moderation.player_ban(user_id=user_id, reason=data["reason"], actor=request.user.get_username()))


class UnbanView(APIView):
    permission_classes = [Moderator]

    @extend_schema(
        request=s.OptionalReasonInputSerializer,
        responses=s.ModerationResultSerializer,
        tags=TAGS,
        summary="Unban a player",
        description="Rebuilds the player's standings from their non-voided events. 409 when not banned.",
    )
    def post(self, request: Request, user_id: str) -> Response:
        data = _validated(s.OptionalReasonInputSerializer, request)
        return _done(moderation.player_unban(user_id=user_id, reason=data["reason"], actor=request.user.get_username()))


class EraseView(APIView):
    permission_classes = [Moderator]

    @extend_schema(
        request=s.OptionalReasonInputSerializer,
        responses=s.ModerationResultSerializer,
        tags=TAGS,
        summary="Erase a player (GDPR)",
        description="Removes the player from every board in both stores, revokes their tokens and replaces "
        "their id with a tombstone everywhere it was kept. Cannot be undone.",
    )
    def post(self, request: Request, user_id: str) -> Response:
        data = _validated(s.OptionalReasonInputSerializer, request)
        return _done(moderation.player_erase(user_id=user_id, reason=data["reason"], actor=request.user.get_username()))
