"""Leagues over the API: a player's own league, and any league of the current bucket by level and number."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard import services as engine
from leaderboard.api.validation import validated
from leaderboard_project.exceptions import Forbidden

from .. import selectors, services
from .serializers import LeagueQuerySerializer, LeagueStandingsSerializer

TAGS = ["leagues"]


def _player_id(user: Any) -> str:
    """The caller's user id; a service key is nobody's player."""
    if getattr(user, "pk", None) is None:
        raise Forbidden("Only a player has a league of their own; read a league by its level and number.")
    return str(user.get_username())


class MyLeagueView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[LeagueQuerySerializer],
        responses=LeagueStandingsSerializer,
        tags=TAGS,
        summary="My league",
        description="The caller's league in the current bucket of the board's league period: its level, number, "
        "size and how many move up and down when the bucket ends, its standings (competition ranks within the "
        "league, each with its zone) and the caller's own entry. A player joins a league with room at their level "
        "on their first submit of the bucket. 404 when the board has no leagues on this period, or the caller "
        "has no score in the bucket yet.",
    )
    def get(self, request: Request, slug: str, period: str) -> Response:
        params = validated(LeagueQuerySerializer, request.query_params)
        board = engine.board_get(slug=slug)
        found = services.league_mine(board=board, period=period, user_id=_player_id(request.user), **params)
        return Response(LeagueStandingsSerializer(found).data)


class LeagueView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[LeagueQuerySerializer],
        responses=LeagueStandingsSerializer,
        tags=TAGS,
        summary="A league's standings",
        description="League `number` (from 1) of `level` (0 is the lowest) in the current bucket of the board's "
        "league period, with zones; `me` is the caller's entry when they play in it. 404 when there is no such "
        "league.",
    )
    def get(self, request: Request, slug: str, period: str, level: int, number: int) -> Response:
        params = validated(LeagueQuerySerializer, request.query_params)
        board = engine.board_get(slug=slug)
        league_settings = selectors.league_settings_get(board=board, period=period)
        league, bucket = selectors.league_by_number(
            board=board, league_settings=league_settings, level=level, number=number
        )
        found = selectors.league_standings(
            board=board,
            league_settings=league_settings,
            league=league,
            bucket=bucket,
            user_id=str(request.user.get_username()),
            **params,
        )
        return Response(LeagueStandingsSerializer(found).data)
