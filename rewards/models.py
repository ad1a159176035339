"""Webhook endpoints of a board and the log of their deliveries (one per endpoint and archive)."""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils import timezone

from leaderboard.models import Board, PeriodArchive

from .addresses import webhook_url_validate


def secret_generate() -> str:
    """A new signing secret: 256 random bits."""
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """A URL that receives ``bucket.finalised`` for one board, signed with its own secret."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(
        max_length=500,
        validators=[webhook_url_validate],
        help_text="http or https; private and loopback addresses are refused unless REWARDS_ALLOW_PRIVATE_WEBHOOKS.",
    )
    secret = models.CharField(
        max_length=64,
        default=secret_generate,
        editable=False,
        help_text="Signs every delivery (X-Leaderboard-Signature). Give it to the receiver.",
    )
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["board", "id"]
        indexes = [models.Index(fields=["board", "is_active"], name="webhookendpoint_board_active")]

    def __str__(self) -> str:
        return f"{self.board_id} → {self.url}"


class WebhookDelivery(models.Model):
    """One logical delivery of one archive to one endpoint, with the outcome of its latest attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (retries exhausted)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    archive = models.ForeignKey(PeriodArchive, on_delete=models.CASCADE, related_name="webhook_deliveries")
    delivery_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Sent as X-Leaderboard-Delivery: the idempotency id."
    )
    bucket_label = models.CharField(max_length=64, help_text="The bucket as people read it (2026-11-30, 2026-11-30.2).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Duration of the latest attempt.")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due while pending (None once succeeded or failed): a pending
    # delivery long past it lost its queued task, and the sweep queues it again.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)

    class Meta:
        constraints = [
            # Beat may fire twice: one logical delivery per endpoint and archive.
            models.UniqueConstraint(fields=["endpoint", "archive"], name="webhookdelivery_unique_endpoint_archive"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="webhookdelivery_due")
        ]
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.delivery_id} ({self.status})"
