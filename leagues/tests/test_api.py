"""The leagues' endpoints through the API client: my league, a league by level and number, errors, schema."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import bearer
from leagues.tests.helpers import league_board, play

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user_id: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory(username=user_id)))
    return client


def test_my_league_answers_the_league_its_standings_zones_and_my_rank():
    board = league_board(slug="arena", size=3, promote=1, demote=1, levels=["Bronze", "Silver"])
    play(board, {"ann": 10, "bob": 30, "cid": 20, "dee": 5})
    body = client_for("cid").get("/api/v1/boards/arena/leagues/weekly/me").json()
    assert body["board"] == "arena" and body["period"] == "weekly"
    assert body["bucket"]["end"] is not None
    assert body["league"] == {
        "level": 0,
        "level_name": "Bronze",
        "number": 1,
        "members": 3,
        "size": 3,
        "promote": 1,
        "demote": 1,
    }
    assert body["entries"] == [
        {"user_id": "bob", "score": 30, "rank": 1, "zone": "promote"},
        {"user_id": "cid", "score": 20, "rank": 2, "zone": "stay"},
        {"user_id": "ann", "score": 10, "rank": 3, "zone": "demote"},
    ]
    assert body["me"] == {"user_id": "cid", "score": 20, "rank": 2, "zone": "stay"}
    assert body["ranked"] == 3 and body["cached"] is False
    assert client_for("cid").get("/api/v1/boards/arena/leagues/weekly/me").json()["cached"] is True

    other = client_for("ann").get("/api/v1/boards/arena/leagues/weekly/0/2").json()
    assert [e["user_id"] for e in other["entries"]] == ["dee"]
    assert other["me"] is None and other["league"]["members"] == 1


def test_league_reads_need_authentication():
    league_board(slug="arena")
    assert APIClient().get("/api/v1/boards/arena/leagues/weekly/me").status_code == 401
    assert APIClient().get("/api/v1/boards/arena/leagues/weekly/0/1").status_code == 401


def test_missing_boards_leagues_and_players_are_404_json_with_a_message():
    BoardFactory(slug="plain")
    league_board(slug="arena")
    client = client_for("nobody")
    cases = {
        "/api/v1/boards/missing/leagues/weekly/me": "No board",
        "/api/v1/boards/plain/leagues/weekly/me": "has no leagues",
        "/api/v1/boards/arena/leagues/daily/me": "on the weekly period",
        "/api/v1/boards/arena/leagues/weekly/me": "first score of the period",
        "/api/v1/boards/arena/leagues/weekly/0/1": "No league 1 at level 0",
        "/api/v1/boards/arena/leagues/weekly/99999999999999999999/1": "No league 1 at level",
    }
    for url, message in cases.items():
        response = client.get(url)
        assert response.status_code == 404, url
        assert message in response.json()["detail"], url


def test_bad_query_parameters_are_400_with_field_messages():
    board = league_board(slug="arena")
    play(board, {"ann": 1})
    client = client_for("ann")
    response = client.get("/api/v1/boards/arena/leagues/weekly/me", {"limit": "0", "offset": "x"})
    assert response.status_code == 400
    assert set(response.json()) == {"limit", "offset"}
    response = client.get("/api/v1/boards/arena/leagues/weekly/0/1", {"limit": "5000"})
    assert response.status_code == 400 and list(response.json()) == ["limit"]


def test_the_endpoints_are_in_the_openapi_schema(api_client):
    paths = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert "get" in paths["/api/v1/boards/{slug}/leagues/{period}/me"]
    assert "get" in paths["/api/v1/boards/{slug}/leagues/{period}/{level}/{number}"]
