"""Joining leagues (``leagues.services``): first come, first served, atomic, stable, levels from the last bucket."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from leaderboard import services as engine
from leaderboard.models import Standing
from leaderboard.tests.factories import UserFactory
from leaderboard.tests.helpers import in_threads
from leaderboard_project.exceptions import NotFound
from leagues import selectors, services
from leagues.models import League, LeagueMember
from leagues.tests.helpers import league_board, league_of, play

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_hundred_racing_first_submits_fill_leagues_of_exactly_thirty():
    board = league_board(size=30)
    players = [UserFactory(username=f"p{i:03d}").username for i in range(200)]
    start = threading.Barrier(200, timeout=120)

    def first_submit(i: int) -> None:
        start.wait()
        engine.score_submit(board=board, user_id=players[i], value=i + 1)

    in_threads(200, first_submit)

    leagues = list(League.objects.filter(board=board).order_by("level", "number"))
    assert [(x.level, x.number, x.member_count) for x in leagues] == [(0, n, 30) for n in range(1, 7)] + [(0, 7, 20)]
    counted = dict(
        LeagueMember.objects.filter(board=board).values_list("league__number").annotate(n=Count("id")).order_by()
    )
    assert counted == {1: 30, 2: 30, 3: 30, 4: 30, 5: 30, 6: 30, 7: 20}
    members = list(LeagueMember.objects.filter(board=board).values_list("user_id", flat=True))
    assert sorted(members) == players  # every player in exactly one league


def test_a_league_is_stable_for_the_bucket_a_second_submit_does_not_move_the_player():
    board = league_board(size=2)
    play(board, {"ann": 1, "bob": 2, "cid": 3})
    now = timezone.now()
    before = {u: league_of(board, u, now).number for u in ("ann", "bob", "cid")}
    assert before == {"ann": 1, "bob": 1, "cid": 2}
    for user_id in ("ann", "bob", "cid"):
        engine.score_submit(board=board, user_id=user_id, value=100)
    assert {u: league_of(board, u, now).number for u in ("ann", "bob", "cid")} == before
    assert LeagueMember.objects.filter(board=board).count() == 3
    assert [x.member_count for x in League.objects.filter(board=board).order_by("number")] == [2, 1]


def test_promotion_and_demotion_decide_the_level_of_the_next_bucket():
    board = league_board(size=4, promote=1, demote=1, levels=["Bronze", "Silver", "Gold"])
    week1 = timezone.now() - timedelta(days=14)
    week2 = week1 + timedelta(days=7)
    week3 = week2 + timedelta(days=7)
    # Two leagues at level 0: the first four to submit, then the next four.
    play(board, {"a0": 40, "a1": 30, "a2": 20, "a3": 10}, at=week1)
    play(board, {"b0": 50, "b1": 5, "b2": 5, "b3": 1}, at=week1)
    assert {league_of(board, u, week1).number for u in ("a0", "a3")} == {1}
    assert {league_of(board, u, week1).number for u in ("b0", "b3")} == {2}

    # Week 2: the winners move up, the last of league 1 is floored at level 0, the rest stay.
    play(board, {"a0": 5, "b0": 50, "a3": 1, "a1": 1, "b3": 1}, at=week2)
    levels = {u: league_of(board, u, week2).level for u in ("a0", "b0", "a3", "a1", "b3")}
    assert levels == {"a0": 1, "b0": 1, "a3": 0, "a1": 0, "b3": 0}
    assert league_of(board, "a0", week2) == league_of(board, "b0", week2)

    # Week 3: b0 won level 1 and moves to Gold (the top); a0 came last there and goes back down.
    play(board, {"a0": 1, "b0": 1}, at=week3)
    assert league_of(board, "b0", week3).level == 2
    assert league_of(board, "a0", week3).level == 0
    # A player who skipped week 2 joins from their last bucket: a2 stayed at level 0 in week 1.
    play(board, {"a2": 1}, at=week3)
    assert league_of(board, "a2", week3).level == 0


def test_the_top_level_is_a_ceiling_and_ties_share_their_zone():
    board = league_board(size=3, promote=1, demote=1, levels=["Only"])
    week1 = timezone.now() - timedelta(days=7)
    play(board, {"x": 10, "y": 10, "z": 1}, at=week1)
    # x and y share rank 1: both in the promotion zone; z demotes (floored at 0).
    entries = services.league_mine(board=board, period="weekly", user_id="z", limit=10, offset=0, at=week1).entries
    assert [(e.entry.user_id, e.entry.rank, e.zone) for e in entries] == [
        ("y", 1, "promote"),
        ("x", 1, "promote"),
        ("z", 3, "demote"),
    ]
    play(board, {"x": 1}, at=timezone.now())
    assert league_of(board, "x", timezone.now()).level == 0


def test_a_player_whose_assignment_never_ran_joins_when_reading_their_league():
    board = league_board()
    play(board, {"early": 3})
    # A crash after the commit: the standing exists, the membership does not.
    LeagueMember.objects.filter(user_id="early").delete()
    League.objects.update(member_count=0)
    assert Standing.objects.filter(board=board, user_id="early", period="weekly").exists()
    found = services.league_mine(board=board, period="weekly", user_id="early", limit=10, offset=0)
    assert found.me is not None and found.me.entry.score == 3
    assert LeagueMember.objects.get(user_id="early").league.member_count == 1


def test_a_player_without_a_score_in_the_bucket_has_no_league():
    board = league_board()
    UserFactory(username="idle")
    with pytest.raises(NotFound, match="first score of the period"):
        services.league_mine(board=board, period="weekly", user_id="idle", limit=10, offset=0)
    assert not LeagueMember.objects.exists()


def test_racing_joins_of_one_player_make_one_membership():
    board = league_board(size=5)
    UserFactory(username="twice")
    bucket = board.bucket("weekly", timezone.now())
    league_settings = selectors.settings_cached(board_id=board.pk)
    assert league_settings is not None
    members = in_threads(
        10,
        lambda _: services.league_join(board=board, league_settings=league_settings, bucket=bucket, user_id="twice"),
    )
    assert len({m.pk for m in members}) == 1
    assert Counter(League.objects.values_list("member_count", flat=True)) == Counter([1])
