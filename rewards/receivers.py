"""Receivers of leaderboard signals."""

from __future__ import annotations

from django.db import transaction

from .models import WebhookDelivery, WebhookEndpoint
from .tasks import deliveries_enqueue


def deliveries_create(sender, *, board, period, bucket, archive, **kwargs) -> None:
    """``bucket_finalised``: one delivery per active endpoint of the board, queued once the archive commits.

    Runs in the archive's transaction, so the deliveries exist exactly when the
    archive does; the unique (endpoint, archive) constraint and ON CONFLICT DO
    NOTHING keep it one logical delivery even if the signal were sent twice.
    """
    endpoint_ids = list(WebhookEndpoint.objects.filter(board=board, is_active=True).values_list("pk", flat=True))
    if not endpoint_ids:
        return
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(endpoint_id=pk, archive=archive, bucket_label=bucket.label) for pk in endpoint_ids],
        ignore_conflicts=True,
    )
    pending = WebhookDelivery.objects.filter(
        archive=archive, endpoint_id__in=endpoint_ids, status=WebhookDelivery.Status.PENDING, attempts=0
    )
    ids = list(pending.values_list("delivery_id", flat=True))
    transaction.on_commit(lambda: deliveries_enqueue(ids), robust=True)
