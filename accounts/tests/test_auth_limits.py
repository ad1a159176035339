"""Registration and login are rate limited (hardening finding 3): 429 with Retry-After."""

from __future__ import annotations

import pytest

from accounts.models import User
from leaderboard.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

STRONG = "correct horse battery staple"


def test_registrations_from_one_address_are_limited(api_client, settings):
    settings.ACCOUNTS_REGISTER_RATE_IP = "3/hour"
    codes = [
        api_client.post("/api/v1/auth/register", {"username": f"new{i}", "password": STRONG}, format="json").status_code
        for i in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]
    refused = api_client.post("/api/v1/auth/register", {"username": "late", "password": STRONG}, format="json")
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert refused.json()["detail"]
    assert not User.objects.filter(username__in=["new3", "new4", "late"]).exists()


def test_seed_004_registration_shares_the_limit(api_client, settings):
    settings.ACCOUNTS_REGISTER_RATE_IP = "2/hour"
    core = api_client.post("/api/v1/auth/register", {"username": "a1", "password": STRONG}, format="json")
    seed = api_client.post("/v1/auth/register", {"username": "a2", "password": STRONG}, format="json")
    third = api_client.post("/v1/auth/register", {"username": "a3", "password": STRONG}, format="json")
    assert [core.status_code, seed.status_code, third.status_code] == [201, 201, 429]


def test_a_guesser_elsewhere_cannot_lock_a_player_out(api_client, settings):
    """Player ids are public: failures from one address lock that address out of that account only."""
    settings.ACCOUNTS_LOGIN_FAILURES_USER = "3/15min"
    settings.ACCOUNTS_LOGIN_FAILURES_IP = ""
    user = UserFactory()
    codes = [
        api_client.post(
            "/api/v1/auth/token", {"username": user.username, "password": "x"}, format="json", REMOTE_ADDR="10.9.9.9"
        ).status_code
        for _ in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    player = api_client.post(
        "/api/v1/auth/token", {"username": user.username, "password": STRONG}, format="json", REMOTE_ADDR="10.1.1.1"
    )
    assert player.status_code == 200


def test_white_space_around_a_username_is_the_same_account_and_the_same_counter(api_client, settings):
    settings.ACCOUNTS_LOGIN_FAILURES_USER = "3/15min"
    settings.ACCOUNTS_LOGIN_FAILURES_IP = ""
    user = UserFactory()
    names = [user.username, f" {user.username}", f"{user.username}  ", f"\t{user.username}", user.username]
    codes = [
        api_client.post("/api/v1/auth/token", {"username": n, "password": "x"}, format="json").status_code
        for n in names
    ]
    assert codes == [401, 401, 401, 429, 429]


def test_deleting_an_account_counts_failures_against_the_caller_not_a_named_user(api_client, settings):
    from leaderboard_project.conftest_helpers import bearer

    settings.ACCOUNTS_LOGIN_FAILURES_USER = "2/15min"
    settings.ACCOUNTS_LOGIN_FAILURES_IP = ""
    victim, attacker = UserFactory(), UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=bearer(attacker))
    for _ in range(4):
        api_client.delete("/api/v1/auth/me", {"password": "wrong", "username": victim.username}, format="json")
    api_client.credentials()
    assert (
        api_client.post(
            "/api/v1/auth/token", {"username": victim.username, "password": STRONG}, format="json"
        ).status_code
        == 200
    )
    assert (
        api_client.post(
            "/api/v1/auth/token", {"username": attacker.username, "password": STRONG}, format="json"
        ).status_code
        == 429
    )


def test_failed_logins_for_one_username_are_limited_even_across_addresses(api_client, settings):
    settings.ACCOUNTS_LOGIN_FAILURES_USER = ""
    settings.ACCOUNTS_LOGIN_FAILURES_USER_ANY_IP = "3/15min"
    settings.ACCOUNTS_LOGIN_FAILURES_IP = ""
    user = UserFactory()
    codes = []
    for i in range(5):
        codes.append(
            api_client.post(
                "/api/v1/auth/token",
                {"username": user.username, "password": "wrong"},
                format="json",
                REMOTE_ADDR=f"10.1.1.{i}",
            ).status_code
        )
    assert codes == [401, 401, 401, 429, 429]
    # Locked out for now, even with the right password: the attacker cannot keep guessing.
    right = api_client.post("/api/v1/auth/token", {"username": user.username, "password": STRONG}, format="json")
    assert right.status_code == 429
    assert int(right["Retry-After"]) >= 1


def test_failed_logins_from_one_address_are_limited_across_usernames(api_client, settings):
    settings.ACCOUNTS_LOGIN_FAILURES_USER = ""
    settings.ACCOUNTS_LOGIN_FAILURES_USER_ANY_IP = ""
    settings.ACCOUNTS_LOGIN_FAILURES_IP = "4/15min"
    codes = [
        api_client.post("/v1/auth/token", {"username": f"nobody{i}", "password": "x"}).status_code for i in range(6)
    ]
    assert codes == [401, 401, 401, 401, 429, 429]
    other = api_client.post("/api/v1/auth/token", {"username": "nobody9", "password": "x"}, format="json")
    assert other.status_code == 429


def test_successful_logins_are_not_counted(api_client, settings):
    settings.ACCOUNTS_LOGIN_FAILURES_USER = "2/15min"
    settings.ACCOUNTS_LOGIN_FAILURES_USER_ANY_IP = "2/15min"
    settings.ACCOUNTS_LOGIN_FAILURES_IP = "2/15min"
    user = UserFactory()
    codes = [
        api_client.post(
            "/api/v1/auth/token", {"username": user.username, "password": STRONG}, format="json"
        ).status_code
        for _ in range(5)
    ]
    assert codes == [200] * 5


def test_wrong_passwords_when_deleting_an_account_lock_out_like_failed_logins(api_client, settings):
    from leaderboard_project.conftest_helpers import bearer

    settings.ACCOUNTS_LOGIN_FAILURES_USER = "2/15min"
    settings.ACCOUNTS_LOGIN_FAILURES_IP = ""
    user = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    codes = [api_client.delete("/api/v1/auth/me", {"password": "wrong"}, format="json").status_code for _ in range(3)]
    assert codes == [403, 403, 429]
    assert api_client.delete("/api/v1/auth/me", {"password": STRONG}, format="json").status_code == 429
    assert User.objects.get(pk=user.pk).is_active
    # Failed deletions lock out logins too: it is one password-guessing budget.
    login = api_client.post("/api/v1/auth/token", {"username": user.username, "password": STRONG}, format="json")
    assert login.status_code == 429
