"""The operator rule (``leaderboard.operators``): its SQL and its Python agree, and the submit path follows it."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from leaderboard import operators, services
from leaderboard.models import Board, Standing
from leaderboard.tests.factories import BoardFactory, UserFactory

CASES = [
    (Board.Operator.INCREMENT, Board.SortOrder.DESC, 0),
    (Board.Operator.INCREMENT, Board.SortOrder.DESC, -50),
    (Board.Operator.INCREMENT, Board.SortOrder.ASC, -50),
    (Board.Operator.BEST, Board.SortOrder.DESC, -50),
    (Board.Operator.BEST, Board.SortOrder.ASC, -50),
    (Board.Operator.SET, Board.SortOrder.DESC, -50),
]


def _sql_fold(board: Board, values: list[int]) -> int:
    """The submit's upsert expression applied value after value, by PostgreSQL."""
    score = values[0]
    with connection.cursor() as cursor:
        for value in values[1:]:
            expression = operators.upsert_expression(board, old="%(old)s::bigint", new="%(new)s::bigint")
            cursor.execute(f"SELECT {expression}", {"old": score, "new": value})
            score = cursor.fetchone()[0]
    return score


def _sql_aggregate(board: Board, values: list[int]) -> int:
    """The events' aggregate (rebuilds, reports) over the same values in the same order."""
    rows = ", ".join(f"({v}, {i}, now() + make_interval(secs => {i}))" for i, v in enumerate(values))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {operators.event_aggregate(board)} FROM (VALUES {rows}) AS e(value, id, created_at)")
        return cursor.fetchone()[0]


@pytest.mark.django_db
@pytest.mark.parametrize(("operator", "order", "min_value"), CASES)
def test_the_upsert_the_aggregate_and_the_python_rule_give_one_standing(operator, order, min_value):
    board = BoardFactory(operator=operator, sort_order=order, min_value=min_value, periods=["all_time"])
    rng = random.Random(f"{operator}{order}{min_value}")
    for _ in range(20):
        values = [rng.randint(min_value, 100) for _ in range(rng.randint(1, 8))]
        python = values[0]
        for value in values[1:]:
            python = operators.combine(board, python, value)
        assert _sql_fold(board, values) == python
        assert _sql_aggregate(board, values) == python


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("operator", "order", "min_value"), CASES)
def test_submits_keep_the_standing_the_rule_gives(operator, order, min_value):
    board = BoardFactory(operator=operator, sort_order=order, min_value=min_value, periods=["all_time"])
    user = UserFactory()
    values = [7, -3 if min_value < 0 else 3, 12, 5]
    expected = values[0]
    for value in values[1:]:
        expected = operators.combine(board, expected, value)
    for value in values:
        services.score_submit(board=board, user_id=user.username, value=value)
    assert Standing.objects.get(board=board, user_id=user.username).score == expected


def test_the_zadd_guard_is_set_exactly_where_scores_only_move_one_way():
    def board(operator, order, min_value=0, max_value=100):
        return Board(operator=operator, sort_order=order, min_value=min_value, max_value=max_value)

    assert operators.zadd_flag(board(Board.Operator.BEST, Board.SortOrder.DESC)) == "GT"
    assert operators.zadd_flag(board(Board.Operator.BEST, Board.SortOrder.ASC)) == "LT"
    assert operators.zadd_flag(board(Board.Operator.INCREMENT, Board.SortOrder.DESC)) == "GT"
    assert operators.zadd_flag(board(Board.Operator.INCREMENT, Board.SortOrder.DESC, min_value=-1)) == ""
    assert operators.zadd_flag(board(Board.Operator.SET, Board.SortOrder.DESC)) == ""
    # Whether a submit can push a player down (and out of a live top N) is the guard's mirror image.
    assert not operators.can_worsen(board(Board.Operator.BEST, Board.SortOrder.ASC))
    assert not operators.can_worsen(board(Board.Operator.INCREMENT, Board.SortOrder.DESC))
    assert operators.can_worsen(board(Board.Operator.INCREMENT, Board.SortOrder.DESC, min_value=-1))
    assert operators.can_worsen(board(Board.Operator.INCREMENT, Board.SortOrder.ASC))
    assert not operators.can_worsen(board(Board.Operator.INCREMENT, Board.SortOrder.ASC, max_value=0))
    assert operators.can_worsen(board(Board.Operator.SET, Board.SortOrder.ASC))
