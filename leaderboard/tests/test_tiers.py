"""Tiers (``leaderboard.tiers``, issue 16): the rule, its validation, and every answer that carries it.

The acceptance point "tiers by score and by percentile are equal in the Redis answer
and the PostgreSQL fallback" runs on a real Valkey that the test stops.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from leaderboard import rollover, selectors, services, tiers, warming
from leaderboard.api import serializers as s
from leaderboard.models import Board, PeriodArchive
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import submitted
from leaderboard_project.conftest_helpers import bearer

PERCENTILE_TIERS = [
    {"name": "Diamond", "cutoff": 1},
    {"name": "Gold", "cutoff": 10},
    {"name": "Silver", "cutoff": 50},
    {"name": "Bronze", "cutoff": None},
]
SCORE_TIERS = [{"name": "Gold", "cutoff": 100}, {"name": "Silver", "cutoff": 50}, {"name": "Bronze", "cutoff": 10}]


# --------------------------------------------------------------------------- the rule (pure)


def test_score_tiers_are_reached_by_scores_at_least_as_good_as_the_cutoff_in_either_order():
    higher = tiers.Tiers("score", (("Gold", 100), ("Silver", 50)), higher_is_better=True)
    assert [higher.tier_of(score=v, rank=1, total=1) for v in (150, 100, 99, 50, 49)] == [
        "Gold",
        "Gold",
        "Silver",
        "Silver",
        None,
    ]
    lower = tiers.Tiers("score", (("Fast", 30), ("Ok", 60), ("Slow", None)), higher_is_better=False)
    assert [lower.tier_of(score=v, rank=1, total=1) for v in (20, 30, 31, 60, 61)] == [
        "Fast",
        "Fast",
        "Ok",
        "Ok",
        "Slow",
    ]


def test_percentile_tiers_hold_the_top_n_percent_by_competition_rank_exactly_at_the_boundary():
    top = tiers.Tiers("percentile", (("Gold", 10), ("Silver", 50)), higher_is_better=True)
    # 100 * rank / total <= cutoff: of 200 players, ranks 1-20 are the top 10 %, 21-100 the top 50 %.
    assert [top.tier_of(score=0, rank=r, total=200) for r in (1, 20, 21, 100, 101)] == [
        "Gold",
        "Gold",
        "Silver",
        "Silver",
        None,
    ]
    assert top.tier_of(score=0, rank=2, total=10) == "Silver"  # 20 % of the players: past the top 10 %
    assert top.tier_of(score=0, rank=1, total=0) is None


@pytest.mark.parametrize(
    ("basis", "levels", "higher", "field", "message"),
    [
        ("", [{"name": "Gold", "cutoff": 1}], True, "tier_basis", "score or percentile"),
        (
            "score",
            [{"name": "Gold", "cutoff": 10}, {"name": "Silver", "cutoff": 20}],
            True,
            "tiers",
            "strictly falling",
        ),
        ("score", [{"name": "Gold", "cutoff": 10}, {"name": "Silver", "cutoff": 5}], False, "tiers", "strictly rising"),
        ("percentile", [{"name": "Gold", "cutoff": 0}], True, "tiers", "above 0 and at most 100"),
        ("percentile", [{"name": "A", "cutoff": 50}, {"name": "B", "cutoff": 10}], True, "tiers", "growing"),
        ("score", [{"name": "Gold", "cutoff": None}, {"name": "Silver", "cutoff": 5}], True, "tiers", "only the last"),
        ("score", [{"name": "Gold", "cutoff": 1}, {"name": "Gold", "cutoff": 0}], True, "tiers", "used twice"),
        ("score", [{"name": "", "cutoff": 1}], True, "tiers", "a name of 1 to 32"),
        ("score", [{"name": "Gold", "cutoff": 1.5}], True, "tiers", "whole number"),
        ("score", [{"name": "Gold", "cutoff": True}], True, "tiers", "must be a number"),
        ("score", [{"name": "Gold", "cutoff": 1, "extra": 2}], True, "tiers", "an object with a name"),
        ("score", {"Gold": 1}, True, "tiers", "A list of tiers"),
        ("score", [{"name": f"T{i}", "cutoff": 100 - i} for i in range(21)], True, "tiers", "At most 20"),
    ],
)
def test_a_tier_definition_that_cannot_rank_anyone_consistently_is_refused_with_a_field_message(
    basis, levels, higher, field, message
):
    errors = tiers.validate(basis, levels, higher_is_better=higher)
    assert set(errors) == {field}
    assert message in errors[field]


@pytest.mark.django_db
def test_board_clean_refuses_bad_tiers_and_the_board_api_answers_400_json(staff_client):
    board = BoardFactory.build(slug="tiered", tier_basis="percentile", tiers=[{"name": "Gold", "cutoff": 200}])
    with pytest.raises(ValidationError) as caught:
        board.full_clean()
    assert "tiers" in caught.value.message_dict
    response = staff_client.post(
        "/api/v1/boards",
        {"slug": "tiered", "name": "Tiered", "tier_basis": "percentile", "tiers": [{"name": "Gold", "cutoff": 200}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "tiers" in response.json()
    assert not Board.objects.filter(slug="tiered").exists()


# --------------------------------------------------------------------------- every answer carries it


def tiered_board(basis: str, levels: list[dict], **fields) -> Board:
    return BoardFactory(tier_basis=basis, tiers=levels, periods=["daily", "all_time"], **fields)


def every_read(board: Board, players: list[str]) -> dict[str, Any]:
    """Top, around, friends and rank answers as the API renders them (what a client sees)."""
    return {
        "top": s.page_payload(selectors.leaderboard_page(board=board, period="daily", limit=100)),
        "around": s.page_payload(
            selectors.leaderboard_around(board=board, period="daily", user_id=players[17], count=6)
        ),
        "members": s.members_payload(
            selectors.leaderboard_members(board=board, period="daily", user_ids=[*players[::7], "nobody"])
        ),
        "ranks": [
            s.rank_payload(selectors.user_rank(board=board, period="daily", user_id=p))
            for p in [*players[::9], "nobody"]
        ],
    }


def without_source(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers with the ``cached`` flags dropped (the one thing the two stores may differ in)."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "cached"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(answers)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("basis", "levels", "order"),
    [("percentile", PERCENTILE_TIERS, "desc"), ("score", SCORE_TIERS, "desc"), ("percentile", PERCENTILE_TIERS, "asc")],
)
def test_tiers_are_equal_in_the_redis_answer_and_the_postgresql_fallback(disposable_redis, basis, levels, order):
    rng = random.Random(16)
    if order == "asc":
        levels = [{"name": "Quick", "cutoff": 5}, {"name": "Steady", "cutoff": 30}, {"name": "Rest", "cutoff": None}]
        if basis == "percentile":
            levels = PERCENTILE_TIERS
    board = tiered_board(basis, levels, sort_order=order, operator="best")
    warming.board_warm(board=board)
    players = [f"p{i:03d}" for i in range(60)]
    # Ties on purpose: scores from a small range, so ranks are shared across tier boundaries.
    submitted(board, {p: rng.choice([1, 5, 10, 10, 30, 50, 50, 60, 100, 120]) for p in players})

    from_redis = every_read(board, players)
    assert from_redis["top"]["cached"] is True
    disposable_redis.stop()
    from_postgres = every_read(board, players)
    assert from_postgres["top"]["cached"] is False

    assert without_source(from_redis) == without_source(from_postgres)
    top = from_redis["top"]["entries"]
    assert all("tier" in e for e in top)
    # The tiers follow the rule from each entry's rank and score, and ties share one.
    rule = tiers.board_tiers(board)
    assert rule is not None
    assert [e["tier"] for e in top] == [rule.tier_of(score=e["score"], rank=e["rank"], total=60) for e in top]
    by_rank: dict[int, set[str | None]] = {}
    for e in top:
        by_rank.setdefault(e["rank"], set()).add(e["tier"])
    assert all(len(found) == 1 for found in by_rank.values())
    assert len({e["tier"] for e in top}) >= 3  # the data crosses tier boundaries
    assert from_redis["ranks"][-1]["tier"] is None and from_redis["ranks"][-1]["rank"] is None


@pytest.mark.django_db(transaction=True)
def test_a_board_without_tiers_answers_exactly_as_before():
    board = BoardFactory(periods=["daily"])
    submitted(board, {"a": 3, "b": 2})
    page = s.page_payload(selectors.leaderboard_page(board=board, period="daily"))
    assert page["entries"] == [{"user_id": "a", "score": 3, "rank": 1}, {"user_id": "b", "score": 2, "rank": 2}]
    assert set(s.rank_payload(selectors.user_rank(board=board, period="daily", user_id="a"))) == {
        "board",
        "period",
        "bucket",
        "user_id",
        "score",
        "rank",
        "total",
        "percentile",
        "cached",
    }


@pytest.mark.django_db(transaction=True)
def test_the_api_reads_carry_each_entrys_tier(api_client):
    board = tiered_board("score", SCORE_TIERS)
    warming.board_warm(board=board)
    submitted(board, {"ann": 120, "bob": 60, "cy": 5})
    user = UserFactory(username="viewer")
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    base = f"/api/v1/boards/{board.slug}/leaderboard/daily"
    top = api_client.get(base).json()
    assert [(e["user_id"], e["tier"]) for e in top["entries"]] == [("ann", "Gold"), ("bob", "Silver"), ("cy", None)]
    around = api_client.get(f"{base}/around/bob").json()
    assert {e["user_id"]: e["tier"] for e in around["entries"]} == {"ann": "Gold", "bob": "Silver", "cy": None}
    friends = api_client.get(f"{base}/users?user_ids=cy,ann").json()
    assert [(e["user_id"], e["tier"]) for e in friends["entries"]] == [("ann", "Gold"), ("cy", None)]
    rank = api_client.get(f"{base}/rank/bob").json()
    assert rank["tier"] == "Silver"


@pytest.mark.django_db(transaction=True)
def test_archives_and_rank_history_record_each_entrys_final_tier():
    from datetime import UTC, datetime, time, timedelta

    from django.utils import timezone

    board = tiered_board("percentile", [{"name": "Top", "cutoff": 25}, {"name": "Rest", "cutoff": None}])
    yesterday = datetime.combine(timezone.now().date() - timedelta(days=1), time(12), tzinfo=UTC)
    for user_id, value in {"a": 40, "b": 30, "c": 20, "d": 10}.items():
        services.score_submit(board=board, user_id=UserFactory(username=user_id).username, value=value, at=yesterday)
    rollover.buckets_finalise_ended()
    archive = PeriodArchive.objects.get(board=board, period="daily")
    assert [(e["user_id"], e["tier"]) for e in archive.top] == [
        ("a", "Top"),
        ("b", "Rest"),
        ("c", "Rest"),
        ("d", "Rest"),
    ]
    assert archive.winners == [{"user_id": "a", "score": 40, "rank": 1, "tier": "Top"}]
    history = selectors.user_history(board=board, period="daily", user_id="b")
    assert [(h.rank, h.tier) for h in history.entries] == [(2, "Rest")]
