"""Tasks and how they are queued (``leaderboard.tasks``, ``leaderboard.jobs``)."""

from __future__ import annotations

import pytest
from celery import current_app
from django.utils import timezone

from leaderboard import jobs, services, tasks
from leaderboard.models import ReconciliationRun
from leaderboard.store import buckets as store_buckets
from leaderboard.tests.factories import BoardFactory, UserFactory


def test_every_name_jobs_queues_is_a_registered_task_of_this_module():
    names = [value for name, value in vars(jobs).items() if name.isupper()]
    assert names
    for name in names:
        task = current_app.tasks[name]
        assert getattr(tasks, task.__name__).name == name  # a task of this module, by that name


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_name_runs_with_its_arguments():
    board = BoardFactory(periods=["all_time"])
    services.score_submit(board=board, user_id=UserFactory().username, value=3)
    bucket = board.bucket("all_time", timezone.now())
    store_buckets.bucket_invalidate(board_slug=board.slug, period="all_time", bucket=bucket.key)
    jobs.enqueue(jobs.WARM_BUCKET, board.pk, "all_time", bucket.start.isoformat())
    assert store_buckets.bucket_card(board_slug=board.slug, period="all_time", bucket=bucket.key) == 1
    run_id = jobs.enqueue(jobs.RECONCILE, dry_run=True, trigger="test").get()
    assert ReconciliationRun.objects.get(pk=run_id).trigger == "test"
