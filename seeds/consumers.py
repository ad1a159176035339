"""Seed 002's WebSocket: the core's live leaderboard in the seed's payload shape."""

from __future__ import annotations

from leaderboard import broadcasts
from leaderboard.consumers import LeaderboardConsumer


class Seed002Consumer(LeaderboardConsumer):
    """Seed 002's clients: the ``score`` board's all-time top 10 as
    ``{"event": "leaderboard_update", "data": {"leaderboard": [{"userId", "score"}]}}``.

    Connecting, authenticating (``rank_update``), coalescing and close codes are
    the core consumer's; the route (``seeds.routing``) names the board and period.
    """

    shape = broadcasts.SEED002
