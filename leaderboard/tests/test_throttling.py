"""Submit rate limits: per scored user, per IP for untrusted callers, 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from leaderboard import metrics
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def submit(client, board, **payload):
    return client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1, **payload}, format="json")


def test_a_user_past_the_rate_gets_429_with_retry_after(auth_client, settings):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "3/min"
    board = BoardFactory()
    codes = [submit(auth_client, board).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    throttled = submit(auth_client, board)
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "request_id" in throttled.json()


def test_the_per_ip_limit_counts_every_untrusted_caller_from_one_address(api_client, settings):
    settings.LEADERBOARD_SUBMIT_RATE_USER = ""
    settings.LEADERBOARD_SUBMIT_RATE_IP = "4/min"
    board = BoardFactory()
    codes = []
    for _ in range(3):
        api_client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory()))
        codes += [submit(api_client, board).status_code for _ in range(2)]
    assert codes == [201, 201, 201, 201, 429, 429]


def test_trusted_servers_skip_the_ip_limit_but_each_player_keeps_theirs(staff_client, settings):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "2/min"
    settings.LEADERBOARD_SUBMIT_RATE_IP = "2/min"
    board = BoardFactory()
    codes = [submit(staff_client, board, user_id=f"player{i}").status_code for i in range(5)]
    assert codes == [201] * 5
    repeated = [submit(staff_client, board, user_id="player0").status_code for _ in range(2)]
    assert repeated == [201, 429]


def test_limits_are_per_board(auth_client, settings):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "1/min"
    first, second = BoardFactory(), BoardFactory()
    assert submit(auth_client, first).status_code == 201
    assert submit(auth_client, second).status_code == 201
    assert submit(auth_client, first).status_code == 429


def _unavailable(scope: str, outcome: str) -> float:
    return metrics.RATE_LIMITS_UNAVAILABLE.labels(scope, outcome)._value.get()


def test_with_redis_down_submit_limits_fail_open_loudly(auth_client, settings, disposable_redis, caplog):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "1/min"
    board = BoardFactory()
    disposable_redis.stop()
    before = _unavailable("user", "allowed")
    assert [submit(auth_client, board).status_code for _ in range(3)] == [201, 201, 201]
    assert _unavailable("user", "allowed") == before + 3
    assert any(r.levelname == "ERROR" and "allowed unlimited" in r.getMessage() for r in caplog.records)


def test_with_redis_down_registration_fails_closed_with_a_json_503(api_client, settings, disposable_redis):
    settings.ACCOUNTS_REGISTER_RATE_IP = "30/hour"
    disposable_redis.stop()
    before = _unavailable("register", "refused")
    response = api_client.post(
        "/api/v1/auth/register", {"username": "newcomer", "password": "correct horse battery"}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "rate_limit_unavailable"
    assert _unavailable("register", "refused") == before + 1
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_the_failure_mode_of_each_scope_is_configurable(auth_client, settings, disposable_redis):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "1/min"
    settings.LEADERBOARD_RATE_LIMITS_FAIL_CLOSED = ["user"]
    board = BoardFactory()
    disposable_redis.stop()
    assert submit(auth_client, board).status_code == 503


def test_a_board_can_set_its_own_rates(auth_client, settings):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "100/min"
    strict = BoardFactory(rate_limit_user="2/min")
    relaxed = BoardFactory()
    assert [submit(auth_client, strict).status_code for _ in range(3)] == [201, 201, 429]
    assert [submit(auth_client, relaxed).status_code for _ in range(3)] == [201, 201, 201]


def test_a_rate_that_does_not_parse_is_refused_by_the_board_form():
    from django.core.exceptions import ValidationError

    board = BoardFactory.build(rate_limit_user="lots")
    with pytest.raises(ValidationError) as caught:
        board.full_clean()
    assert "rate_limit_user" in caught.value.message_dict


def test_an_oversized_body_is_refused_with_a_4xx(auth_client):
    board = BoardFactory()
    response = auth_client.post(
        f"/api/v1/boards/{board.slug}/scores", {"value": 1, "metadata": {"blob": "x" * 300_000}}, format="json"
    )
    assert 400 <= response.status_code < 500


# --------------------------------------------------------------------------- abuse (hardening findings 1 and 2)


def test_an_unauthorised_user_id_in_the_body_charges_nobody_elses_limit(api_client, settings):
    """Forbidden submits naming a victim must not use up the victim's limit."""
    settings.LEADERBOARD_SUBMIT_RATE_USER = "3/min"
    settings.LEADERBOARD_SUBMIT_RATE_IP = ""
    board = BoardFactory()
    attacker, victim = UserFactory(), UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=bearer(attacker))
    codes = [submit(api_client, board, user_id=victim.username).status_code for _ in range(6)]
    assert codes == [403] * 6
    api_client.credentials(HTTP_AUTHORIZATION=bearer(victim))
    assert [submit(api_client, board).status_code for _ in range(3)] == [201, 201, 201]


def test_a_named_user_id_cannot_escape_the_callers_own_limit(api_client, settings, default_boards):
    """Seed 002 books to the caller whatever the body says; so does the limit."""
    settings.LEADERBOARD_SUBMIT_RATE_USER = "3/min"
    settings.LEADERBOARD_SUBMIT_RATE_IP = ""
    api_client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory()))
    codes = [
        api_client.post("/api/v1/scores/increment", {"points": 1, "user_id": f"x{i}"}, format="json").status_code
        for i in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]


def test_a_forbidden_submit_on_the_core_api_is_refused_before_any_limit(api_client, settings):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "1/min"
    board = BoardFactory()
    api_client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory()))
    response = submit(api_client, board, user_id="someone-else")
    assert response.status_code == 403
    assert "yourself" in response.json()["detail"]


def test_x_forwarded_for_is_ignored_unless_proxies_are_configured(api_client, settings):
    """With NUM_PROXIES unset the socket address is the client, whatever the header claims."""
    settings.LEADERBOARD_SUBMIT_RATE_USER = ""
    settings.LEADERBOARD_SUBMIT_RATE_IP = "3/min"
    board = BoardFactory()
    codes = []
    for i in range(5):
        api_client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory()), HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        codes.append(submit(api_client, board).status_code)
    assert codes == [201, 201, 201, 429, 429]


def test_with_one_proxy_the_address_it_appended_is_the_client(api_client, settings):
    settings.LEADERBOARD_SUBMIT_RATE_USER = ""
    settings.LEADERBOARD_SUBMIT_RATE_IP = "2/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    board = BoardFactory()
    codes = []
    for i in range(3):
        # A client's own claim first, the address the proxy saw last.
        api_client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory()), HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 9.9.9.9")
        codes.append(submit(api_client, board).status_code)
    api_client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory()), HTTP_X_FORWARDED_FOR="9.9.9.8")
    codes.append(submit(api_client, board).status_code)
    assert codes == [201, 201, 429, 201]
