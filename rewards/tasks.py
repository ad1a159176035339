"""Celery tasks of the rewards app: webhook deliveries, retried with exponential backoff."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import shared_task
from celery.exceptions import Retry

from . import delivery

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def deliver_webhook(self, delivery_id: str) -> str:
    """Attempt one delivery; on failure retry after ``delivery.backoff_seconds`` (the attempt counts them)."""
    result = delivery.attempt(delivery_id, retries=self.request.retries)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return result.outcome


def deliveries_enqueue(delivery_ids: Iterable[object]) -> None:
    """Queue a delivery task per id; a broker error leaves the delivery pending (the admin can redeliver)."""
    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(str(delivery_id))
        except Retry:
            # Only with CELERY_TASK_ALWAYS_EAGER and eager propagation (tests): the first attempt
            # failed and the retry is raised here instead of queued; the delivery stays pending.
            pass
        except Exception:
            logger.exception("webhook delivery %s could not be queued; it stays pending", delivery_id)


@shared_task(ignore_result=True, expires=60)
def sweep_deliveries() -> int:
    """Beat, every minute: queue again the pending deliveries whose task was lost."""
    ids = delivery.overdue_take()
    if ids:
        logger.warning("webhook deliveries queued again after their task was lost: %d", len(ids))
        deliveries_enqueue(ids)
    return len(ids)
