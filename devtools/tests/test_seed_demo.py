"""seed_demo: demo users and events in bulk, standings rebuilt from them, Redis warmed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leaderboard.models import ScoreEvent, Standing
from leaderboard.tests.factories import BoardFactory
from leaderboard.tests.helpers import pg_members, redis_members

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_demo_creates_users_and_events_with_consistent_standings():
    board = BoardFactory(slug="demo-board", max_value=50)
    out = StringIO()
    call_command("seed_demo", "--board", "demo-board", "--users", "40", "--events", "400", "--days", "0.01", stdout=out)
    assert ScoreEvent.objects.filter(board=board).count() == 400
    total_events = sum(ScoreEvent.objects.filter(board=board).values_list("value", flat=True))
    bucket = board.bucket("all_time", ScoreEvent.objects.latest("created_at").created_at)
    assert sum(Standing.objects.filter(board=board, period="all_time").values_list("score", flat=True)) == total_events
    assert redis_members(board, bucket) == pg_members(board, bucket)


def test_seed_demo_names_the_boards_when_the_board_is_unknown():
    BoardFactory(slug="only-board")
    with pytest.raises(CommandError, match=r"No board 'nope'; boards: .*only-board"):
        call_command("seed_demo", "--board", "nope", stdout=StringIO())
