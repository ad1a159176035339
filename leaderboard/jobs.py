"""Background work queued by name, so the layers below ``tasks`` never import it.

``tasks`` sits at the top (it calls the services); the warming and repair
code below the selectors still has to queue work. It names the task instead
of importing it: the worker registers ``tasks`` by autodiscovery, web
processes when the app is ready (``LeaderboardConfig.ready``). Eager mode
(tests) is honoured, as with ``.delay()``.
"""

from __future__ import annotations

from typing import Any

from celery import current_app

WARM_BUCKET = "leaderboard.tasks.warm_bucket"
REPAIR_MARKED_BUCKETS = "leaderboard.tasks.repair_marked_buckets"
RECONCILE = "leaderboard.tasks.reconcile"


def enqueue(name: str, *args: Any, **kwargs: Any) -> Any:
    """Queue the task registered as ``name`` (an ``AsyncResult``; eager mode runs it here)."""
    return current_app.tasks[name].apply_async(args=args, kwargs=kwargs)
