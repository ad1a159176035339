"""Metadata on entries (issue 16): which submit's metadata an entry carries, in both stores, on every read.

``operators`` owns the rule (best: the submit that set the score; set and increment:
the latest), the submit keeps it on the standing and in the bucket's Redis hash,
reads return it with each entry; tests run against real PostgreSQL and Valkey.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from leaderboard import moderation, operators, selectors, services, warming
from leaderboard.api import serializers as s
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.store import buckets as store_buckets
from leaderboard.store import keys
from leaderboard.store.connection import client
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import bearer
from leaderboard_project.exceptions import InvalidInput

pytestmark = pytest.mark.django_db(transaction=True)


def keeping(operator: str = "best", **fields) -> Board:
    board = BoardFactory(operator=operator, entry_metadata_max_bytes=256, periods=["daily", "all_time"], **fields)
    warming.board_warm(board=board)
    return board


def submit(board: Board, user_id: str, value: int, metadata: dict | None = None) -> None:
    UserFactory._meta.model.objects.get_or_create(username=user_id)
    services.score_submit(board=board, user_id=user_id, value=value, metadata=metadata)


def reads(board: Board, user_id: str) -> dict[str, Any]:
    """The entry of ``user_id`` in every read that lists it, as the API renders it."""
    top = s.page_payload(selectors.leaderboard_page(board=board, period="daily"))
    around = s.page_payload(selectors.leaderboard_around(board=board, period="daily", user_id=user_id, count=2))
    members = s.members_payload(selectors.leaderboard_members(board=board, period="daily", user_ids=[user_id]))
    rank = s.rank_payload(selectors.user_rank(board=board, period="daily", user_id=user_id))
    mine = [next(e for e in page["entries"] if e["user_id"] == user_id) for page in (top, around, members)]
    return {
        "top": mine[0]["metadata"],
        "around": mine[1]["metadata"],
        "members": mine[2]["metadata"],
        "rank": rank["metadata"],
        "cached": {top["cached"], around["cached"], members["cached"], rank["cached"]},
    }


def everywhere(metadata: dict, cached: bool) -> dict[str, object]:
    return {"top": metadata, "around": metadata, "members": metadata, "rank": metadata, "cached": {cached}}


@pytest.mark.parametrize(
    ("operator", "values", "kept"),
    [
        # best: the submit that set the best score; an equal score later keeps the first one's.
        ("best", [(10, {"car": "a"}), (30, {"car": "b"}), (20, {"car": "c"}), (30, {"car": "d"})], {"car": "b"}),
        ("set", [(10, {"car": "a"}), (5, {"car": "b"})], {"car": "b"}),
        ("increment", [(10, {"car": "a"}), (5, {"car": "b"}), (1, {})], {}),
    ],
)
def test_metadata_round_trips_on_every_read_from_redis_and_from_the_postgresql_fallback(
    disposable_redis, operator, values, kept
):
    board = keeping(operator)
    submit(board, "rival", 25, {"car": "rival"})
    for value, metadata in values:
        submit(board, "ann", value, metadata)
    assert reads(board, "ann") == everywhere(kept, cached=True)
    assert reads(board, "rival") == everywhere({"car": "rival"}, cached=True)
    bucket = board.bucket("daily", ScoreEvent.objects.latest("id").created_at)
    assert Standing.objects.get(board=board, user_id="ann", period="daily", bucket_start=bucket.start).metadata == kept
    disposable_redis.stop()
    assert reads(board, "ann") == everywhere(kept, cached=False)


def test_the_api_carries_metadata_on_entries_and_refuses_more_than_the_board_keeps(api_client):
    board = keeping()
    player = UserFactory(username="racer")
    api_client.credentials(HTTP_AUTHORIZATION=bearer(player))
    url = f"/api/v1/boards/{board.slug}/scores"
    assert api_client.post(url, {"value": 9, "metadata": {"car": "kart", "seed": 7}}, format="json").status_code == 201
    too_big = api_client.post(url, {"value": 10, "metadata": {"blob": "x" * 300}}, format="json")
    assert too_big.status_code == 400
    assert "256 bytes" in str(too_big.json()["metadata"]), too_big.json()
    assert ScoreEvent.objects.filter(board=board).count() == 1  # nothing written
    top = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily").json()
    assert top["entries"] == [{"user_id": "racer", "score": 9, "rank": 1, "metadata": {"car": "kart", "seed": 7}}]
    rank = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily/rank/nobody").json()
    assert rank["metadata"] is None and rank["rank"] is None


def test_a_board_that_keeps_no_metadata_stores_none_with_entries_and_answers_as_before():
    board = BoardFactory(periods=["daily"])
    warming.board_warm(board=board)
    submit(board, "ann", 3, {"car": "a"})
    assert ScoreEvent.objects.get(board=board).metadata == {"car": "a"}  # the event keeps it, as always
    assert Standing.objects.get(board=board).metadata is None
    page = s.page_payload(selectors.leaderboard_page(board=board, period="daily"))
    assert page["entries"] == [{"user_id": "ann", "score": 3, "rank": 1}]
    assert not client().keys(f"{keys.entry_metadata(board.slug, 'daily', '*')}")


def test_a_rewarmed_bucket_fills_its_metadata_from_postgresql_on_read_and_keeps_it_in_redis():
    board = keeping()
    submit(board, "ann", 5, {"car": "a"})
    bucket = board.bucket("daily", ScoreEvent.objects.latest("id").created_at)
    md_key = keys.entry_metadata(board.slug, "daily", bucket.key)
    assert json.loads(cast(str, client().hget(md_key, "ann"))) == {"car": "a"}
    warming.bucket_warm(board=board, bucket=bucket)  # a rebuild drops the hash
    assert not client().exists(md_key)
    assert reads(board, "ann") == everywhere({"car": "a"}, cached=True)
    assert json.loads(cast(str, client().hget(md_key, "ann"))) == {"car": "a"}
    assert client().ttl(md_key) > 0


def test_a_fill_never_brings_back_older_metadata_than_a_submit_wrote():
    board = keeping("set")
    submit(board, "ann", 5, {"v": 1})
    bucket = board.bucket("daily", ScoreEvent.objects.latest("id").created_at)
    # A read that loaded the old row (score 5, v1) fills after a newer submit (score 7, v2) wrote Redis.
    submit(board, "ann", 7, {"v": 2})
    kept = store_buckets.entry_metadata_fill(
        board_slug=board.slug, period="daily", bucket=bucket.key, entries=[("ann", 5, '{"v":1}')], expire_at=2**31
    )
    assert kept == 0
    assert reads(board, "ann")["top"] == {"v": 2}


def test_rebuilds_and_unbans_give_entries_the_metadata_the_operator_rule_picks():
    for operator in ("best", "set", "increment"):
        board = keeping(operator)
        for value, car in ((10, "a"), (30, "b"), (30, "c"), (20, "d")):
            submit(board, f"ann-{operator}", value, {"car": car})
        expected = Standing.objects.get(board=board, period="daily").metadata
        services.standings_rebuild(board=board)
        assert Standing.objects.get(board=board, period="daily").metadata == expected
        moderation.player_ban(user_id=f"ann-{operator}", actor="mod", reason="test")
        moderation.player_unban(user_id=f"ann-{operator}", actor="mod", reason="test")
        assert Standing.objects.get(board=board, period="daily").metadata == expected
        assert reads(board, f"ann-{operator}")["top"] == expected


def test_the_python_rule_keeps_what_the_submits_sql_keeps_for_every_operator():
    sequence = ((10, "a"), (30, "b"), (30, "c"), (20, "d"))
    for operator in ("best", "set", "increment"):
        board = keeping(operator)
        for value, car in sequence:
            submit(board, "ann", value, {"car": car})
        metadata: object = {"car": sequence[0][1]}
        score = sequence[0][0]
        for value, car in sequence[1:]:
            metadata = operators.combine_metadata(board, score, metadata, value, {"car": car})
            score = operators.combine(board, score, value)
        assert metadata == Standing.objects.get(board=board, period="daily").metadata


def test_an_erasure_removes_the_erased_id_from_other_entries_metadata_in_both_stores():
    board = keeping()
    submit(board, "victim", 5, {})
    submit(board, "ann", 9, {"opponent": "victim"})
    assert reads(board, "ann")["top"] == {"opponent": "victim"}
    result = moderation.player_erase(user_id="victim", actor="mod", reason="gdpr")
    tombstone = result.user_id
    assert Standing.objects.get(board=board, user_id="ann", period="daily").metadata == {"opponent": tombstone}
    assert reads(board, "ann")["top"] == {"opponent": tombstone}


def test_metadata_over_the_boards_bound_is_a_field_error_and_writes_nothing():
    board = keeping()
    UserFactory(username="ann")
    with pytest.raises(InvalidInput) as refused:
        services.score_submit(board=board, user_id="ann", value=1, metadata={"blob": "y" * 300})
    assert "metadata" in refused.value.fields
    assert not ScoreEvent.objects.filter(board=board).exists()
    assert not Standing.objects.filter(board=board).exists()
