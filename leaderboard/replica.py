"""Which database a read may use: the primary, or the read replica when one is configured.

PostgreSQL is the truth, and the primary is where it is written. A replica
(``DATABASE_REPLICA_URL``, the ``replica`` alias) serves the same rows some
milliseconds, or under load some seconds, late. So it may answer a read whose
answer nobody builds on, and nothing else. The read sites say so explicitly:
the PostgreSQL fallback reads of leaderboards (``selectors``) and the reports
(``reports.selectors``) run ``.using(replica.reads())``; every other query
runs on the primary, by Django's default, because nothing routes it anywhere
else (``PrimaryRouter`` only pins writes and migrations).

``reads()`` answers ``"replica"`` only when all of these hold, else ``"default"``:

1. a replica is configured (``DATABASE_REPLICA_URL``; absent, everything runs on
   the primary exactly as without this module);
2. the code is answering a read-only HTTP request: ``GET`` or ``HEAD``, marked at
   ``request_started`` and cleared at ``request_finished``. A request of any other
   method may write, and what it answers must show its write (read your writes):
   it reads the primary from start to end. Work outside a request (Celery tasks,
   beat, the live updates' timers, WebSocket consumers, management commands) is
   never marked and reads the primary. So does HTTP served by the ASGI app:
   Django sends ``request_started`` there from a task of its own, whose context
   the view never sees (safe, only unhelpful; ``make run`` serves HTTP through WSGI);
3. no transaction is open on the primary (``in_atomic_block``): what a transaction
   reads belongs with what it writes.

Why warming never asks: warming, repairs and reconciliation rebuild Redis from
what they read, and a warm from a lagging replica would put old scores into
Redis, served as current until the next reconciliation. They run their own
queries on the primary, whoever calls them, a GET that finds a bucket cold
included. Likewise every read that fills Redis (a user's cached details) or a
row (an archive's top entries) reads the primary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connections
from django.db.models import Model
from django.dispatch import receiver

PRIMARY = "default"
REPLICA = "replica"

# Request methods that write nothing the answer must show.
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})

# True while this context answers a read-only request (or a caller opted in with ``lag_allowed``).
_lag_allowed: ContextVar[bool] = ContextVar("replica_lag_allowed", default=False)


def configured() -> bool:
    """Whether a read replica is configured (``DATABASE_REPLICA_URL``)."""
    return bool(getattr(settings, "DATABASE_REPLICA_URL", "")) and REPLICA in settings.DATABASES


def reads() -> str:
    """The database alias for a read that may lag: ``"replica"`` under the rules above, else ``"default"``."""
    if _lag_allowed.get() and configured() and not connections[PRIMARY].in_atomic_block:
        return REPLICA
    return PRIMARY


@contextlib.contextmanager
def lag_allowed() -> Iterator[None]:
    """Reads inside may use the replica, as a read-only request's do (``reads()``'s other rules still hold)."""
    token = _lag_allowed.set(True)
    try:
        yield
    finally:
        _lag_allowed.reset(token)


@receiver(request_started, dispatch_uid="replica.request_started")
def _request_started(sender: object, environ: dict[str, Any] | None = None, **_: Any) -> None:
    # Set for every request, so a thread's next request never inherits the previous one's mark.
    method = (environ or {}).get("REQUEST_METHOD", "")
    _lag_allowed.set(method.upper() in READ_ONLY_METHODS)


@receiver(request_finished, dispatch_uid="replica.request_finished")
def _request_finished(sender: object, **_: Any) -> None:
    _lag_allowed.set(False)


class PrimaryRouter:
    """Writes and migrations on the primary, always (``DATABASE_ROUTERS`` when a replica is configured).

    Reads are not routed: each read site chooses (``reads()``), because a model
    cannot tell a fallback read from a warm's read of the same table. A row read
    from the replica and saved is written to the primary (Django would otherwise
    write it back where it came from), and the two aliases hold the same rows, so
    objects from either may be related.
    """

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return None

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        aliases = {PRIMARY, REPLICA}
        return True if {obj1._state.db, obj2._state.db} <= aliases else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == PRIMARY
