"""Submission caps (``Board.submission_cap``): exact under racing submits, per bucket of the cap's period,
refused with a 409 that writes nothing, and no cost for boards without a cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from leaderboard import moderation, services, warming
from leaderboard.models import Board, ScoreEvent, Standing, SubmissionCount
from leaderboard.rollover import period_reset
from leaderboard.tests.factories import BoardFactory, SubmissionCountFactory, UserFactory
from leaderboard.tests.helpers import in_threads, pg_members, redis_members
from leaderboard.tests.test_query_counts import statements_sent
from leaderboard_project.conftest_helpers import bearer
from leaderboard_project.exceptions import Forbidden, NotFound

pytestmark = pytest.mark.django_db(transaction=True)


def capped_board(cap: int = 5, **fields) -> Board:
    board = BoardFactory(submission_cap=cap, **fields)
    warming.board_warm(board=board)
    return board


def client_of(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def submit(client: APIClient, board: Board, value: int = 1, **headers):
    return client.post(f"/api/v1/boards/{board.slug}/scores", {"value": value}, format="json", **headers)


def test_twenty_racing_submits_under_a_cap_of_five_accept_exactly_five_and_refuse_fifteen_in_both_stores():
    board = capped_board(5)
    user = UserFactory()

    statuses = in_threads(20, lambda _: submit(client_of(user), board).status_code)

    assert sorted(statuses) == [201] * 5 + [409] * 15
    assert ScoreEvent.objects.filter(board=board).count() == 5
    for bucket in board.live_buckets(timezone.now()):
        assert pg_members(board, bucket) == {user.username: 5}
        assert redis_members(board, bucket) == {user.username: 5}
    assert SubmissionCount.objects.get(board=board, user=user).count == 5


def test_past_the_cap_the_api_answers_409_with_a_code_the_cap_the_period_and_when_it_restarts():
    board = capped_board(1, periods=["daily", "all_time"])
    user = UserFactory()
    client = client_of(user)
    assert submit(client, board).status_code == 201

    refused = submit(client, board)

    assert refused.status_code == 409, refused.content
    body = refused.json()
    next_day = board.bucket("daily", timezone.now()).end
    assert next_day is not None
    assert body["code"] == "submission_cap_reached"
    assert (body["cap"], body["period"], body["next_bucket_start"]) == (1, "daily", next_day.isoformat())
    assert "at most 1 submissions per player per daily bucket" in body["detail"]
    assert next_day.isoformat() in body["detail"] and "nothing was written" in body["detail"]
    assert body["request_id"]
    assert "Retry-After" not in refused  # not a rate: waiting seconds does not help


def test_a_refused_submit_writes_nothing_in_either_store():
    board = capped_board(2)
    user = UserFactory()
    for _ in range(2):
        services.score_submit(board=board, user_id=user.username, value=3)
    events = list(ScoreEvent.objects.values_list("pk", flat=True))

    with pytest.raises(services.SubmissionCapReached):
        services.score_submit(board=board, user_id=user.username, value=3, metadata={"late": True})

    assert list(ScoreEvent.objects.values_list("pk", flat=True)) == events
    assert set(Standing.objects.filter(board=board).values_list("score", flat=True)) == {6}
    for bucket in board.live_buckets(timezone.now()):
        assert redis_members(board, bucket) == {user.username: 6}
    assert SubmissionCount.objects.get(board=board, user=user).count == 2


def test_the_cap_restarts_in_the_next_bucket_of_its_period():
    board = capped_board(2, periods=["daily", "all_time"])
    user = UserFactory()
    today = timezone.now()
    yesterday = today - timedelta(days=1)
    for _ in range(2):
        services.score_submit(board=board, user_id=user.username, value=1, at=yesterday)
    with pytest.raises(services.SubmissionCapReached):
        services.score_submit(board=board, user_id=user.username, value=1, at=yesterday)

    result = services.score_submit(board=board, user_id=user.username, value=1, at=today)

    assert result.scores == {"daily": 1, "all_time": 3}
    counts = dict(SubmissionCount.objects.filter(board=board).values_list("bucket_start", "count"))
    assert counts == {board.bucket("daily", yesterday).start: 2, board.bucket("daily", today).start: 1}


def test_a_manual_reset_of_the_cap_period_restarts_the_count():
    board = capped_board(1, periods=["daily", "all_time"])
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)
    with pytest.raises(services.SubmissionCapReached):
        services.score_submit(board=board, user_id=user.username, value=1)

    period_reset(board=board, period="daily", triggered_by="test")
    stale = board  # the caller's copy predates the reset: the submit finds the new bucket itself

    assert services.score_submit(board=stale, user_id=user.username, value=1).scores == {"daily": 1, "all_time": 2}


def test_a_replay_of_an_accepted_submission_past_the_cap_gets_its_first_answer():
    board = capped_board(1)
    user = UserFactory()
    client = client_of(user)
    first = submit(client, board, 4, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert submit(client, board, 4, HTTP_IDEMPOTENCY_KEY="k-2").status_code == 409

    replay = submit(client, board, 4, HTTP_IDEMPOTENCY_KEY="k-1")

    assert replay.status_code == 200, replay.content
    assert replay.json()["event_id"] == first.json()["event_id"]
    assert replay.json()["scores"] == first.json()["scores"]
    assert SubmissionCount.objects.get(board=board, user=user).count == 1


def test_a_key_refused_at_the_cap_is_not_claimed_and_counts_in_the_next_bucket():
    board = capped_board(1, periods=["daily"])
    user = UserFactory()
    yesterday = timezone.now() - timedelta(days=1)
    services.score_submit(board=board, user_id=user.username, value=1, at=yesterday)
    with pytest.raises(services.SubmissionCapReached):
        services.score_submit(board=board, user_id=user.username, value=2, idempotency_key="late", at=yesterday)

    retried = services.score_submit(board=board, user_id=user.username, value=2, idempotency_key="late")

    assert not retried.replayed and retried.scores == {"daily": 2}


def test_the_cap_counts_in_the_shortest_kept_period_unless_one_is_set():
    assert BoardFactory.build(periods=["weekly", "all_time"]).submission_cap_counted_in == "weekly"
    board = capped_board(1, periods=["daily", "weekly"], submission_cap_period="weekly")
    user = UserFactory()
    monday = board.bucket("weekly", timezone.now()).start - timedelta(days=7) + timedelta(hours=1)  # last week's
    services.score_submit(board=board, user_id=user.username, value=1, at=monday)

    with pytest.raises(services.SubmissionCapReached) as refused:  # another day, the same week
        services.score_submit(board=board, user_id=user.username, value=1, at=monday + timedelta(days=1))

    assert refused.value.period == "weekly"
    row = SubmissionCount.objects.get(board=board)
    assert (row.period, row.bucket_start, row.count) == ("weekly", board.bucket("weekly", monday).start, 1)


def test_an_all_time_cap_says_only_a_reset_restarts_it():
    board = capped_board(1, periods=["all_time"])
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)
    with pytest.raises(services.SubmissionCapReached) as refused:
        services.score_submit(board=board, user_id=user.username, value=1)
    assert refused.value.payload()["next_bucket_start"] is None
    assert "only when the board is reset" in refused.value.message


def test_voided_events_do_not_give_submissions_back():
    board = capped_board(1)
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)
    moderation.scores_remove(user_id=user.username, reason="cheating", actor="staff", board=board)

    with pytest.raises(services.SubmissionCapReached):
        services.score_submit(board=board, user_id=user.username, value=1)


def test_a_ban_or_an_unknown_player_answers_as_on_any_board_and_counts_nothing():
    board = capped_board(1)
    banned = UserFactory(banned_at=timezone.now())
    with pytest.raises(Forbidden):
        services.score_submit(board=board, user_id=banned.username, value=1)
    with pytest.raises(NotFound):
        services.score_submit(board=board, user_id="nobody-here", value=1)
    assert not SubmissionCount.objects.exists() and not ScoreEvent.objects.exists()


def test_each_player_has_a_cap_of_their_own():
    board = capped_board(1)
    alice, bob = UserFactory(), UserFactory()
    services.score_submit(board=board, user_id=alice.username, value=1)
    services.score_submit(board=board, user_id=bob.username, value=1)
    assert SubmissionCount.objects.filter(board=board).count() == 2


def test_lowering_the_cap_below_a_count_refuses_the_next_submit():
    row = SubmissionCountFactory(count=3)
    Board.objects.filter(pk=row.board_id).update(submission_cap=2)
    board = Board.objects.get(pk=row.board_id)
    with pytest.raises(services.SubmissionCapReached):
        services.score_submit(board=board, user_id=row.user_id, value=1, at=timezone.now())


def test_an_erased_player_leaves_no_counts_behind():
    board = capped_board(2)
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)
    moderation.player_erase(user_id=user.username, actor="staff")
    assert not SubmissionCount.objects.exists()


def test_a_capped_submit_sends_its_statement_and_the_count_in_one_transaction():
    board = capped_board(5)
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)  # the connection is shown direct

    with statements_sent() as sent:
        services.score_submit(board=board, user_id=user.username, value=1)

    assert len(sent) == 4, "\n".join(sent)  # BEGIN, the submit, the count, COMMIT


def test_an_uncapped_submit_sends_one_statement_and_counts_nothing():
    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)

    with statements_sent() as sent:
        services.score_submit(board=board, user_id=user.username, value=1)

    assert len(sent) == 1, "\n".join(sent)
    assert not SubmissionCount.objects.exists()


def test_a_seed_surface_answers_the_refusal_with_the_same_409_json(default_boards):
    """Every surface submits through ``score_submit_as``: seed 004's submit maps the cap like the core API."""
    Board.objects.filter(slug="high-score").update(submission_cap=1)
    client = client_of(UserFactory())
    assert client.post("/v1/scores/submit", {"score": 5}, format="json").status_code == 200

    refused = client.post("/v1/scores/submit", {"score": 9}, format="json")

    assert refused.status_code == 409 and refused["Content-Type"] == "application/json"
    assert (refused.json()["code"], refused.json()["cap"]) == ("submission_cap_reached", 1)
    assert list(ScoreEvent.objects.values_list("value", flat=True)) == [5]


# --------------------------------------------------------------------------- the board's settings


def test_the_board_api_sets_and_shows_the_cap(staff_client):
    board = BoardFactory(periods=["daily", "weekly"])
    url = f"/api/v1/boards/{board.slug}"

    changed = staff_client.patch(url, {"submission_cap": 3, "submission_cap_period": "weekly"}, format="json")

    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["submission_cap"], body["submission_cap_period"], body["submission_cap_counted_in"]) == (
        3,
        "weekly",
        "weekly",
    )
    board.refresh_from_db()
    assert (board.submission_cap, board.submission_cap_period) == (3, "weekly")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"submission_cap_period": "monthly"}, "submission_cap_period"),
        ({"submission_cap_period": "hourly"}, "submission_cap_period"),
        ({"submission_cap": 0}, "submission_cap"),
        ({"submission_cap": -1}, "submission_cap"),
        ({"submission_cap": "many"}, "submission_cap"),
    ],
)
def test_a_cap_in_a_period_the_board_does_not_keep_or_not_positive_is_a_field_error(staff_client, body, field):
    board = BoardFactory(periods=["daily", "weekly"])
    refused = staff_client.patch(f"/api/v1/boards/{board.slug}", body, format="json")
    assert refused.status_code == 400, refused.content
    assert field in refused.json()
    board.refresh_from_db()
    assert (board.submission_cap, board.submission_cap_period) == (None, "")


def test_dropping_the_period_the_cap_counts_in_is_refused(staff_client):
    board = BoardFactory(periods=["daily", "weekly"], submission_cap=2, submission_cap_period="weekly")
    refused = staff_client.patch(f"/api/v1/boards/{board.slug}", {"periods": ["daily"]}, format="json")
    assert refused.status_code == 400 and "submission_cap_period" in refused.json(), refused.content


def test_the_openapi_schema_documents_the_409_of_the_submit(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/v1/boards/{slug}/scores"]["post"]["responses"]
    assert "409" in responses and "cap" in responses["409"]["description"]


def test_the_admin_board_form_has_the_cap_fields(admin_client):
    board = BoardFactory()
    page = admin_client.get(f"/admin/leaderboard/board/{board.pk}/change/")
    assert page.status_code == 200
    assert b'name="submission_cap"' in page.content and b'name="submission_cap_period"' in page.content
