"""Submit rate limits: per scored user, per IP for untrusted callers, 429 with Retry-After."""

from __future__ import annotations

import pytest

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


def test_rate_limits_are_not_enforced_while_redis_is_down(auth_client, settings, disposable_redis):
    settings.LEADERBOARD_SUBMIT_RATE_USER = "1/min"
    board = BoardFactory()
    disposable_redis.stop()
    assert [submit(auth_client, board).status_code for _ in range(3)] == [201, 201, 201]


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
