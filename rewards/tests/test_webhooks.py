"""Webhooks at period end, against real PostgreSQL, Valkey and a real HTTP receiver."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from leaderboard import rollover, services, warming
from leaderboard.models import PeriodArchive
from leaderboard.signals import bucket_finalised
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import in_threads
from rewards import delivery
from rewards.models import WebhookDelivery, WebhookEndpoint

from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

PLAYED = datetime(2026, 11, 20, 9, tzinfo=UTC)
AFTER = datetime(2026, 11, 21, 0, 1, tzinfo=UTC)  # the 20th's daily bucket has ended


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def board_with_scores(**fields):
    board = BoardFactory(time_zone="UTC", periods=["daily"], **fields)
    alice, bob, carol = (UserFactory() for _ in range(3))
    for user, value in ((alice, 7), (bob, 9), (carol, 9)):
        services.score_submit(board=board, user_id=user.username, value=value, at=PLAYED)
    return board


def endpoint_for(board, receiver: Receiver, **fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(board=board, url=receiver.url, **fields)


def readme_verify():
    """The ``verify`` function of the README's webhook section, executed as written."""
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    section = readme.split("## Rewards at period end (webhooks)", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block, "the README's webhook section has no Python block"
    code = block.group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["verify"]


def test_two_rollover_runs_deliver_one_signed_payload_once(receiver):
    board = board_with_scores()
    endpoint = endpoint_for(board, receiver)
    first = rollover.buckets_finalise_ended(now=AFTER)
    second = rollover.buckets_finalise_ended(now=AFTER)
    assert len(first.archived) == 1 and second.archived == []

    archive = PeriodArchive.objects.get(board=board)
    row = WebhookDelivery.objects.get()
    assert (row.endpoint, row.archive, row.status, row.attempts) == (endpoint, archive, "succeeded", 1)
    assert row.last_status_code == 200 and row.last_error == "" and row.delivered_at and row.response_ms is not None
    assert len(receiver.received) == 1

    request = receiver.received[0]
    assert request.path == "/hooks/rewards"
    assert request.headers["X-Leaderboard-Delivery"] == str(row.delivery_id)
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body == {
        "event": "bucket.finalised",
        "delivery_id": str(row.delivery_id),
        "archive_id": archive.pk,
        "board": board.slug,
        "period": "daily",
        "bucket": {"label": "2026-11-20", "start": "2026-11-20T00:00:00+00:00", "end": "2026-11-21T00:00:00+00:00"},
        "reason": "rollover",
        "participants": 3,
        "winners": archive.winners,
        "top": archive.top,
        "finalised_at": archive.created_at.isoformat(),
    }
    assert [w["score"] for w in body["winners"]] == [9, 9]
    assert [(e["score"], e["rank"]) for e in body["top"]] == [(9, 1), (9, 1), (7, 3)]
    assert readme_verify()(endpoint.secret, request.body, request.headers["X-Leaderboard-Signature"])


def test_concurrent_rollovers_from_two_threads_deliver_once(receiver):
    board = board_with_scores()
    endpoint_for(board, receiver)
    results = in_threads(2, lambda _: rollover.buckets_finalise_ended(now=AFTER))
    assert sum(len(r.archived) for r in results) == 1
    assert rollover.buckets_finalise_ended(now=AFTER).archived == []
    assert WebhookDelivery.objects.count() == 1
    assert WebhookDelivery.objects.get().status == "succeeded"
    assert len(receiver.received) == 1


def test_the_delivery_row_is_unique_per_endpoint_and_archive_even_if_the_signal_repeats(receiver):
    board = board_with_scores()
    endpoint_for(board, receiver)
    rollover.buckets_finalise_ended(now=AFTER)
    archive = PeriodArchive.objects.get(board=board)
    bucket = board.bucket("daily", PLAYED)
    bucket_finalised.send(sender=PeriodArchive, board=board, period="daily", bucket=bucket, archive=archive)
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.received) == 1


def test_a_receiver_failing_twice_then_succeeding_gets_three_attempts_through_celery_retries():
    """Celery's own retries: eager mode without propagation runs each ``self.retry`` at once."""
    from leaderboard_project.celery import app

    board = board_with_scores()
    with Receiver([500, 500]) as receiver:
        endpoint = endpoint_for(board, receiver)
        propagates = app.conf.task_eager_propagates
        app.conf.task_eager_propagates = False
        try:
            rollover.buckets_finalise_ended(now=AFTER)
        finally:
            app.conf.task_eager_propagates = propagates
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("succeeded", 3, 200, "")
    assert len(receiver.received) == 3
    # Every attempt carries the same delivery id and body, each signed.
    assert {r.headers["X-Leaderboard-Delivery"] for r in receiver.received} == {str(row.delivery_id)}
    assert len({r.body for r in receiver.received}) == 1
    verify = readme_verify()
    assert all(verify(endpoint.secret, r.body, r.headers["X-Leaderboard-Signature"]) for r in receiver.received)


def test_retries_step_by_step_back_off_exponentially_and_never_deliver_after_success():
    """The first attempt runs on commit; the test then drives the retries the task would schedule."""
    board = board_with_scores()
    with Receiver([500, 503]) as receiver:
        endpoint_for(board, receiver)
        rollover.buckets_finalise_ended(now=AFTER)  # attempt 1: 500 (the eager retry is not run)
        row = WebhookDelivery.objects.get()
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert "500" in row.last_error and "receiver says no" in row.last_error

        second = delivery.attempt(str(row.delivery_id), retries=1)
        assert (second.outcome, second.sent, second.retry_in) == ("retrying", True, delivery.backoff_seconds(2))
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 2, 503)

        third = delivery.attempt(str(row.delivery_id), retries=2)
        assert (third.outcome, third.retry_in) == ("succeeded", None)
        again = delivery.attempt(str(row.delivery_id), retries=3)
        assert (again.outcome, again.sent) == ("already_delivered", False)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("succeeded", 3, 200, "")
    assert len(receiver.received) == 3
    assert [delivery.backoff_seconds(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


def test_a_delivery_gives_up_after_the_last_attempt(settings):
    settings.REWARDS_WEBHOOK_MAX_ATTEMPTS = 2
    board = board_with_scores()
    with Receiver([500, 500, 500]) as receiver:
        endpoint_for(board, receiver)
        rollover.buckets_finalise_ended(now=AFTER)
        row = WebhookDelivery.objects.get()
        last = delivery.attempt(str(row.delivery_id), retries=1)
        assert (last.outcome, last.retry_in) == ("failed", None)
        assert delivery.attempt(str(row.delivery_id), retries=2).outcome == "given_up"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 2)
    assert len(receiver.received) == 2


def test_a_receiver_that_does_not_answer_is_an_error_with_no_status_code(settings):
    board = board_with_scores()
    with Receiver() as receiver:
        url = receiver.url
    WebhookEndpoint.objects.create(board=board, url=url)  # its server is gone: connection refused
    rollover.buckets_finalise_ended(now=AFTER)
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert "refused" in row.last_error.lower() or "error" in row.last_error.lower()


def test_the_signature_verifies_with_the_readme_recipe_and_rejects_tampering_and_replays(receiver):
    board = board_with_scores()
    endpoint = endpoint_for(board, receiver)
    rollover.buckets_finalise_ended(now=AFTER)
    request = receiver.received[0]
    header, body = request.headers["X-Leaderboard-Signature"], request.body
    verify = readme_verify()
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(endpoint.secret, body, header)
    assert not verify(endpoint.secret, body.replace(b'"daily"', b'"weekly"'), header)
    assert not verify("whsec_wrong", body, header)
    assert not verify(endpoint.secret, body, "garbage")
    old = int(time.time()) - 301
    assert not verify(endpoint.secret, body, delivery.signature(endpoint.secret, old, body))  # a replay
    assert verify(endpoint.secret, body, delivery.signature(endpoint.secret, int(time.time()) - 30, body))


def test_a_manual_reset_delivers_too(receiver):
    board = BoardFactory(time_zone="UTC", periods=["daily", "all_time"])
    warming.board_warm(board=board)
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=5)
    endpoint_for(board, receiver)
    archive = rollover.period_reset(board=board, period="daily", triggered_by="test")
    row = WebhookDelivery.objects.get()
    assert (row.archive_id, row.status, row.attempts) == (archive.pk, "succeeded", 1)
    body = json.loads(receiver.received[0].body)
    assert body["reason"] == "reset" and body["archive_id"] == archive.pk
    assert body["winners"] == [{"user_id": user.username, "score": 5, "rank": 1}]
    assert body["bucket"]["label"] == archive.bucket_start.date().isoformat()


def test_only_the_boards_active_endpoints_receive(receiver):
    board = board_with_scores()
    other = BoardFactory(time_zone="UTC", periods=["daily"])
    endpoint_for(board, receiver, description="on")
    endpoint_for(board, receiver, is_active=False)
    endpoint_for(other, receiver)
    rollover.buckets_finalise_ended(now=AFTER)
    assert list(WebhookDelivery.objects.values_list("endpoint__description", flat=True)) == ["on"]
    assert len(receiver.received) == 1


def test_a_board_without_endpoints_archives_as_before():
    board_with_scores()
    assert len(rollover.buckets_finalise_ended(now=AFTER).archived) == 1
    assert not WebhookDelivery.objects.exists()


def test_the_admin_lists_deliveries_and_redelivers_with_the_same_delivery_id(client, receiver):
    from leaderboard.tests.factories import UserFactory as Users

    board = board_with_scores()
    endpoint = endpoint_for(board, receiver)
    rollover.buckets_finalise_ended(now=AFTER)
    row = WebhookDelivery.objects.get()
    client.force_login(Users(is_staff=True, is_superuser=True))

    page = client.get("/admin/rewards/webhookdelivery/")
    assert page.status_code == 200 and str(row.delivery_id) in page.content.decode()
    assert endpoint.secret in client.get(f"/admin/rewards/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert client.get(f"/admin/rewards/webhookdelivery/{row.pk}/change/").status_code == 200

    response = client.post(
        "/admin/rewards/webhookdelivery/", {"action": "redeliver", "_selected_action": [row.pk]}, follow=True
    )
    assert response.status_code == 200
    assert len(receiver.received) == 2
    assert {r.headers["X-Leaderboard-Delivery"] for r in receiver.received} == {str(row.delivery_id)}
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("succeeded", 2)


def test_the_admin_creates_an_endpoint_with_a_generated_secret(client, receiver):
    from leaderboard.tests.factories import UserFactory as Users

    board = BoardFactory()
    client.force_login(Users(is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/rewards/webhookendpoint/add/",
        {"board": board.pk, "url": receiver.url, "description": "prizes", "is_active": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40


def test_a_delivery_whose_task_was_lost_is_queued_again_by_the_sweep_and_delivered_once(settings):
    """The broker was down at commit (or a retry's message was lost): beat's sweep sends it, once."""
    from rewards import tasks

    board = board_with_scores()
    with Receiver([500]) as receiver:
        endpoint_for(board, receiver)
        rollover.buckets_finalise_ended(now=AFTER)  # attempt 1: 500; the retry's message is "lost" (eager)
        row = WebhookDelivery.objects.get()
        assert (row.status, row.attempts) == ("pending", 1)
        due = row.next_attempt_at
        assert due is not None and due > row.created_at  # due after the backoff
        assert tasks.sweep_deliveries() == 0  # not overdue yet: its retry may still come
        long_ago = row.created_at - timedelta(hours=1)
        WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=long_ago)  # long overdue
        assert tasks.sweep_deliveries() == 1
        assert tasks.sweep_deliveries() == 0  # taken: not queued twice while it waits
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("succeeded", 2, None)
    assert len(receiver.received) == 2
    WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=long_ago)
    assert tasks.sweep_deliveries() == 0  # succeeded deliveries are never swept


def test_the_sweep_is_scheduled_every_minute():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    # Transactional tests flush what migrations wrote: run the migration's function again.
    importlib.import_module("rewards.migrations.0002_delivery_sweep").create_schedule(apps, None)
    task = PeriodicTask.objects.get(task="rewards.tasks.sweep_deliveries")
    assert (task.interval.every, task.interval.period, task.enabled) == (60, "seconds", True)


def test_the_payload_of_a_board_with_tiers_and_metadata_carries_each_entrys_final_tier_and_metadata(receiver):
    board = BoardFactory(
        time_zone="UTC",
        periods=["daily"],
        tier_basis="percentile",
        tiers=[{"name": "Gold", "cutoff": 50}, {"name": "Rest", "cutoff": None}],
        entry_metadata_max_bytes=64,
    )
    for user_id, value in (("ann", 9), ("bob", 7), ("cy", 5)):
        UserFactory(username=user_id)
        services.score_submit(board=board, user_id=user_id, value=value, at=PLAYED, metadata={"car": user_id})
    endpoint_for(board, receiver)
    rollover.buckets_finalise_ended(now=AFTER)
    body = json.loads(receiver.received[0].body)
    # Of 3 players the top 50 % is rank 1 only (100 * 2 / 3 > 50).
    assert body["top"] == [
        {"user_id": "ann", "score": 9, "rank": 1, "tier": "Gold", "metadata": {"car": "ann"}},
        {"user_id": "bob", "score": 7, "rank": 2, "tier": "Rest", "metadata": {"car": "bob"}},
        {"user_id": "cy", "score": 5, "rank": 3, "tier": "Rest", "metadata": {"car": "cy"}},
    ]
    assert body["winners"] == body["top"][:1]
