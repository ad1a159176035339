"""Contract tests: each seed's documented requests, response fields and status codes."""

from __future__ import annotations

from datetime import date

import pytest

from leaderboard import services
from leaderboard.models import Board, ScoreEvent
from leaderboard.tests.factories import UserFactory
from leaderboard_project.conftest_helpers import bearer

pytestmark = pytest.mark.django_db(transaction=True)

POMO_FIELDS = {"daily_pomo", "weekly_pomo", "monthly_pomo", "yearly_pomo"}


@pytest.fixture(autouse=True)
def _boards(default_boards):
    """Every seed surface works on a default board."""


@pytest.fixture
def trusted(staff):
    """A trusted server's client (staff token); ``api_client`` stays anonymous."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(staff))
    return client


# --------------------------------------------------------------------------- seed 000


def test_seed000_update_then_leaderboard_stats_and_rank(trusted, api_client):
    # The seed's own example body: {"user_id": "user123", "count": 1}
    response = trusted.post("/api/redis-leaderboard/update", {"user_id": "user123", "count": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["success"] is True
    trusted.post("/api/redis-leaderboard/update", {"user_id": "user123", "count": 2}, format="json")
    trusted.post("/api/redis-leaderboard/update", {"user_id": "user456"}, format="json")  # count defaults to 1

    board = trusted.get("/api/redis-leaderboard/daily?limit=20").json()
    assert set(board) == {"success", "period", "total_entries", "cached", "entries"}
    assert (board["success"], board["period"], board["total_entries"], board["cached"]) == (True, "daily", 2, True)
    first = board["entries"][0]
    assert set(first) == {"user_id", "score", "rank"} | POMO_FIELDS
    assert (first["user_id"], first["score"], first["rank"]) == ("user123", 3, 1)
    assert first["daily_pomo"] == first["weekly_pomo"] == first["monthly_pomo"] == first["yearly_pomo"] == 3

    stats = api_client.get("/api/redis-leaderboard/user/user123").json()
    assert set(stats) == {"user_id", "updated_at", "cached_at"} | POMO_FIELDS
    assert stats["daily_pomo"] == 3 and stats["updated_at"] and stats["cached_at"]

    rank = api_client.get("/api/redis-leaderboard/user/user456/rank/weekly").json()
    assert rank == {"user_id": "user456", "period": "weekly", "rank": 2, "score": 1, "total_users": 2}


def test_seed000_errors(trusted, auth_client, api_client):
    assert (
        api_client.post("/api/redis-leaderboard/update", {"user_id": "x", "count": 1}, format="json").status_code == 401
    )
    other = auth_client.post("/api/redis-leaderboard/update", {"user_id": "someone-else"}, format="json")
    assert other.status_code == 403
    bad = trusted.post("/api/redis-leaderboard/update", {"user_id": "user123", "count": 0}, format="json")
    assert bad.status_code == 400 and "count" in bad.json()
    assert trusted.post("/api/redis-leaderboard/update", {"count": 1}, format="json").json() == {
        "user_id": ["This field is required."]
    }
    assert api_client.get("/api/redis-leaderboard/all_time").status_code == 404
    assert api_client.get("/api/redis-leaderboard/daily?limit=0").status_code == 400
    assert api_client.get("/api/redis-leaderboard/user/nobody-here").status_code == 404
    assert not ScoreEvent.objects.exists()


ADMIN = [
    ("post", "/api/redis-leaderboard/admin/sync"),
    ("post", "/api/redis-leaderboard/admin/reset/daily"),
    ("get", "/api/redis-leaderboard/admin/status"),
    ("delete", "/api/redis-leaderboard/admin/cache"),
]


@pytest.mark.parametrize(("method", "url"), ADMIN)
def test_seed000_admin_endpoints_are_staff_only(auth_client, api_client, method, url):
    assert getattr(api_client, method)(url).status_code == 401
    assert getattr(auth_client, method)(url).status_code == 403


def test_seed000_admin_status_reset_sync_and_clear(trusted):
    trusted.post("/api/redis-leaderboard/update", {"user_id": "user123", "count": 4}, format="json")
    status = trusted.get("/api/redis-leaderboard/admin/status").json()
    assert status["redis"]["connected"] and status["postgres"]["connected"]
    assert status["leaderboards"]["daily"]["redis"] == status["leaderboards"]["daily"]["postgres"] == 1
    assert status["redis"]["keys"] > 0 and "hit_rate" in status["redis"]

    reset = trusted.post("/api/redis-leaderboard/admin/reset/daily").json()
    assert reset["success"] and reset["archived_participants"] == 1
    assert trusted.get("/api/redis-leaderboard/daily").json()["entries"] == []
    assert trusted.get("/api/redis-leaderboard/weekly").json()["entries"][0]["score"] == 4

    sync = trusted.post("/api/redis-leaderboard/admin/sync")
    assert sync.status_code == 202 and sync.json()["success"]
    cleared = trusted.delete("/api/redis-leaderboard/admin/cache").json()
    assert cleared["success"] and cleared["deleted_keys"] > 0
    again = trusted.get("/api/redis-leaderboard/weekly").json()
    assert again["cached"] is False and again["entries"][0]["score"] == 4


# --------------------------------------------------------------------------- seed 002


def test_seed002_increment(auth_client, api_client):
    response = auth_client.post("/api/v1/scores/increment", {"points": 10}, format="json")
    assert response.status_code == 200
    assert response.json() == {"success": True, "newScore": 10}
    assert auth_client.post("/api/v1/scores/increment", {"points": 140}, format="json").json()["newScore"] == 150
    assert api_client.post("/api/v1/scores/increment", {"points": 10}, format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert api_client.post("/api/v1/scores/increment", {"points": 10}, format="json").status_code == 401
    for body in ({}, {"points": "ten"}, {"points": 0}):
        bad = auth_client.post("/api/v1/scores/increment", body, format="json")
        assert bad.status_code == 400 and "points" in bad.json()


# --------------------------------------------------------------------------- seed 003


def test_seed003_submit_records_a_game_session_then_top_and_rank(auth_client, api_client):
    me = auth_client.user.username
    response = auth_client.post("/api/leaderboard/submit", {"user_id": me, "score": 120}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["user_id"], body["score"], body["total_score"], body["rank"]) == (me, 120, 120, 1)
    assert ScoreEvent.objects.get(pk=body["session_id"]).value == 120
    top = api_client.get("/api/leaderboard/top").json()
    assert top["leaderboard"] == [{"rank": 1, "user_id": me, "total_score": 120}]
    assert api_client.get(f"/api/leaderboard/rank/{me}").json() == {
        "user_id": me,
        "rank": 1,
        "total_score": 120,
        "total_players": 1,
    }
    assert api_client.get("/api/leaderboard/rank/nobody").status_code == 404
    assert (
        auth_client.post("/api/leaderboard/submit", {"user_id": "other", "score": 1}, format="json").status_code == 403
    )
    assert auth_client.post("/api/leaderboard/submit", {"user_id": me}, format="json").status_code == 400


# --------------------------------------------------------------------------- seed 004


def test_seed004_register_token_submit_global_my_rank_and_report(api_client):
    creds = {"username": "alice", "password": "correct horse battery staple"}
    registered = api_client.post("/v1/auth/register", creds, format="json")
    assert registered.status_code == 201 and registered.json()["username"] == "alice"
    assert api_client.post("/v1/auth/register", creds, format="json").status_code == 400
    # OAuth2 password flow: form-encoded, like FastAPI's OAuth2PasswordRequestForm.
    token = api_client.post("/v1/auth/token", creds)
    assert token.status_code == 200 and token.json()["token_type"] == "bearer"
    assert api_client.post("/v1/auth/token", {**creds, "password": "wrong"}).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")

    for score in (500, 900, 700):
        result = api_client.post("/v1/scores/submit", {"score": score}, format="json")
        assert result.status_code == 200
    assert result.json() == {"username": "alice", "score": 700, "high_score": 900, "rank": 1}
    bob = UserFactory(username="bob")
    services.score_submit(board=Board.objects.get(slug="high-score"), user_id=bob.username, value=1000)

    page = api_client.get("/v1/leaderboard/global?page=1&size=1").json()
    assert page["total"] == 2 and page["items"] == [{"rank": 1, "username": "bob", "score": 1000}]
    second = api_client.get("/v1/leaderboard/global?page=2&size=1").json()
    assert second["items"] == [{"rank": 2, "username": "alice", "score": 900}]
    assert api_client.get("/v1/leaderboard/my_rank").json() == {
        "username": "alice",
        "rank": 2,
        "score": 900,
        "total": 2,
    }

    today = date.today().isoformat()
    report = api_client.get(f"/v1/reports/top_players?start_date={today}&end_date={today}").json()
    assert [(p["username"], p["high_score"], p["submissions"]) for p in report["players"]] == [
        ("bob", 1000, 1),
        ("alice", 900, 3),
    ]
    bad = api_client.get(f"/v1/reports/top_players?start_date={today}&end_date=2000-01-01")
    assert bad.status_code == 400 and "end_date" in bad.json()
    api_client.credentials()
    assert api_client.get("/v1/leaderboard/my_rank").status_code == 401
    assert api_client.post("/v1/scores/submit", {"score": 1}, format="json").status_code == 401


def test_seed000_status_reports_a_redis_that_does_not_answer(trusted, settings, unused_tcp_port):
    from leaderboard.store import connection as store_connection

    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"
    store_connection.reset_clients()
    response = trusted.get("/api/redis-leaderboard/admin/status")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["redis"]["connected"] is False and body["redis"]["error"]
    assert body["postgres"] == {"connected": True}
