"""Reports: top players between two dates (JSON or CSV) and period archives."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.validation import validated
from leaderboard.services import board_get
from reports import selectors

from . import serializers as s

EXPORT = OpenApiParameter("export", str, enum=["csv"], description="csv: download the report as CSV")


class TopPlayersView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[s.TopPlayersQuerySerializer, EXPORT],
        responses={200: s.TopPlayersSerializer, (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
        tags=["reports"],
        summary="Top players between two dates",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        params = validated(s.TopPlayersQuerySerializer, request.query_params)
        report = selectors.top_players(
            board=board_get(slug=params["board"]),
            start_date=params["start_date"],
            end_date=params["end_date"],
            limit=params["limit"],
            offset=params["offset"],
        )
        if request.query_params.get("export") == "csv":
            return top_players_csv(report)
        return Response(s.TopPlayersSerializer(report).data)


def top_players_csv(report: selectors.TopPlayers) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "user_id", report.measure, "submissions"])
    for entry in report.entries:
        writer.writerow([entry["rank"], entry["user_id"], entry["score"], entry["submissions"]])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"top-players-{report.board.slug}-{report.range.start:%Y%m%d}-{report.range.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ArchivesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[s.ArchivesQuerySerializer],
        responses=s.ArchivesPageSerializer,
        tags=["reports"],
        summary="Finished periods: winners and top entries",
    )
    def get(self, request: Request) -> Response:
        params = validated(s.ArchivesQuerySerializer, request.query_params)
        board = board_get(slug=params["board"]) if params.get("board") else None
        rows = selectors.archives_list(
            board=board, period=params.get("period"), since=params.get("since"), until=params.get("until")
        )
        limit, offset = params["limit"], params["offset"]
        page = {"total": rows.count(), "limit": limit, "offset": offset, "archives": rows[offset : offset + limit]}
        return Response(s.ArchivesPageSerializer(page).data)
