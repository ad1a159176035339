"""score_submit_as: the one submit service every surface calls, deciding target, trust and player creation."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from leaderboard import services
from leaderboard.models import ScoreEvent
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.exceptions import Forbidden, NotFound

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_player_who_names_nobody_books_to_themselves():
    board, ann = BoardFactory(), UserFactory(username="ann")
    result = services.score_submit_as(board=board, caller=ann, named=None, value=4)
    assert (result.user_id, result.scores["daily"]) == ("ann", 4)
    assert ScoreEvent.objects.get().submitted_by == ""  # their own score: no separate submitter


def test_a_player_may_not_book_to_someone_else_and_nothing_is_written():
    board, ann = BoardFactory(), UserFactory(username="ann")
    UserFactory(username="bob")
    with pytest.raises(Forbidden):
        services.score_submit_as(board=board, caller=ann, named="bob", value=4)
    assert not ScoreEvent.objects.exists()


def test_a_trusted_server_creates_an_unknown_player_and_is_recorded_as_submitter():
    board, server = BoardFactory(), UserFactory(username="game-server", is_staff=True)
    result = services.score_submit_as(board=board, caller=server, named="newcomer", value=9, metadata={"lvl": 2})
    assert result.user_id == "newcomer" and get_user_model().objects.filter(username="newcomer").exists()
    event = ScoreEvent.objects.get()
    assert (event.submitted_by, event.metadata) == ("game-server", {"lvl": 2})


def test_a_player_naming_an_unknown_user_creates_nobody():
    board, ann = BoardFactory(), UserFactory(username="ann")
    with pytest.raises(Forbidden):
        services.score_submit_as(board=board, caller=ann, named="ghost", value=1)
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_an_authoritative_board_refuses_a_player_even_for_themselves():
    board, ann = BoardFactory(authoritative=True), UserFactory(username="ann")
    with pytest.raises(Forbidden):
        services.score_submit_as(board=board, caller=ann, named=None, value=1)


def test_a_trusted_server_submitting_as_itself_for_an_unknown_account_is_not_found():
    board = BoardFactory()
    server = UserFactory(username="game-server", is_staff=True)
    server.delete()  # the token's user is gone: it is never created back by its own submit
    with pytest.raises(NotFound):
        services.score_submit_as(board=board, caller=server, named=None, value=1)
