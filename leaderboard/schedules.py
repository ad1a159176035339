"""Every Celery beat schedule of the service, in one place.

Stored in the database (django-celery-beat) so operators see and change them in
the admin. ``schedules_ensure`` creates missing ones and leaves existing ones
as operators set them (enabled flag, timing); it runs in a data migration, so
``migrate`` leaves the schedules in place, and again from
``manage.py setup_periodic_tasks``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as registry


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    description: str
    every_seconds: int | None = None
    crontab_minute: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


SCHEDULES = [
    # Repairs Redis from PostgreSQL: five minutes past every hour (seed 001's hourly sync).
    Schedule(
        "leaderboard: hourly reconciliation",
        "leaderboard.tasks.reconcile",
        "Compare every live bucket in Redis with PostgreSQL and repair Redis.",
        crontab_minute="5",
        kwargs={"trigger": "beat"},
    ),
    # Finalises ended buckets within a minute of their end in each board's time zone.
    # Time zones end days at different UTC instants, so this runs every minute.
    Schedule(
        "leaderboard: period rollover",
        "leaderboard.tasks.rollover",
        "Archive every bucket that has ended (catching up missed ones).",
        every_seconds=60,
    ),
    # Buckets whose Redis write failed after a commit are rebuilt soon after Redis returns.
    Schedule(
        "leaderboard: repair marked buckets",
        "leaderboard.tasks.repair_marked_buckets",
        "Rebuild buckets marked for repair after a failed Redis write.",
        every_seconds=60,
    ),
    # Proves beat schedules and a worker consumes; /readyz reports its age.
    Schedule(
        "leaderboard: heartbeat",
        "leaderboard.tasks.heartbeat",
        "Beat and worker heartbeat shown by /readyz.",
        every_seconds=30,
    ),
]


def schedules_ensure(apps: Any = None) -> int:
    """Create the missing schedules; returns how many were created."""
    if apps is None:
        apps = registry
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval = apps.get_model("django_celery_beat", "IntervalSchedule")
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    created = 0
    for schedule in SCHEDULES:
        if periodic_task.objects.filter(name=schedule.name).exists():
            continue
        timing: dict[str, Any] = {}
        if schedule.every_seconds is not None:
            timing["interval"], _ = interval.objects.get_or_create(every=schedule.every_seconds, period="seconds")
        else:
            timing["crontab"], _ = crontab.objects.get_or_create(
                minute=schedule.crontab_minute,
                hour="*",
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="UTC",
            )
        periodic_task.objects.create(
            name=schedule.name,
            task=schedule.task,
            description=schedule.description,
            kwargs=json.dumps(schedule.kwargs),
            enabled=True,
            **timing,
        )
        created += 1
    return created
