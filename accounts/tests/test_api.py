from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User

pytestmark = pytest.mark.django_db

STRONG = "correct horse battery staple"


def register(client, username="alice", password=STRONG, **extra):
    return client.post("/api/v1/auth/register", {"username": username, "password": password, **extra}, format="json")


def test_register_creates_a_user_with_a_hashed_password(api_client):
    response = register(api_client, email="alice@example.com")
    assert response.status_code == 201, response.content
    assert response.json()["user_id"] == "alice"
    user = User.objects.get(username="alice")
    assert user.check_password(STRONG)
    assert user.password != STRONG


def test_registering_the_same_username_twice_is_a_400_with_a_field_message(api_client):
    assert register(api_client).status_code == 201
    response = register(api_client)
    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that user id already exists."]}
    assert User.objects.filter(username="alice").count() == 1


def test_weak_passwords_are_rejected_by_djangos_validators(api_client):
    response = register(api_client, password="123")
    assert response.status_code == 400
    messages = response.json()["password"]
    assert any("too short" in m for m in messages)
    assert any("entirely numeric" in m for m in messages)
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": STRONG}, "username"),
        ({"username": "bob"}, "password"),
        ({"username": "has space", "password": STRONG}, "username"),
        ({"username": "x" * 65, "password": STRONG}, "username"),
        ({"username": "bob", "password": STRONG, "email": "not-an-email"}, "email"),
    ],
)
def test_bad_registration_payloads_name_the_field(api_client, payload, field):
    response = api_client.post("/api/v1/auth/register", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_malformed_json_is_a_400_not_a_500(api_client):
    response = api_client.generic("POST", "/api/v1/auth/register", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_token_pair_refresh_and_me(api_client):
    register(api_client)
    tokens = api_client.post("/api/v1/auth/token", {"username": "alice", "password": STRONG}, format="json")
    assert tokens.status_code == 200
    access, refresh = tokens.json()["access"], tokens.json()["refresh"]

    me = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert me.status_code == 200
    assert me.json()["user_id"] == "alice"

    refreshed = api_client.post("/api/v1/auth/token/refresh", {"refresh": refresh}, format="json")
    assert refreshed.status_code == 200
    assert refreshed.json()["access"] != access
    # Rotation blacklists the old refresh token.
    again = api_client.post("/api/v1/auth/token/refresh", {"refresh": refresh}, format="json")
    assert again.status_code == 401


def test_wrong_password_is_a_401(api_client):
    register(api_client)
    response = api_client.post("/api/v1/auth/token", {"username": "alice", "password": "wrong"}, format="json")
    assert response.status_code == 401


def test_me_without_a_token_is_a_401(api_client):
    assert api_client.get("/api/v1/auth/me").status_code == 401


def test_a_tampered_token_is_a_401(api_client, user):
    token = str(AccessToken.for_user(user))
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {tampered}")
    assert response.status_code == 401


def test_an_expired_token_is_a_401(api_client, user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_createsuperuser_makes_an_operator(db):
    from django.core.management import call_command

    call_command("createsuperuser", "--noinput", username="ops", email="ops@example.com")
    operator = User.objects.get(username="ops")
    assert operator.is_staff and operator.is_superuser


def test_a_deactivated_user_is_refused_at_once_in_the_process_that_saved_it(api_client, user):
    from leaderboard_project.conftest_helpers import bearer

    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    assert api_client.get("/api/v1/auth/me").status_code == 200
    user.is_active = False
    user.save()
    assert api_client.get("/api/v1/auth/me").status_code == 401


def test_a_verified_token_is_not_reused_past_its_expiry(api_client, user, settings):
    import time

    settings.ACCOUNTS_USER_CACHE_SECONDS = 60
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=2))
    header = f"Bearer {token}"
    assert api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=header).status_code == 200
    time.sleep(2.2)
    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
