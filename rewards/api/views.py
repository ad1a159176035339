"""A board's webhook endpoints over the API: staff, or service keys with ``manage_boards`` on the board."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard import boards
from leaderboard.api.permissions import staff_or_key_with
from rewards import services

from .serializers import WebhookEndpointSerializer

ManageBoards = staff_or_key_with("manage_boards")
TAGS = ["boards: webhooks"]


class BoardWebhooksView(APIView):
    permission_classes = [ManageBoards]

    @extend_schema(
        responses=WebhookEndpointSerializer(many=True),
        tags=TAGS,
        summary="A board's webhook endpoints",
        description="Each receives `bucket.finalised` when a bucket of the board is archived (rollover or reset), "
        "signed with its secret. Staff or `manage_boards`.",
    )
    def get(self, request: Request, slug: str) -> Response:
        board = boards.board_for_write(slug=slug)
        return Response(WebhookEndpointSerializer(services.endpoints_list(board=board), many=True).data)

    @extend_schema(
        request=WebhookEndpointSerializer,
        responses={201: WebhookEndpointSerializer},
        tags=TAGS,
        summary="Add a webhook endpoint to a board",
        description="An http(s) URL; private and loopback addresses are refused. The answer carries the "
        "generated signing secret. Staff or `manage_boards`.",
    )
    def post(self, request: Request, slug: str) -> Response:
        board = boards.board_for_write(slug=slug)
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save(board=board)
        return Response(WebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class BoardWebhookDetailView(APIView):
    permission_classes = [ManageBoards]

    @extend_schema(
        request=None,
        responses={204: None},
        tags=TAGS,
        summary="Remove a webhook endpoint",
        description="Its delivery log goes with it. Staff or `manage_boards`.",
    )
    def delete(self, request: Request, slug: str, webhook_id: int) -> Response:
        services.endpoint_delete(board=boards.board_for_write(slug=slug), endpoint_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
