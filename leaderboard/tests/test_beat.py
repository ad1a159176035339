"""One beat sends the schedule however many run (``leaderboard.beat``), against real PostgreSQL and Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from leaderboard import beat
from leaderboard.schedules import schedules_ensure

pytestmark = pytest.mark.django_db(transaction=True)


def _all_due() -> None:
    PeriodicTask.objects.update(last_run_at=timezone.now() - timedelta(days=2))


def _scheduler(sent: list[str]) -> beat.SingleBeatScheduler:
    scheduler = beat.SingleBeatScheduler(app=current_app, lazy=False)
    scheduler.apply_async = lambda entry, *args, **kwargs: sent.append(entry.name)  # record instead of queueing
    return scheduler


def _run(scheduler: beat.SingleBeatScheduler, ticks: int = 30) -> None:
    for _ in range(ticks):
        scheduler.tick()


def test_of_two_beats_only_the_leader_sends_and_the_standby_takes_over_when_it_stops():
    schedules_ensure()
    _all_due()
    first_sent: list[str] = []
    second_sent: list[str] = []
    first, second = _scheduler(first_sent), _scheduler(second_sent)
    _run(first)
    _run(second)
    assert first_sent, "the leader sends the tasks that are due"
    assert second_sent == []
    assert first.leads() and not second.leads()
    first.close()  # the leader stops: it releases the lock
    _all_due()
    second.sync()
    _run(second)
    assert second.leads()
    assert second_sent, "the standby leads once the leader is gone"
    second.close()
