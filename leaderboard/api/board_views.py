"""Managing boards over the API: staff, and service keys with the ``manage_boards`` right.

The writes share ``/api/v1/boards`` and ``/api/v1/boards/{slug}`` with the public
reads (``BoardViewSet`` mixes ``BoardWritesMixin`` in): GET stays public and
unauthenticated; POST, PUT, PATCH and DELETE authenticate and need the right.
A key scoped to some boards manages only those. Each action validates, calls
one service in ``leaderboard.boards``, and serializes.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from leaderboard import boards, services
from leaderboard_project.exceptions import Forbidden

from . import board_serializers as bs
from .permissions import staff_or_key_with
from .validation import validated

MANAGE = "manage_boards"
ManageBoards = staff_or_key_with(MANAGE)
PERIOD = r"(?P<period>[a-z_-]+)"
TAGS = ["boards: management"]
# The actions of BoardViewSet that change boards; its reads stay public.
WRITE_ACTIONS = frozenset({"create", "update", "partial_update", "destroy"})


def scope_check(caller: Any, slug: str) -> None:
    """Refuse a key scoped to other boards (the permission saw no slug in a POST's URL)."""
    has_right = getattr(caller, "has_right", None)
    if has_right is not None and not caller.is_staff and not has_right(MANAGE, slug):
        raise Forbidden(f"This key may not manage board {slug!r}.")


class BoardWritesMixin(viewsets.GenericViewSet):
    """Create, create-or-get, update, deactivate and reset, for ``BoardViewSet``.

    A ``GenericViewSet`` itself, so ``action`` and ``super().get_permissions()`` are the
    viewset's; ``BoardViewSet`` lists it first, and its method order is unchanged.
    """

    def get_permissions(self):
        if self.action in WRITE_ACTIONS:
            return [ManageBoards()]
        return super().get_permissions()

    @extend_schema(
        request=bs.BoardCreateSerializer,
        responses={201: bs.BoardDefinitionSerializer},
        tags=TAGS,
        summary="Create a board",
        description="Validated as in the admin (a slug in use is a 400 on `slug`). Staff or `manage_boards`.",
    )
    def create(self, request: Request) -> Response:
        data = validated(bs.BoardCreateSerializer, request.data)
        slug = data.pop("slug")
        scope_check(request.user, slug)
        board = boards.board_create(slug=slug, fields=data)
        return Response(bs.BoardDefinitionSerializer(board).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=bs.BoardWriteSerializer,
        responses={
            201: bs.BoardDefinitionSerializer,
            200: bs.BoardDefinitionSerializer,
            409: OpenApiResponse(description="The board exists with another value for a field the body names."),
        },
        tags=TAGS,
        summary="Create a board, or get it if it exists with this definition",
        description="Idempotent create-or-get (per-level boards from a deploy script): 201 when created, 200 when "
        "the board exists and every field the body names matches (an omitted `is_active` means true), 409 naming "
        "the fields that differ otherwise. PUT never changes an existing board: PATCH does. Staff or `manage_boards`.",
    )
    def update(self, request: Request, slug: str) -> Response:
        board, created = boards.board_put(
            slug=slug, fields=validated(bs.BoardWriteSerializer, request.data, partial=True)
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(bs.BoardDefinitionSerializer(board).data, status=code)

    @extend_schema(
        request=bs.BoardWriteSerializer,
        responses={200: bs.BoardDefinitionSerializer},
        tags=TAGS,
        summary="Change a board",
        description="Validated as in the admin. A board holding standings keeps its time zone, operator, sort "
        "order and the periods that hold them (400 with the reason). `is_active: true` reactivates a "
        "deactivated board. Staff or `manage_boards`.",
    )
    def partial_update(self, request: Request, slug: str) -> Response:
        fields = validated(bs.BoardWriteSerializer, request.data, partial=True)
        board = boards.board_update(board=boards.board_for_write(slug=slug), fields=fields)
        return Response(bs.BoardDefinitionSerializer(board).data)

    @extend_schema(
        request=None,
        responses={204: None},
        tags=TAGS,
        summary="Deactivate a board",
        description="Reads and submits answer 404 afterwards; its scores, events and archives stay. Idempotent. "
        "Staff or `manage_boards`.",
    )
    def destroy(self, request: Request, slug: str) -> Response:
        boards.board_deactivate(board=boards.board_for_write(slug=slug))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: bs.ArchiveSummarySerializer},
        tags=TAGS,
        summary="Reset a period of a board",
        description="Archives the current bucket (its winners and top entries) and restarts the period at zero, "
        "atomically with respect to concurrent submits. Staff or `manage_boards`.",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=f"leaderboard/{PERIOD}/reset",
        permission_classes=[ManageBoards],
    )
    def reset(self, request: Request, slug: str, period: str) -> Response:
        archive = boards.board_period_reset(
            board=services.board_get(slug=slug), period=period, triggered_by=request.user.get_username()
        )
        return Response(bs.ArchiveSummarySerializer(archive).data)


class BoardManageListView(ListAPIView):
    """Every board with every setting, deactivated ones included (a scoped key sees its own)."""

    permission_classes = [ManageBoards]
    serializer_class = bs.BoardDefinitionSerializer
    pagination_class = None

    def get_queryset(self):
        caller = self.request.user
        scoped = getattr(caller, "boards", None) if getattr(caller, "has_right", None) else None
        return boards.board_definitions(slugs=scoped or None)

    @extend_schema(tags=TAGS, summary="List boards, deactivated ones included")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
