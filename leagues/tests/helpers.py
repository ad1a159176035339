"""Boards with leagues, for the leagues' tests."""

from __future__ import annotations

from datetime import datetime

from leaderboard import services as engine
from leaderboard.models import Board
from leaderboard.tests.factories import BoardFactory, LeagueSettingsFactory, UserFactory
from leagues.models import League, LeagueMember


def league_board(slug: str | None = None, **settings: object) -> Board:
    """A board with weekly leagues (``settings`` override the factory's size, promote, demote, levels)."""
    board = BoardFactory() if slug is None else BoardFactory(slug=slug)
    LeagueSettingsFactory(board=board, **settings)
    return board


def play(board: Board, scores: dict[str, int], at: datetime | None = None) -> None:
    """Each player submits one score through the engine (their first submit of the bucket joins a league)."""
    for user_id, value in scores.items():
        engine.score_submit(board=board, user_id=UserFactory(username=user_id).username, value=value, at=at)


def league_of(board: Board, user_id: str, at: datetime) -> League:
    bucket = board.bucket("weekly", at)
    return (
        LeagueMember.objects.select_related("league")
        .get(board=board, bucket_start=bucket.start, user_id=user_id)
        .league
    )
