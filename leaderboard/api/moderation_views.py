"""Moderation and erasure over the API: thin edges over ``leaderboard.moderation``."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard import moderation
from leaderboard.models import Board
from leaderboard_project.exceptions import Forbidden

from . import moderation_serializers as s
from .permissions import staff_or_key_with

TAGS = ["moderation"]
Moderator = staff_or_key_with("moderate")


def _validated(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _scope_check(request: Request, board: Board | None) -> None:
    """A service key moderates only its boards; what spans every board needs a key for every board.

    Staff pass. A removal from one board needs ``moderate`` on that board; a
    removal from every board, a ban and an unban touch every board, so a key
    scoped to some boards may not do them.
    """
    user = request.user
    if not getattr(user, "is_service_key", False):
        return
    allowed = user.has_right("moderate", board.slug) if board is not None else not user.boards
    if not allowed:
        raise Forbidden("This service key's boards do not cover what this would change.")


def _may_touch_staff(request: Request) -> bool:
    """Only a superuser may moderate or erase staff accounts (operators and trusted servers)."""
    return bool(getattr(request.user, "is_superuser", False))


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
        _scope_check(request, board)
        actor = request.user.get_username()
        return _done(
            moderation.scores_remove(
                user_id=user_id,
                reason=data["reason"],
                actor=actor,
                board=board,
                may_touch_staff=_may_touch_staff(request),
            )
        )


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
        _scope_check(request, None)
        actor = request.user.get_username()
        return _done(
            moderation.player_ban(
                user_id=user_id, reason=data["reason"], actor=actor, may_touch_staff=_may_touch_staff(request)
            )
        )


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
        _scope_check(request, None)
        return _done(moderation.player_unban(user_id=user_id, reason=data["reason"], actor=request.user.get_username()))


class EraseView(APIView):
    # Erasure cannot be undone and is no game server's business: operators (staff) only.
    permission_classes = [IsAdminUser]

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
        actor = request.user.get_username()
        return _done(
            moderation.player_erase(
                user_id=user_id, reason=data["reason"], actor=actor, may_touch_staff=_may_touch_staff(request)
            )
        )
