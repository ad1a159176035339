"""Live updates to WebSocket subscribers (filled in by the live-updates work)."""

from __future__ import annotations

from .models import Board


def submit_committed(*, board: Board, ranks: dict[str, int | None]) -> None:
    """Called after a submit reached Redis, with the user's new rank per period."""
    return None
