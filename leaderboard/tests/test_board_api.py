"""Boards over the API: create, create-or-get, update, deactivate, reset; staff and manage_boards keys."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ServiceKey
from leaderboard import services
from leaderboard.models import Board, PeriodArchive
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db

LEVEL = {
    "name": "Level 212",
    "operator": "best",
    "sort_order": "asc",
    "periods": ["all_time", "daily"],
    "time_zone": "Europe/Paris",
    "min_value": 1,
    "max_value": 3_600_000,
    "authoritative": True,
}


def key_client(*, rights=("manage_boards",), boards=()) -> APIClient:
    _key, raw = ServiceKey.objects.create_key(name="deploy", rights=list(rights), boards=list(boards))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def manager() -> APIClient:
    return key_client()


def test_put_creates_a_board_then_gets_it(manager):
    created = manager.put("/api/v1/boards/level-212", LEVEL, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["slug"] == "level-212" and body["periods"] == ["daily", "all_time"] and body["is_active"]

    again = manager.put("/api/v1/boards/level-212", LEVEL, format="json")
    assert again.status_code == 200
    assert again.json() == body
    assert Board.objects.filter(slug="level-212").count() == 1
    assert APIClient().get("/api/v1/boards/level-212").status_code == 200


def test_put_with_another_definition_is_a_409_naming_the_fields(manager):
    assert manager.put("/api/v1/boards/level-7", LEVEL, format="json").status_code == 201
    response = manager.put("/api/v1/boards/level-7", {**LEVEL, "max_value": 10}, format="json")
    assert response.status_code == 409
    assert "max_value" in response.json()["detail"] and "PATCH" in response.json()["detail"]
    assert Board.objects.get(slug="level-7").max_value == LEVEL["max_value"]


def test_post_creates_and_a_slug_in_use_is_a_field_400(staff_client):
    created = staff_client.post("/api/v1/boards", {"slug": "speedrun", **LEVEL}, format="json")
    assert created.status_code == 201, created.content
    again = staff_client.post("/api/v1/boards", {"slug": "speedrun", **LEVEL}, format="json")
    assert again.status_code == 400 and "slug" in again.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"min_value": 10, "max_value": 5}, "max_value"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"rate_limit_user": "fast"}, "rate_limit_user"),
        ({"rate_limit_ip": "0/min"}, "rate_limit_ip"),
        ({"operator": "multiply"}, "operator"),
        ({"periods": []}, "periods"),
        ({"periods": ["hourly"]}, "periods"),
        ({"name": ""}, "name"),
    ],
)
def test_an_invalid_board_is_a_field_400(manager, change, field):
    response = manager.put("/api/v1/boards/bad-board", {**LEVEL, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Board.objects.filter(slug="bad-board").exists()


def test_an_invalid_slug_is_a_field_400(manager):
    response = manager.put("/api/v1/boards/not%20a%20slug", LEVEL, format="json")
    assert response.status_code == 400 and "slug" in response.json()


def test_patch_changes_a_board(manager):
    board = BoardFactory(max_value=100)
    response = manager.patch(f"/api/v1/boards/{board.slug}", {"max_value": 500, "name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    board.refresh_from_db()
    assert (board.max_value, board.name) == (500, "Renamed")
    # The process' board cache was cleared by the save: reads see it at once.
    assert services.board_get(slug=board.slug).max_value == 500


def test_changing_the_time_zone_of_a_board_with_standings_is_a_400_with_the_models_message(manager, staff_client):
    board = BoardFactory()
    player = UserFactory()
    assert (
        staff_client.post(
            f"/api/v1/boards/{board.slug}/scores", {"user_id": player.username, "value": 3}, format="json"
        ).status_code
        == 201
    )

    response = manager.patch(f"/api/v1/boards/{board.slug}", {"time_zone": "Asia/Tokyo"}, format="json")

    assert response.status_code == 400
    assert "This board holds standings" in response.json()["time_zone"][0]
    board.refresh_from_db()
    assert board.time_zone == "UTC"


def test_delete_deactivates_and_the_public_read_is_then_404(manager):
    board = BoardFactory()
    assert APIClient().get(f"/api/v1/boards/{board.slug}").status_code == 200

    assert manager.delete(f"/api/v1/boards/{board.slug}").status_code == 204

    assert APIClient().get(f"/api/v1/boards/{board.slug}").status_code == 404
    board.refresh_from_db()
    assert not board.is_active
    assert manager.delete(f"/api/v1/boards/{board.slug}").status_code == 204  # idempotent
    listed = manager.get("/api/v1/manage/boards").json()
    assert any(b["slug"] == board.slug and not b["is_active"] for b in listed)
    assert board.slug not in [b["slug"] for b in APIClient().get("/api/v1/boards").json()]
    # PATCH brings it back.
    assert manager.patch(f"/api/v1/boards/{board.slug}", {"is_active": True}, format="json").status_code == 200
    assert APIClient().get(f"/api/v1/boards/{board.slug}").status_code == 200


def test_unknown_boards_are_404(manager):
    assert manager.patch("/api/v1/boards/nope", {"name": "x"}, format="json").status_code == 404
    assert manager.delete("/api/v1/boards/nope").status_code == 404
    assert manager.post("/api/v1/boards/nope/leaderboard/daily/reset").status_code == 404


def test_reset_over_the_api_archives_the_period(manager, staff_client):
    board = BoardFactory()
    player = UserFactory()
    staff_client.post(f"/api/v1/boards/{board.slug}/scores", {"user_id": player.username, "value": 9}, format="json")

    response = manager.post(f"/api/v1/boards/{board.slug}/leaderboard/daily/reset")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["board"] == board.slug and body["period"] == "daily" and body["reason"] == "reset"
    assert body["participants"] == 1 and body["winners"] == [{"user_id": player.username, "score": 9, "rank": 1}]
    assert body["triggered_by"] == "key:deploy"
    assert PeriodArchive.objects.filter(pk=body["archive_id"], board=board).exists()
    page = APIClient().get(f"/api/v1/boards/{board.slug}/leaderboard/daily").json()
    assert page["entries"] == []


def test_keys_without_manage_boards_get_403_on_every_board_write():
    board = BoardFactory()
    client = key_client(rights=["submit", "create_players", "moderate"])
    assert client.post("/api/v1/boards", {"slug": "new", **LEVEL}, format="json").status_code == 403
    assert client.put("/api/v1/boards/new", LEVEL, format="json").status_code == 403
    assert client.patch(f"/api/v1/boards/{board.slug}", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/boards/{board.slug}").status_code == 403
    assert client.post(f"/api/v1/boards/{board.slug}/leaderboard/daily/reset").status_code == 403
    assert client.get("/api/v1/manage/boards").status_code == 403
    assert not Board.objects.filter(slug="new").exists()


def test_a_key_scoped_to_some_boards_manages_only_those():
    mine, other = BoardFactory(), BoardFactory()
    client = key_client(boards=[mine.slug, "level-9"])
    assert client.patch(f"/api/v1/boards/{mine.slug}", {"name": "Mine"}, format="json").status_code == 200
    assert client.patch(f"/api/v1/boards/{other.slug}", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/boards/{other.slug}").status_code == 403
    assert client.put("/api/v1/boards/level-9", LEVEL, format="json").status_code == 201
    assert client.put("/api/v1/boards/level-10", LEVEL, format="json").status_code == 403
    assert client.post("/api/v1/boards", {"slug": "level-11", **LEVEL}, format="json").status_code == 403
    assert sorted(b["slug"] for b in client.get("/api/v1/manage/boards").json()) == sorted([mine.slug, "level-9"])


def test_public_reads_stay_unauthenticated():
    board = BoardFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key not.valid")
    # A bad key on a public read is not even looked at.
    assert client.get(f"/api/v1/boards/{board.slug}").status_code == 200
    assert client.get("/api/v1/boards").status_code == 200


def test_a_board_update_never_undoes_a_reset_committed_meanwhile():
    """The caller read the board before a reset; its PATCH must not write the old resets back."""
    from leaderboard import boards
    from leaderboard.rollover import period_reset

    board = BoardFactory()
    stale = boards.board_for_write(slug=board.slug)
    period_reset(board=board, period="daily")
    resets = Board.objects.get(pk=board.pk).period_resets
    assert resets
    boards.board_update(board=stale, fields={"name": "Renamed"})
    fresh = Board.objects.get(pk=board.pk)
    assert fresh.name == "Renamed"
    assert fresh.period_resets == resets
