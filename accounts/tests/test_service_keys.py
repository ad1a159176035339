"""Service API keys: game servers submit with ``Authorization: Api-Key``, scoped by board and right."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ServiceKey, User
from accounts.service_keys import LAST_USED_RESOLUTION, KeyPrincipal
from leaderboard.models import ScoreEvent
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db

ALL_RIGHTS = ["submit", "create_players", "manage_boards", "moderate"]


class KeyClient(APIClient):
    """A client that authenticates with one service key, and knows that key's row."""

    key: ServiceKey


def key_client(*, name: str = "game-server", rights=("submit",), boards=(), **fields) -> KeyClient:
    key, raw = ServiceKey.objects.create_key(name=name, rights=list(rights), boards=list(boards), **fields)
    assert isinstance(key, ServiceKey)  # the library's manager is typed with its abstract model
    client = KeyClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    client.key = key
    return client


def submit(client: APIClient, slug: str, user_id: str, value: int = 5):
    return client.post(f"/api/v1/boards/{slug}/scores", {"user_id": user_id, "value": value}, format="json")


def test_a_key_submits_for_any_player_and_the_event_names_the_key():
    board = BoardFactory()
    player = UserFactory()
    client = key_client(name="eu-1")

    response = submit(client, board.slug, player.username, 7)

    assert response.status_code == 201, response.content
    assert response.json()["user_id"] == player.username
    event = ScoreEvent.objects.get(board=board, user=player)
    assert event.value == 7 and event.submitted_by == "key:eu-1"


def test_a_key_with_submit_may_submit_to_an_authoritative_board():
    board = BoardFactory(authoritative=True)
    player = UserFactory()

    assert submit(key_client(), board.slug, player.username).status_code == 201
    # A player submitting for themselves is still refused there.
    player_client = APIClient()
    player_client.force_authenticate(player)
    assert player_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1}, format="json").status_code == 403


def test_a_key_scoped_to_board_a_gets_403_on_board_b():
    board_a, board_b = BoardFactory(), BoardFactory()
    player = UserFactory()
    client = key_client(boards=[board_a.slug])

    assert submit(client, board_a.slug, player.username).status_code == 201
    refused = submit(client, board_b.slug, player.username)
    assert refused.status_code == 403
    assert board_b.slug in refused.json()["detail"]
    assert not ScoreEvent.objects.filter(board=board_b).exists()


def test_a_key_without_the_submit_right_cannot_submit():
    board = BoardFactory()
    player = UserFactory()
    assert submit(key_client(rights=["manage_boards"]), board.slug, player.username).status_code == 403


def test_a_key_must_name_the_player():
    board = BoardFactory()
    response = key_client().post(f"/api/v1/boards/{board.slug}/scores", {"value": 1}, format="json")
    assert response.status_code == 403
    assert "name the player" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)  # the user foreign key is checked at commit
def test_a_key_without_create_players_cannot_create_an_unknown_player():
    board = BoardFactory()

    refused = submit(key_client(name="no-create"), board.slug, "newcomer")
    assert refused.status_code == 404
    assert "No user" in refused.json()["detail"]
    assert not User.objects.filter(username="newcomer").exists()

    created = submit(key_client(name="creator", rights=["submit", "create_players"]), board.slug, "newcomer")
    assert created.status_code == 201
    assert User.objects.filter(username="newcomer").exists()


def test_an_expired_key_is_refused_with_401():
    board = BoardFactory()
    player = UserFactory()
    client = key_client(expiry_date=timezone.now() - timedelta(seconds=1))

    response = submit(client, board.slug, player.username)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_revoked_key_is_refused_on_the_very_next_request_of_the_same_process():
    board = BoardFactory()
    player = UserFactory()
    client = key_client()
    assert submit(client, board.slug, player.username).status_code == 201

    ServiceKey.objects.filter(pk=client.key.pk).update(revoked=True)

    assert submit(client, board.slug, player.username).status_code == 401


def test_a_deleted_key_is_refused_on_the_very_next_request():
    board = BoardFactory()
    player = UserFactory()
    client = key_client()
    assert submit(client, board.slug, player.username).status_code == 201

    ServiceKey.objects.filter(pk=client.key.pk).delete()

    assert submit(client, board.slug, player.username).status_code == 401


def test_verification_is_never_cached_every_request_reads_the_key():
    """Revocation within a second on every process holds because no process keeps a verified key."""
    board = BoardFactory()
    player = UserFactory()
    client = key_client()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert submit(client, board.slug, player.username).status_code == 201
        assert sum('FROM "accounts_servicekey"' in q["sql"] for q in queries.captured_queries) == 1


@pytest.mark.parametrize(
    "header",
    ["Api-Key ", "Api-Key nodot", "Api-Key abc.def", "Api-Key toolongprefix.secret", "Api-Key a\u00e9.x"],
)
def test_malformed_or_unknown_keys_are_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.post("/api/v1/boards/score/scores", {"user_id": "x", "value": 1}, format="json").status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute():
    board = BoardFactory()
    player = UserFactory()
    client = key_client()
    assert ServiceKey.objects.get(pk=client.key.pk).last_used_at is None

    assert submit(client, board.slug, player.username).status_code == 201
    first = ServiceKey.objects.get(pk=client.key.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        assert submit(client, board.slug, player.username).status_code == 201
    assert not any(q["sql"].startswith('UPDATE "accounts_servicekey"') for q in queries.captured_queries)
    assert ServiceKey.objects.get(pk=client.key.pk).last_used_at == first

    ServiceKey.objects.filter(pk=client.key.pk).update(last_used_at=first - LAST_USED_RESOLUTION - timedelta(seconds=1))
    assert submit(client, board.slug, player.username).status_code == 201
    latest = ServiceKey.objects.get(pk=client.key.pk).last_used_at
    assert latest is not None and latest > first


def test_the_key_is_stored_hashed_only():
    key, raw = ServiceKey.objects.create_key(name="hashed", rights=["submit"])
    stored = ServiceKey.objects.get(pk=key.pk)
    secret = raw.partition(".")[2]
    assert secret not in stored.hashed_key and secret not in stored.pk
    assert stored.is_valid(raw)


def test_a_key_has_no_account():
    assert key_client(rights=ALL_RIGHTS).get("/api/v1/auth/me").status_code == 403


def test_the_principal_answers_what_callers_ask():
    principal = KeyPrincipal(key_id="x", name="eu-1", rights=frozenset({"submit"}), boards=frozenset({"a"}))
    assert principal.is_authenticated and principal.is_active and not principal.is_staff
    assert principal.pk is None and principal.get_username() == principal.username == "key:eu-1"
    assert principal.can_submit_for_others()
    assert principal.has_right("submit", "a") and principal.has_right("submit", None)
    assert not principal.has_right("submit", "b") and not principal.has_right("moderate", "a")


def test_the_admin_creates_a_key_and_shows_it_once(client, staff):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    response = client.post(
        "/admin/accounts/servicekey/add/",
        {"name": "deploy", "rights": ["submit", "manage_boards"], "boards": "level-1,level-2"},
        follow=True,
    )
    assert response.status_code == 200
    key = ServiceKey.objects.get(name="deploy")
    assert key.rights == ["manage_boards", "submit"] and key.boards == ["level-1", "level-2"]
    shown = [str(m) for m in response.context["messages"]]
    assert any(key.prefix in m and "will not be able to see it again" in m for m in shown)
    assert client.get(f"/admin/accounts/servicekey/{key.pk}/change/").status_code == 200
