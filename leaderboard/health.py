"""The service's health checks, read by /readyz, seed 000's status and seed 001's health.

Each check says whether one dependency answers now, how long it took, and why
not; the surfaces only format the answers in their documented shapes. Reads
only: nothing here writes or repairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from .models import ReconciliationRun
from .schedules import SCHEDULES
from .store import connection as store_connection
from .store import coordination

# A heartbeat older than this means beat stopped scheduling or no worker consumes.
HEARTBEAT_STALE_SECONDS = 180
# The reconciliation runs hourly: two hours without a success means a run was missed or failed.
RECONCILIATION_OVERDUE_SECONDS = 2 * 3600
RECONCILIATION_SCHEDULE = next(s.name for s in SCHEDULES if s.task == "leaderboard.tasks.reconcile")


@dataclass(frozen=True)
class Check:
    """One probe's answer: ``ms`` when it succeeded, ``error`` (the exception) when not."""

    ok: bool
    ms: float | None = None
    error: Exception | None = None


def probe(check: Callable[[], object]) -> Check:
    """Run ``check``, timed; any exception is the answer, never raised."""
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return Check(ok=False, error=exc)
    return Check(ok=True, ms=round((time.perf_counter() - started) * 1000, 2))


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def database() -> Check:
    """PostgreSQL answers a query."""
    return probe(_select_one)


def redis() -> Check:
    """Redis answers a PING."""
    return probe(store_connection.ping)


def heartbeat(*, name: str = "celery") -> Check:
    """A background component (by default: beat and a worker) reported within ``HEARTBEAT_STALE_SECONDS``."""

    def fresh() -> None:
        age = coordination.heartbeat_age(name=name)
        if age is None:
            raise RuntimeError("no heartbeat yet")
        if age > HEARTBEAT_STALE_SECONDS:
            raise RuntimeError(f"last heartbeat {age:.0f}s ago")

    return probe(fresh)


@dataclass(frozen=True)
class Reconciliation:
    """The hourly reconciliation's latest success and whether it is scheduled."""

    last_success_at: datetime | None
    age_seconds: float | None
    scheduled: bool

    @property
    def overdue(self) -> bool:
        """Scheduled, yet no success within ``RECONCILIATION_OVERDUE_SECONDS``."""
        return self.scheduled and (self.age_seconds is None or self.age_seconds > RECONCILIATION_OVERDUE_SECONDS)


def reconciliation() -> Reconciliation:
    """The latest successful (not dry) reconciliation, from PostgreSQL (which must answer)."""
    success = ReconciliationRun.objects.filter(status=ReconciliationRun.Status.SUCCEEDED, dry_run=False).first()
    finished = success.finished_at if success else None
    age = (timezone.now() - finished).total_seconds() if finished else None
    scheduled = PeriodicTask.objects.filter(name=RECONCILIATION_SCHEDULE, enabled=True).exists()
    return Reconciliation(last_success_at=finished, age_seconds=age, scheduled=scheduled)
