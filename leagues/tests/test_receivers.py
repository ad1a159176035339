"""The receivers of the engine's signals: nothing on boards without leagues, assignment on boards with them."""

from __future__ import annotations

import timeit

import pytest
from django.utils import timezone

from leaderboard import signals
from leaderboard.models import Board
from leaderboard.tests.factories import BoardFactory, LeagueSettingsFactory, UserFactory
from leagues import receivers, selectors
from leagues.models import LeagueMember
from leagues.tests.helpers import league_board

pytestmark = pytest.mark.django_db(transaction=True)


def committed(board, user_id="ann", score=1):
    now = timezone.now()
    buckets = {b.period: b for b in board.live_buckets(now)}
    signals.submit_committed.send(
        sender=Board, board=board, user_id=user_id, scores=dict.fromkeys(buckets, score), buckets=buckets, metadata={}
    )


def test_a_board_without_leagues_costs_the_receiver_no_query(django_assert_num_queries):
    plain = BoardFactory()
    league_board()  # another board has leagues: the process' copy of settings knows both
    selectors.settings_cached(board_id=plain.pk)  # the copy is loaded once every few seconds
    with django_assert_num_queries(0):
        committed(plain)
    assert not LeagueMember.objects.exists()
    seconds = min(
        timeit.repeat(
            lambda: receivers.submit_committed(Board, board=plain, user_id="x", scores={}, buckets={}),
            number=1000,
            repeat=3,
        )
    )
    assert seconds / 1000 < 20e-6  # microseconds per submit, well under a millisecond


def test_a_submit_on_a_board_with_leagues_joins_the_player():
    board = league_board()
    UserFactory(username="ann")
    committed(board)
    assert LeagueMember.objects.get().user_id == "ann"


def test_inactive_settings_or_another_period_assign_nobody():
    board = BoardFactory(periods=["daily", "weekly"])
    settings = LeagueSettingsFactory(board=board, is_active=False)
    committed(board)
    settings.is_active = True
    settings.save()  # clears this process' copy at once
    committed(BoardFactory())
    assert not LeagueMember.objects.exists()
    committed(board)
    assert LeagueMember.objects.count() == 1


def test_an_assignment_failure_is_logged_and_never_fails_the_submit(caplog):
    board = league_board()
    committed(board, user_id="x" * 100)  # longer than any user id: the insert fails in PostgreSQL
    assert not LeagueMember.objects.exists()
    assert "joins on its next league read" in caplog.text
    committed(board, user_id="ann")  # the connection is usable afterwards
    assert LeagueMember.objects.get().user_id == "ann"


def test_an_erased_player_leaves_no_trace_in_leagues_in_either_store():
    from leaderboard import moderation
    from leaderboard.store import connection as store_connection
    from leagues.tests.helpers import play

    board = league_board()
    play(board, {"victim": 5, "ann": 9})
    league = LeagueMember.objects.get(user_id="ann").league
    bucket = board.bucket("weekly", timezone.now())
    key = selectors.league_key(board=board, league=league, bucket=bucket)
    selectors.league_fill(board=board, league=league, bucket=bucket)  # Redis holds the league
    assert store_connection.client().zscore(key.names()[0], "victim") == 5

    tombstone = moderation.player_erase(user_id="victim", actor="mod", reason="gdpr").user_id

    assert not LeagueMember.objects.filter(user_id="victim").exists()
    assert LeagueMember.objects.filter(user_id=tombstone).count() == 1
    server = store_connection.client()
    assert not any(server.zscore(name, "victim") for name in key.names()[:1])
    assert not server.exists(key.names()[1])  # cold: the next read rebuilds it from PostgreSQL
