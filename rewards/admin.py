"""Webhook endpoints (with their secrets) and the delivery log, with a redeliver action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("board", "url", "is_active", "description", "created_at")
    list_filter = ("is_active", "board")
    list_select_related = ("board",)
    search_fields = ("url", "description")
    fields = ("board", "url", "description", "is_active", "secret", "created_at")
    readonly_fields = ("secret", "created_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "delivery_id",
        "endpoint",
        "archive",
        "bucket_label",
        "status",
        "attempts",
        "last_status_code",
        "response_ms",
        "error",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "endpoint__board")
    list_select_related = ("endpoint", "archive")
    search_fields = ("=delivery_id",)
    readonly_fields = (
        "delivery_id",
        "endpoint",
        "archive",
        "bucket_label",
        "status",
        "attempts",
        "last_status_code",
        "response_ms",
        "last_error",
        "created_at",
        "delivered_at",
    )
    actions = ["redeliver"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a log: viewed, and redelivered by the action

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("rewards.change_webhookdelivery")

    @admin.display(description="last error")
    def error(self, delivery: WebhookDelivery) -> str:
        return delivery.last_error[:80]

    @admin.action(description="Redeliver the selected deliveries (same delivery id)", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = services.deliveries_redeliver(queryset)
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)
