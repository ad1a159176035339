"""One Celery beat per deployment, however many are started: the others stand by.

``make run`` (and a Procfile per host) starts a beat on every machine. Every
periodic task here is safe to run twice (rollover archives once per bucket,
reconciliation takes a service-wide lock, repairs and heartbeats are
idempotent), but twice the schedule is twice the load and twice the noise. So
the scheduler elects a leader through a Redis lock: only the beat holding
``lock:beat`` sends due tasks; it renews the lock on every tick; a standby
takes over within ``LEADER_TTL_SECONDS`` of the leader stopping. Schedules and
their last run times live in PostgreSQL (django-celery-beat), so the new
leader continues where the old one stopped. With Redis unreachable no beat
sends (the tasks it would send need Redis anyway) and each retries every
``STANDBY_SECONDS``.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

from .store import coordination
from .store.connection import RedisUnavailable

logger = logging.getLogger(__name__)

LOCK = "beat"
LEADER_TTL_SECONDS = 30
STANDBY_SECONDS = 5.0


class SingleBeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, sending only while this beat leads (``LOCK`` in Redis)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._token: str | None = None
        super().__init__(*args, **kwargs)

    def leads(self) -> bool:
        """Whether this beat holds the lock now (taking or renewing it)."""
        ttl_ms = LEADER_TTL_SECONDS * 1000
        try:
            if self._token is not None and coordination.lock_extend(name=LOCK, token=self._token, ttl_ms=ttl_ms):
                return True
            if self._token is not None:
                logger.warning("beat: leadership lost; standing by")
            self._token = coordination.lock_acquire(name=LOCK, ttl_ms=ttl_ms)
        except RedisUnavailable as exc:
            logger.error("beat: Redis unavailable, not sending (%s)", exc)
            self._token = None
            return False
        if self._token is not None:
            logger.info("beat: this beat leads; it sends the schedule")
        return self._token is not None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.leads():
            return STANDBY_SECONDS
        # Never sleep past the lock's life: renew it well before it expires.
        return min(float(super().tick(*args, **kwargs)), LEADER_TTL_SECONDS / 3)

    def close(self) -> None:
        if self._token is not None:
            with suppress(RedisUnavailable):  # it expires by itself
                coordination.lock_release(name=LOCK, token=self._token)
            self._token = None
        super().close()
