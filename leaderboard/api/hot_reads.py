"""The two hottest reads, served without DRF's per-request machinery: render once, serve many.

A leaderboard is read far more often than it changes, and its top changes a few
times a second at most, so:

- **Top pages** (``GET /api/v1/boards/<slug>/leaderboard/<period>``, any ``limit`` and
  ``offset``) are rendered to finished JSON once and served as those bytes for
  ``LEADERBOARD_READ_CACHE_SECONDS`` in each process, with an ``ETag`` (a hash of
  the bytes: it changes exactly when the content does), ``Cache-Control`` that lets
  a proxy or CDN keep them for the same interval, and ``304 Not Modified`` on a
  matching ``If-None-Match``. A page is never staler than the interval; in the
  process that writes (a submit, a reset, a moderation) it is dropped at once.
- **A player's rank** (``.../leaderboard/<period>/rank/<user_id>``) is one Redis
  round trip (``selectors.user_rank``: rank, score and total in one script; the
  percentile follows from them), answered without DRF's dispatch.

The bytes are exactly those of the DRF actions (``views.BoardViewSet.leaderboard``
and ``.rank``), which share the selectors and payload builders; a test compares
them. Anything other than the plain request (another method, an ``Accept`` that is
not JSON, other query parameters, a value the serializers would refuse) goes to the
DRF action, which answers it as always; an error (an unknown board or period, the stores
unreachable) is answered by the API's exception handler, as the action's would be.
"""

from __future__ import annotations

import functools
import math
import time
from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework.fields import IntegerField
from rest_framework.renderers import JSONRenderer

from leaderboard import rendered, selectors, services
from leaderboard_project.exceptions import api_exception_handler

from . import serializers as s
from .views import BoardViewSet, render_json

_drf_top = BoardViewSet.as_view({"get": "leaderboard"})
_drf_rank = BoardViewSet.as_view({"get": "rank"})

# What DRF adds to these actions' answers (``APIView.default_response_headers``).
_ALLOW = "GET, HEAD, OPTIONS"
_JSON_ACCEPTS = frozenset(("", "*/*", "application/json"))


def _plain(request: HttpRequest) -> bool:
    """A GET that asks for JSON (or anything): what the fast path answers."""
    return request.method == "GET" and request.META.get("HTTP_ACCEPT", "*/*") in _JSON_ACCEPTS


@functools.cache
def _page_fields() -> tuple[tuple[str, int, int, int], ...]:
    """``(name, default, min, max)`` of ``PageQuerySerializer``'s fields, read once: building a serializer
    deep-copies its fields, too much for every request."""
    fields = s.PageQuerySerializer().fields
    bounds = []
    for name in ("limit", "offset"):
        field = cast(IntegerField, fields[name])
        bounds.append((name, cast(int, field.default), int(field.min_value or 0), int(field.max_value or 0)))
    return tuple(bounds)


def _page_query(request: HttpRequest) -> tuple[int, int] | None:
    """``(limit, offset)`` when the query holds nothing but valid ones (``PageQuerySerializer``'s bounds)."""
    query = request.GET
    if set(query) - {"limit", "offset"} or any(len(query.getlist(name)) > 1 for name in query):
        return None
    parsed = []
    for name, default, low, high in _page_fields():
        raw = query.get(name)
        if raw is None:
            parsed.append(default)
            continue
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            return None
        value = int(raw)
        if not low <= value <= high:
            return None
        parsed.append(value)
    return parsed[0], parsed[1]


def _cache_control() -> str:
    # HTTP counts whole seconds: below one, a proxy revalidates every time (a 304 costs no rendering).
    seconds = math.floor(settings.LEADERBOARD_READ_CACHE_SECONDS)
    return f"public, max-age={seconds}" if seconds > 0 else "public, no-cache"


def _not_modified(request: HttpRequest, etag: str) -> bool:
    wanted = request.META.get("HTTP_IF_NONE_MATCH")
    if not wanted:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
    return etag in tags or "*" in tags


def _answer(request: HttpRequest, body: bytes, etag: str | None = None) -> HttpResponse:
    if etag is not None and _not_modified(request, etag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["Allow"] = _ALLOW
    if etag is not None:
        response["ETag"] = etag
        response["Cache-Control"] = _cache_control()
    return response


def top(request: HttpRequest, slug: str, period: str) -> HttpResponseBase:
    """A top page: the bytes rendered within the interval, or rendered now (see the module)."""
    query = _page_query(request) if _plain(request) else None
    if query is None:
        return _drf_top(request, slug=slug, period=period)
    limit, offset = query
    key = (period, limit, offset)
    now = time.monotonic()
    page = rendered.get(slug, key, now)
    if page is None:
        try:
            body = _render_top(slug, period, limit, offset)
        except Exception as exc:  # answered as the DRF action answers it
            return _failed(request, exc)
        page = rendered.Page(body, rendered.etag(body), now + settings.LEADERBOARD_READ_CACHE_SECONDS)
        if settings.LEADERBOARD_READ_CACHE_SECONDS > 0:
            rendered.keep(slug, key, page)
    return _answer(request, page.body, page.etag)


def _render_top(slug: str, period: str, limit: int, offset: int) -> bytes:
    """The DRF action's body (raises what it would raise)."""
    board = services.board_get(slug=slug)
    checked = services.period_check(board=board, period=period)
    page = selectors.leaderboard_page(board=board, period=checked, limit=limit, offset=offset)
    return render_json(s.page_payload(page))


def rank(request: HttpRequest, slug: str, period: str, user_id: str) -> HttpResponseBase:
    """A player's rank, without DRF's dispatch; anything else goes to the DRF action."""
    if not _plain(request) or request.GET:
        return _drf_rank(request, slug=slug, period=period, user_id=user_id)
    try:
        board = services.board_get(slug=slug)
        checked = services.period_check(board=board, period=period)
        body = render_json(s.rank_payload(selectors.user_rank(board=board, period=checked, user_id=user_id)))
    except Exception as exc:  # as in top
        return _failed(request, exc)
    return _answer(request, body)


def _failed(request: HttpRequest, exc: Exception) -> HttpResponseBase:
    """An error answered as the DRF action answers it: the API's exception handler, rendered as JSON.

    Never run twice: a read that failed (a replica down, PostgreSQL unreachable) is not retried here.
    What the handler does not answer propagates, as from DRF (the project's JSON 500).
    """
    response = api_exception_handler(exc, {"request": request, "view": None, "args": (), "kwargs": {}})
    if response is None:
        raise exc
    response.accepted_renderer = JSONRenderer()
    response.accepted_media_type = "application/json"
    response.renderer_context = {}  # type: ignore[attr-defined]  # set by DRF views too, not declared
    response.render()
    response["Allow"] = _ALLOW
    return response
