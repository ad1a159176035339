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
]


@pytest.mark.parametrize(("method", "url"), ADMINISTRATIVE)
def test_a_non_staff_token_gets_403_and_no_token_401(api_client, auth_client, method, url):
    assert getattr(api_client, method)(url).status_code == 401
    assert getattr(auth_client, method)(url).status_code == 403


def test_the_django_admin_sends_non_staff_users_to_the_login_page(client, user):
    client.force_login(user)
    response = client.get("/admin/leaderboard/board/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
