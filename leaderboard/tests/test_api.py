"""The REST API of the engine: permissions, validation, reads."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from leaderboard import services, warming
from leaderboard.models import Board, ScoreEvent
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def submit(client, board, **payload):
    return client.post(f"/api/v1/boards/{board.slug}/scores", payload, format="json")


def test_the_data_migration_creates_the_default_boards_once(api_client):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("leaderboard.migrations.0002_default_boards")
    Board.objects.filter(slug__in=["pomodoro", "score", "high-score"]).delete()
    migration.create_default_boards(apps, None)
    migration.create_default_boards(apps, None)  # idempotent
    response = api_client.get("/api/v1/boards")
    assert response.status_code == 200
    boards = {b["slug"]: b for b in response.json()}
    assert {"pomodoro", "score", "high-score"} <= set(boards)
    assert boards["high-score"]["operator"] == "best"
    assert boards["pomodoro"]["periods"] == ["daily", "weekly", "monthly", "yearly", "all_time"]


def test_board_detail_shows_each_periods_bucket_and_next_reset_in_utc_and_local_time(api_client):
    BoardFactory(slug="tokyo", time_zone="Asia/Tokyo")
    body = api_client.get("/api/v1/boards/tokyo").json()
    current = {c["period"]: c for c in body["current"]}
    assert set(current) == {"daily", "weekly", "monthly", "yearly", "all_time"}
    assert current["daily"]["next_reset_local"].endswith("T00:00:00+09:00")
    assert current["daily"]["next_reset"].endswith("T15:00:00Z")
    assert 0 < current["daily"]["seconds_to_reset"] <= 86_400
    assert current["all_time"]["next_reset"] is None


def test_submit_needs_a_token(api_client):
    board = BoardFactory()
    assert submit(api_client, board, value=1).status_code == 401


def test_a_user_submits_for_themselves_and_gets_scores_and_ranks(auth_client):
    board = BoardFactory()
    warming.board_warm(board=board)
    response = submit(auth_client, board, value=12, metadata={"match": "m-1"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user_id"] == auth_client.user.username
    assert body["scores"]["daily"] == 12 and body["ranks"]["daily"] == 1
    assert body["replayed"] is False and body["cache_updated"] is True


def test_a_submit_answers_only_the_ranks_it_asks_for_and_refuses_an_unknown_period(auth_client):
    board = BoardFactory()
    warming.board_warm(board=board)
    default = submit(auth_client, board, value=3).json()
    assert set(default["ranks"]) == {"daily", "weekly", "monthly", "yearly", "all_time"}
    assert submit(auth_client, board, value=3, ranks=["weekly"]).json()["ranks"] == {"weekly": 1}
    assert submit(auth_client, board, value=3, ranks=[]).json()["ranks"] == {}
    refused = submit(auth_client, board, value=3, ranks=["hourly"])
    assert refused.status_code == 400 and "ranks" in refused.json(), refused.content


def test_naming_another_user_needs_trust(auth_client):
    board = BoardFactory()
    other = UserFactory()
    response = submit(auth_client, board, value=1, user_id=other.username)
    assert response.status_code == 403
    assert not ScoreEvent.objects.exists()


def test_authoritative_boards_refuse_players_and_accept_trusted_servers(auth_client, api_client):
    board = BoardFactory(authoritative=True)
    assert submit(auth_client, board, value=1).status_code == 403
    server = UserFactory(username="game-server")
    server.user_permissions.add(Permission.objects.get(codename="submit_for_others"))
    api_client.credentials(HTTP_AUTHORIZATION=bearer(server))
    response = submit(api_client, board, value=9, user_id="new-player")
    assert response.status_code == 201, response.content
    assert response.json()["user_id"] == "new-player"
    assert ScoreEvent.objects.get().submitted_by == "game-server"


def test_staff_may_submit_for_a_player_the_service_has_never_seen(staff_client):
    board = BoardFactory()
    response = submit(staff_client, board, value=3, user_id="fresh_player")
    assert response.status_code == 201
    assert staff_client.get(f"/api/v1/boards/{board.slug}/leaderboard/all_time/rank/fresh_player").json()["score"] == 3


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "value"),
        ({"value": "ten"}, "value"),
        ({"value": 1.5}, "value"),
        ({"value": -1}, "value"),
        ({"value": 1_000_001}, "value"),
        ({"value": 10**30}, "value"),
        ({"value": 1, "idempotency_key": ""}, "idempotency_key"),
        ({"value": 1, "idempotency_key": "k" * 129}, "idempotency_key"),
        ({"value": 1, "metadata": [1, 2]}, "metadata"),
        ({"value": 1, "metadata": {"blob": "x" * 5000}}, "metadata"),
    ],
)
def test_bad_submissions_are_400s_with_field_messages_and_write_nothing(auth_client, payload, field):
    board = BoardFactory(min_value=0, max_value=1_000_000)
    response = submit(auth_client, board, **payload)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not ScoreEvent.objects.exists()


def test_a_malformed_user_id_is_a_400_for_trusted_servers_and_a_403_for_players(auth_client, staff_client):
    """Permission comes before validation (and before rate limits): a player may name only themselves."""
    board = BoardFactory()
    trusted = submit(staff_client, board, value=1, user_id="bad id!")
    assert trusted.status_code == 400, trusted.content
    assert "user_id" in trusted.json()
    player = submit(auth_client, board, value=1, user_id="bad id!")
    assert player.status_code == 403, player.content
    assert not ScoreEvent.objects.exists()


@pytest.mark.parametrize("body", [b'{"value": 1', b'{"value": NaN}', b'{"value": Infinity}', b"\xff\xfe"])
def test_malformed_json_bodies_are_400_parse_errors_and_write_nothing(auth_client, body):
    board = BoardFactory()
    response = auth_client.generic("POST", f"/api/v1/boards/{board.slug}/scores", body, "application/json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("JSON parse error")
    assert not ScoreEvent.objects.exists()


def test_integers_beyond_64_bits_in_metadata_are_kept_exactly(auth_client):
    board = BoardFactory()
    body = b'{"value": 1, "metadata": {"big": 123456789012345678901234567890, "low": -9223372036854775809}}'
    response = auth_client.generic("POST", f"/api/v1/boards/{board.slug}/scores", body, "application/json")
    assert response.status_code == 201, response.content
    assert ScoreEvent.objects.get().metadata == {"big": 123456789012345678901234567890, "low": -9223372036854775809}


def test_unknown_board_and_period_are_404s(auth_client, api_client):
    assert submit(auth_client, Board(slug="nope"), value=1).status_code == 404
    assert api_client.get("/api/v1/boards/nope/leaderboard/daily").status_code == 404
    assert api_client.get(f"/api/v1/boards/{BoardFactory().slug}/leaderboard/hourly").status_code == 404
    only_daily = BoardFactory(periods=["daily"])
    assert api_client.get(f"/api/v1/boards/{only_daily.slug}/leaderboard/weekly").status_code == 404


def test_the_idempotency_key_header_replays_the_first_response(auth_client):
    board = BoardFactory()
    first = auth_client.post(
        f"/api/v1/boards/{board.slug}/scores", {"value": 4}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    again = auth_client.post(
        f"/api/v1/boards/{board.slug}/scores", {"value": 4}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["event_id"] == first.json()["event_id"]
    assert again.json()["scores"] == first.json()["scores"]
    other_value = auth_client.post(
        f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    assert other_value.status_code == 409
    assert ScoreEvent.objects.count() == 1


def test_reads_top_around_users_rank_and_stats(api_client):
    board = BoardFactory()
    warming.board_warm(board=board)
    for i, score in enumerate([50, 40, 40, 30, 20]):
        services.score_submit(board=board, user_id=UserFactory(username=f"p{i}").username, value=score)
    base = f"/api/v1/boards/{board.slug}"

    top = api_client.get(f"{base}/leaderboard/daily?limit=3").json()
    assert top["cached"] is True and top["total"] == 5
    assert [(e["user_id"], e["rank"]) for e in top["entries"]] == [("p0", 1), ("p2", 2), ("p1", 2)]

    around = api_client.get(f"{base}/leaderboard/weekly/around/p4?limit=1").json()
    assert [e["user_id"] for e in around["entries"]] == ["p1", "p3", "p4"]

    members = api_client.get(f"{base}/leaderboard/monthly/users?user_ids=p4,p0,ghost").json()
    assert [e["user_id"] for e in members["entries"]] == ["p0", "p4"]
    assert members["unranked"] == ["ghost"]

    rank = api_client.get(f"{base}/leaderboard/all-time/rank/p3").json()
    assert (rank["rank"], rank["score"], rank["total"], rank["percentile"]) == (4, 30, 5, 40.0)

    stats = api_client.get(f"{base}/users/p1/stats").json()
    assert stats["scores"] == {"daily": 40, "weekly": 40, "monthly": 40, "yearly": 40, "all_time": 40}
    assert stats["cached"] is True and stats["updated_at"] and stats["cached_at"]


def test_stats_of_a_user_missing_from_the_cache_are_loaded_from_postgres_then_cached(api_client):
    board = BoardFactory()
    services.score_submit(board=board, user_id=UserFactory(username="p1").username, value=8)
    warming.cache_clear()
    first = api_client.get(f"/api/v1/boards/{board.slug}/users/p1/stats").json()
    second = api_client.get(f"/api/v1/boards/{board.slug}/users/p1/stats").json()
    assert first["cached"] is False and second["cached"] is True
    assert first["scores"] == second["scores"] == dict.fromkeys(["daily", "weekly", "monthly", "yearly", "all_time"], 8)


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("limit=0", {"limit": ["Ensure this value is greater than or equal to 1."]}),
        ("limit=101", {"limit": ["Ensure this value is less than or equal to 100."]}),
        (
            "limit=x&offset=-1",
            {
                "limit": ["A valid integer is required."],
                "offset": ["Ensure this value is greater than or equal to 0."],
            },
        ),
    ],
)
def test_bad_paging_is_a_400_with_drfs_messages(api_client, query, errors):
    board = BoardFactory()
    response = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily?{query}")
    assert response.status_code == 400
    assert response.json() == errors


def test_too_many_users_in_one_call_is_a_400(api_client):
    board = BoardFactory()
    ids = ",".join(f"u{i}" for i in range(101))
    response = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily/users?user_ids={ids}")
    assert response.status_code == 400 and "user_ids" in response.json()


def test_a_cold_bucket_is_warmed_once_by_concurrent_readers(api_client):
    from leaderboard import metrics
    from leaderboard.tests.helpers import in_threads

    board = BoardFactory()
    for i in range(300):
        services.score_submit(board=board, user_id=UserFactory(username=f"c{i:03d}").username, value=i)
    warming.cache_clear()
    warms = metrics.WARMS.labels("miss")
    before = warms._value.get()
    from leaderboard import selectors

    pages = in_threads(16, lambda _: selectors.leaderboard_page(board=board, period="daily", limit=5))
    assert warms._value.get() - before == 1
    assert {tuple((e.user_id, e.rank) for e in p.entries) for p in pages} == {
        (("c299", 1), ("c298", 2), ("c297", 3), ("c296", 4), ("c295", 5))
    }


def test_hot_path_payloads_match_their_documented_serializers():
    from leaderboard import selectors
    from leaderboard.api import serializers as s

    board = BoardFactory()
    warming.board_warm(board=board)
    result = services.score_submit(board=board, user_id=UserFactory().username, value=3, idempotency_key="x")
    assert s.submit_payload(result) == s.SubmitResultSerializer(result).data
    page = selectors.leaderboard_page(board=board, period="weekly")
    assert s.page_payload(page) == s.LeaderboardPageSerializer(page).data
    around = selectors.leaderboard_around(board=board, period="weekly", user_id=result.user_id)
    assert s.page_payload(around) == s.LeaderboardPageSerializer(around).data
    for user_id in (result.user_id, "nobody"):
        info = selectors.user_rank(board=board, period="daily", user_id=user_id)
        assert s.rank_payload(info) == s.RankSerializer(info).data


def test_hot_responses_are_byte_for_byte_what_drf_would_render():
    from rest_framework.renderers import JSONRenderer

    from leaderboard.api.views import json_response

    payload = {
        "user_id": "zoë",
        "note": "line\u2028break\u2029",
        "entries": [{"rank": 1, "score": -5}],
        "end": None,
        "percentiles": [100.0, 99.99, 0.01, 0.0, 33.33],
        "cached": True,
    }
    response = json_response(payload, status=201)
    assert response.status_code == 201 and response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(payload)


def test_reads_for_users_that_do_not_exist_write_nothing_to_redis(api_client):
    """Anonymous reads must not create Redis state (finding 4)."""

    board = BoardFactory()
    services.score_submit(board=board, user_id=UserFactory(username="real").username, value=3)
    before = store_connection.keys_count(store_keys.board_users_pattern(board.slug))
    for i in range(50):
        assert api_client.get(f"/api/v1/boards/{board.slug}/users/ghost{i}/stats").status_code in (200, 404)
    assert store_connection.keys_count(store_keys.board_users_pattern(board.slug)) == before
