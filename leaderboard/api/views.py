"""The leaderboard REST API: each action validates, calls one service or selector, serializes."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from leaderboard import selectors, services

from . import serializers as s
from .board_views import BoardWritesMixin
from .permissions import SubmitPermission, named_in_body
from .throttles import SubmitRateThrottle
from .validation import validated

USER_ID = r"(?P<user_id>[A-Za-z0-9_.@+-]{1,64})"
PERIOD = r"(?P<period>[a-z_-]+)"
_LINE_SEPARATORS = ("\u2028".encode(), "\u2029".encode())
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Same as the idempotency_key field: retries with one key count once.",
)


def render_json(payload: dict[str, Any]) -> bytes:
    """``payload`` as JSON, byte for byte what DRF's JSONRenderer writes (compact, UTF-8).

    For the hottest endpoints, whose payloads are plain dicts of strings,
    integers and two-decimal percentages: DRF's ``Response`` renders through a
    template response and the renderer, about a tenth of a top-10 request, and
    orjson encodes such a dict in a twentieth of the standard library's time.
    """
    body = orjson.dumps(payload)
    if _LINE_SEPARATORS[0] in body or _LINE_SEPARATORS[1] in body:  # as DRF does: valid JSON, not JavaScript
        body = body.replace(_LINE_SEPARATORS[0], b"\\u2028").replace(_LINE_SEPARATORS[1], b"\\u2029")
    return body


def json_response(payload: dict[str, Any], status: int = 200) -> HttpResponse:
    """A finished JSON response (``render_json``); content negotiation still runs before the
    action, and DRF still adds its headers."""
    return HttpResponse(render_json(payload), content_type="application/json", status=status)


def query(serializer_class: type[Serializer], request: Request) -> dict:
    return validated(serializer_class, request.query_params)


class BoardViewSet(BoardWritesMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Boards, their leaderboards, and score submission; managing boards (``BoardWritesMixin``)."""

    lookup_field = "slug"
    serializer_class = s.BoardSerializer
    permission_classes = [AllowAny]
    pagination_class = None

    def get_queryset(self):
        return selectors.board_list()

    def get_authenticators(self):
        # Reads are public: skip authentication work on the hottest paths.
        request = getattr(self, "request", None)  # None while the OpenAPI schema is built
        if request is not None and request.method in ("GET", "HEAD", "OPTIONS"):
            return []
        return super().get_authenticators()

    def perform_authentication(self, request: Request) -> None:
        # Reads never look at the caller: leave request.user to be resolved if ever used.
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            super().perform_authentication(request)

    def get_board(self):
        """The request's board (the throttle and the action share one copy)."""
        board = getattr(self, "_board", None)
        if board is None:
            board = self._board = services.board_get(slug=self.kwargs["slug"])
        return board

    def named_user(self, request: Request) -> object:
        """The user a submission names (SubmitPermission decides whether it may)."""
        return named_in_body(request)

    @extend_schema(responses=s.BoardDetailSerializer, tags=["boards"])
    def retrieve(self, request: Request, slug: str) -> Response:
        board = self.get_board()
        board.current = selectors.board_current_periods(board=board)
        return Response(s.BoardDetailSerializer(board).data)

    @extend_schema(tags=["boards"])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.SubmitInputSerializer,
        responses={
            201: s.SubmitResultSerializer,
            200: s.SubmitResultSerializer,
            409: OpenApiResponse(
                description="The player reached the board's submission cap for the current bucket of its period "
                '(`code` "submission_cap_reached", with `cap`, `period` and `next_bucket_start`): nothing was '
                "written. Not a 429: waiting seconds does not help, the next bucket does. Also an idempotency "
                "key reused with another value or metadata, or a board reset repeatedly during the submit."
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
        tags=["scores"],
        summary="Submit a score",
        description="Applies the board's operator in every live period. 201 when recorded, 200 when an "
        "idempotency key repeats an earlier submission (nothing counted again). 429 with Retry-After "
        "past the board's rate limits (per scored user; per IP for callers that are not trusted servers).",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="scores",
        permission_classes=[SubmitPermission],
        throttle_classes=[SubmitRateThrottle],
    )
    def submit(self, request: Request, slug: str) -> HttpResponse:
        data = validated(s.SubmitInputSerializer, request.data)
        result = services.score_submit_as(
            board=self.get_board(),
            caller=request.user,
            named=data.get("user_id"),
            value=data["value"],
            idempotency_key=data.get("idempotency_key") or request.headers.get("Idempotency-Key"),
            metadata=data.get("metadata"),
            ranks=data.get("ranks"),
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return json_response(s.submit_payload(result), status=code)

    @extend_schema(parameters=[s.PageQuerySerializer], responses=s.LeaderboardPageSerializer, tags=["leaderboards"])
    @action(detail=True, methods=["get"], url_path=f"leaderboard/{PERIOD}")
    def leaderboard(self, request: Request, slug: str, period: str) -> HttpResponse:
        board = self.get_board()
        params = query(s.PageQuerySerializer, request)
        page = selectors.leaderboard_page(
            board=board, period=services.period_check(board=board, period=period), **params
        )
        return json_response(s.page_payload(page))

    @extend_schema(parameters=[s.AroundQuerySerializer], responses=s.LeaderboardPageSerializer, tags=["leaderboards"])
    @action(detail=True, methods=["get"], url_path=f"leaderboard/{PERIOD}/around/{USER_ID}")
    def around(self, request: Request, slug: str, period: str, user_id: str) -> HttpResponse:
        board = self.get_board()
        params = query(s.AroundQuerySerializer, request)
        page = selectors.leaderboard_around(
            board=board,
            period=services.period_check(board=board, period=period),
            user_id=user_id,
            count=params["limit"],
        )
        return json_response(s.page_payload(page))

    @extend_schema(parameters=[s.MembersQuerySerializer], responses=s.MembersPageSerializer, tags=["leaderboards"])
    @action(detail=True, methods=["get"], url_path=f"leaderboard/{PERIOD}/users")
    def members(self, request: Request, slug: str, period: str) -> HttpResponse:
        board = self.get_board()
        params = query(s.MembersQuerySerializer, request)
        page = selectors.leaderboard_members(
            board=board, period=services.period_check(board=board, period=period), user_ids=params["user_ids"]
        )
        return json_response(s.members_payload(page))

    @extend_schema(responses=s.RankSerializer, tags=["leaderboards"])
    @action(detail=True, methods=["get"], url_path=f"leaderboard/{PERIOD}/rank/{USER_ID}")
    def rank(self, request: Request, slug: str, period: str, user_id: str) -> HttpResponse:
        board = self.get_board()
        info = selectors.user_rank(
            board=board, period=services.period_check(board=board, period=period), user_id=user_id
        )
        return json_response(s.rank_payload(info))

    @extend_schema(
        parameters=[s.PageQuerySerializer],
        responses=s.UserHistorySerializer,
        tags=["leaderboards"],
        summary="A player's rank history",
        description="The player's final score, rank, participants and percentile in each finished bucket of the "
        "period in which they have a standing (newest first, paged), and the current bucket's live rank. "
        "all_time has no finished buckets: only the live entry.",
    )
    @action(detail=True, methods=["get"], url_path=f"users/{USER_ID}/history/{PERIOD}")
    def history(self, request: Request, slug: str, user_id: str, period: str) -> Response:
        board = self.get_board()
        params = query(s.PageQuerySerializer, request)
        found = selectors.user_history(
            board=board, period=services.period_check(board=board, period=period), user_id=user_id, **params
        )
        return Response(s.UserHistorySerializer(found).data)

    @extend_schema(responses=s.UserStatsSerializer, tags=["leaderboards"])
    @action(detail=True, methods=["get"], url_path=f"users/{USER_ID}/stats")
    def stats(self, request: Request, slug: str, user_id: str) -> Response:
        stats = selectors.user_stats(board=self.get_board(), user_id=user_id)
        return Response(s.UserStatsSerializer(stats).data)
