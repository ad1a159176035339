"""The engine benchmark's ceiling, served only under ``settings_dev`` (``devtools.urls``)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse


def bench_bare(request: HttpRequest) -> JsonResponse:
    """Ten ranked entries as JSON with no framework work: the benchmark's ceiling."""
    entries = [{"user_id": f"user{i:07d}", "score": 1000 - i, "rank": i + 1} for i in range(10)]
    return JsonResponse({"entries": entries})
