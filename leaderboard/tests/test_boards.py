"""Changing a board while it is in use: other processes' cached copies, and history it must keep."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from leaderboard import services
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.tests.factories import BoardFactory

pytestmark = pytest.mark.django_db(transaction=True)


def submit(client, board, **payload):
    return client.post(f"/api/v1/boards/{board.slug}/scores", payload, format="json")


def test_a_lowered_maximum_is_enforced_although_this_process_cached_the_board(auth_client):
    board = BoardFactory(max_value=1000)
    services.board_get(slug=board.slug)  # this process now holds the old bounds for seconds
    # Another process (the admin) lowers the bound: this process' cache is not cleared.
    Board.objects.filter(pk=board.pk).update(max_value=10)

    response = submit(auth_client, board, value=500)
    assert response.status_code == 400, response.content
    # The same answer as a process that knew the new bound would give.
    assert response.json()["value"] == [f"Must be between 0 and 10 on board {board.slug!r}."]
    assert not ScoreEvent.objects.exists() and not Standing.objects.exists()
    # The refusal refreshed the cached copy: values within the new bounds go through.
    assert submit(auth_client, board, value=10).status_code == 201
    assert submit(auth_client, board, value=11).status_code == 400
    assert list(ScoreEvent.objects.values_list("value", flat=True)) == [10]


def test_a_deactivated_board_refuses_submits_although_this_process_cached_it(auth_client):
    board = BoardFactory()
    services.board_get(slug=board.slug)
    Board.objects.filter(pk=board.pk).update(is_active=False)

    response = submit(auth_client, board, value=5, idempotency_key="k-1")
    assert response.status_code == 404, response.content
    assert response.json()["detail"] == f"No board {board.slug!r}."
    assert not ScoreEvent.objects.exists() and not Standing.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Asia/Tokyo"),
        ("operator", Board.Operator.BEST),
        ("sort_order", Board.SortOrder.ASC),
        ("periods", ["daily", "all_time"]),  # weekly, monthly and yearly dropped
    ],
)
def test_a_board_holding_standings_refuses_changes_that_would_rebucket_or_rescore_its_history(user, field, value):
    board = BoardFactory()
    fresh = BoardFactory()
    for changed in (board, fresh):
        setattr(changed, field, value)
    fresh.full_clean()  # nothing recorded yet: any setting may change

    services.score_submit(board=Board.objects.get(pk=board.pk), user_id=user.username, value=3)
    with pytest.raises(ValidationError) as refused:
        board.full_clean()
    assert field in refused.value.message_dict
    assert "holds standings" in refused.value.message_dict[field][0]


def test_a_board_holding_standings_may_still_change_its_name_bounds_activity_and_add_periods(user):
    board = BoardFactory(periods=["daily", "all_time"])
    services.score_submit(board=board, user_id=user.username, value=3)
    board.name, board.max_value, board.is_active = "Renamed", 50, False
    board.periods = ["daily", "weekly", "all_time"]
    board.full_clean()
