"""The Celery application: worker and beat share it; tasks live in the apps."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")

app = Celery("leaderboard_project")
# Every CELERY_* setting in settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def heartbeat_at_start(sender: object = None, **_: object) -> None:
    """Beat sends a heartbeat as it starts, not only every 30 s.

    The heartbeat proves both halves (beat scheduled it, a worker ran it), so
    /readyz reports the background as ok seconds after a start, as soon as a
    worker takes this task, instead of up to 30 s later.
    """
    app.send_task("leaderboard.tasks.heartbeat", expires=60)


@worker_process_init.connect
def follow_invalidations(**_: object) -> None:
    """Each worker process drops its short caches (boards, users) when another process changes them."""
    from leaderboard import invalidation  # Django is set up only once the worker starts

    invalidation.follow()
