"""Every administrative endpoint refuses anonymous callers (401) and non-staff tokens (403)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ADMINISTRATIVE = [
    ("get", "/api/periodic-sync/status"),
    ("post", "/api/periodic-sync/sync"),
    ("get", "/api/periodic-sync/runs/1"),
    ("post", "/api/periodic-sync/start"),
    ("post", "/api/periodic-sync/stop"),
    ("get", "/api/periodic-sync/health"),
    ("get", "/api/periodic-sync/metrics"),
    ("post", "/api/redis-leaderboard/admin/sync"),
    ("post", "/api/redis-leaderboard/admin/reset/daily"),
    ("get", "/api/redis-leaderboard/admin/status"),
    ("delete", "/api/redis-leaderboard/admin/cache"),
    # Boards over the API (staff, or a service key with manage_boards on the board).
    ("get", "/api/v1/manage/boards"),
    ("post", "/api/v1/boards"),
    ("put", "/api/v1/boards/score"),
    ("patch", "/api/v1/boards/score"),
    ("delete", "/api/v1/boards/score"),
    ("post", "/api/v1/boards/score/leaderboard/daily/reset"),
    ("get", "/api/v1/boards/score/webhooks"),
    ("post", "/api/v1/boards/score/webhooks"),
    ("delete", "/api/v1/boards/score/webhooks/1"),
    ("post", "/api/v1/moderation/players/someone/remove"),
    ("post", "/api/v1/moderation/players/someone/ban"),
    ("post", "/api/v1/moderation/players/someone/unban"),
    ("post", "/api/v1/moderation/players/someone/erase"),
]


@pytest.mark.parametrize(("method", "url"), ADMINISTRATIVE)
def test_a_non_staff_token_gets_403_and_no_token_401(api_client, auth_client, method, url):
    assert getattr(api_client, method)(url).status_code == 401
    assert getattr(auth_client, method)(url).status_code == 403


def _key_client(**scope):
    from rest_framework.test import APIClient

    from accounts.models import ServiceKey

    _key, raw = ServiceKey.objects.create_key(name="scoped", **scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.mark.parametrize(("method", "url"), ADMINISTRATIVE)
def test_a_service_key_without_rights_gets_403(method, url):
    assert getattr(_key_client(rights=[]), method)(url).status_code == 403


@pytest.mark.parametrize(("method", "url"), [(m, u) for m, u in ADMINISTRATIVE if u.startswith("/api/v1/boards/score")])
def test_a_service_key_with_every_right_on_another_board_gets_403(method, url):
    client = _key_client(rights=["submit", "create_players", "manage_boards", "moderate"], boards=["other"])
    assert getattr(client, method)(url).status_code == 403


def test_the_django_admin_sends_non_staff_users_to_the_login_page(client, user):
    client.force_login(user)
    response = client.get("/admin/leaderboard/board/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
