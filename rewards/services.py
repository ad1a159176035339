"""Managing a board's webhook endpoints and redelivering (API and admin share these)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from leaderboard.models import Board
from leaderboard_project.exceptions import NotFound

from .models import WebhookDelivery, WebhookEndpoint
from .tasks import deliveries_enqueue

_MAX_ID = 2**63 - 1


def endpoints_list(*, board: Board) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(board=board).order_by("id")


def endpoint_delete(*, board: Board, endpoint_id: int) -> None:
    """Delete an endpoint of ``board`` and its delivery log; 404 if the board has no such endpoint."""
    deleted = 0
    if 0 < endpoint_id <= _MAX_ID:
        deleted, _ = WebhookEndpoint.objects.filter(board=board, pk=endpoint_id).delete()
    if not deleted:
        raise NotFound(f"Board {board.slug!r} has no webhook {endpoint_id}.")


def deliveries_redeliver(deliveries: QuerySet[WebhookDelivery]) -> int:
    """Set deliveries pending again (a new run of retries, same delivery id) and queue them."""
    with transaction.atomic():
        ids = list(deliveries.values_list("delivery_id", flat=True))
        WebhookDelivery.objects.filter(delivery_id__in=ids).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now()
        )
        transaction.on_commit(lambda: deliveries_enqueue(ids), robust=True)
    return len(ids)
