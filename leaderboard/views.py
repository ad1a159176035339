"""The live leaderboard page, served by Django (no Node build step)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import selectors


@require_GET
def live_page(request: HttpRequest) -> HttpResponse:
    """Board and period selectors, the top 10 over a WebSocket, and a rank search."""
    boards = [{"slug": b.slug, "name": b.name, "periods": b.ordered_periods} for b in selectors.board_list()]
    config = {
        "boards": boards,
        "websocketUrl": settings.LIVE_WEBSOCKET_URL,
        "websocketPort": settings.LIVE_WEBSOCKET_PORT,
        "topN": settings.LEADERBOARD_LIVE_TOP_N,
    }
    return render(request, "leaderboard/live.html", {"config": config})
