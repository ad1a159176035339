"""Moderation and erasure over the API: thin edges over ``leaderboard.moderation``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TypeVar

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.service_keys import KeyPrincipal
from leaderboard import moderation
from leaderboard.models import Board
from leaderboard_project.exceptions import Forbidden

from . import moderation_serializers as s
from .permissions import staff_or_key_with
from .validation import validated

TAGS = ["moderation"]
Moderator = staff_or_key_with("moderate")
_View = TypeVar("_View", bound=type[APIView])


def _scope_check(request: Request, board: Board | None) -> None:
    """A service key moderates only its boards; what spans every board needs a key for every board.

    Staff pass. A removal from one board needs ``moderate`` on that board; a
    removal from every board, a ban and an unban touch every board, so a key
    scoped to some boards may not do them.
    """
    user = request.user
    if not isinstance(user, KeyPrincipal):
        return
    allowed = user.has_right("moderate", board.slug) if board is not None else not user.boards
    if not allowed:
        raise Forbidden("This service key's boards do not cover what this would change.")


def _may_touch_staff(request: Request) -> bool:
    """Only a superuser may moderate or erase staff accounts (operators and trusted servers)."""
    return bool(getattr(request.user, "is_superuser", False))


class _ModerationView(APIView):
    """One moderation operation on the player the URL names: validate, check reach, run, answer.

    Subclasses name the input serializer and ``run`` the service; every
    operation answers the same ``ModerationResult``.
    """

    permission_classes = [Moderator]
    input_serializer: type = s.ReasonInputSerializer

    def run(self, request: Request, user_id: str, data: dict) -> moderation.ModerationResult:
        raise NotImplementedError

    def post(self, request: Request, user_id: str) -> Response:
        data = validated(self.input_serializer, request.data)
        result = self.run(request, user_id, data)
        return Response(s.ModerationResultSerializer(asdict(result)).data)


def _operation(summary: str, description: str, request: type) -> Callable[[_View], _View]:
    """The OpenAPI description of one moderation operation (every one answers a ``ModerationResult``)."""
    return extend_schema_view(
        post=extend_schema(
            request=request,
            responses=s.ModerationResultSerializer,
            tags=TAGS,
            summary=summary,
            description=description,
        )
    )


@_operation(
    "Remove a player's scores",
    "From one board (every bucket, current and ended) or every board, in PostgreSQL and Redis. The events "
    "stay, voided. A submit racing the removal lands before it (and is removed) or after it (and counts from "
    "zero).",
    s.RemoveInputSerializer,
)
class RemoveScoresView(_ModerationView):
    input_serializer = s.RemoveInputSerializer

    def run(self, request: Request, user_id: str, data: dict) -> moderation.ModerationResult:
        board = moderation.board_by_slug(data["board"]) if data["board"] else None
        _scope_check(request, board)
        return moderation.scores_remove(
            user_id=user_id,
            reason=data["reason"],
            actor=request.user.get_username(),
            board=board,
            may_touch_staff=_may_touch_staff(request),
        )


@_operation(
    "Ban a player",
    "Removes the player from every read at once; their submits are refused with 403. 409 when already banned.",
    s.ReasonInputSerializer,
)
class BanView(_ModerationView):
    def run(self, request: Request, user_id: str, data: dict) -> moderation.ModerationResult:
        _scope_check(request, None)
        return moderation.player_ban(
            user_id=user_id,
            reason=data["reason"],
            actor=request.user.get_username(),
            may_touch_staff=_may_touch_staff(request),
        )


@_operation(
    "Unban a player",
    "Rebuilds the player's standings from their non-voided events. 409 when not banned.",
    s.OptionalReasonInputSerializer,
)
class UnbanView(_ModerationView):
    input_serializer = s.OptionalReasonInputSerializer

    def run(self, request: Request, user_id: str, data: dict) -> moderation.ModerationResult:
        _scope_check(request, None)
        return moderation.player_unban(user_id=user_id, reason=data["reason"], actor=request.user.get_username())


@_operation(
    "Erase a player (GDPR)",
    "Removes the player from every board in both stores, revokes their tokens and replaces their id with a "
    "tombstone everywhere it was kept. Cannot be undone.",
    s.OptionalReasonInputSerializer,
)
class EraseView(_ModerationView):
    # Erasure cannot be undone and is no game server's business: operators (staff) only.
    permission_classes = [IsAdminUser]
    input_serializer = s.OptionalReasonInputSerializer

    def run(self, request: Request, user_id: str, data: dict) -> moderation.ModerationResult:
        return moderation.player_erase(
            user_id=user_id,
            reason=data["reason"],
            actor=request.user.get_username(),
            may_touch_staff=_may_touch_staff(request),
        )
