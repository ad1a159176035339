"""Operators' admin for the leaderboard engine.

List pages stay fast on millions of rows: no full counts, no unbounded joins.
"""

from __future__ import annotations

from django.contrib import admin

from .models import Board, BucketRepair, ScoreEvent, Standing


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "operator", "sort_order", "time_zone", "authoritative", "is_active")
    list_filter = ("operator", "authoritative", "is_active")
    search_fields = ("slug", "name")
    readonly_fields = ("period_resets", "created_at", "updated_at")


@admin.register(Standing)
class StandingAdmin(admin.ModelAdmin):
    list_display = ("user_id", "board", "period", "bucket_start", "score", "updated_at")
    list_filter = ("board", "period")
    search_fields = ("=user__username",)
    list_select_related = ("board",)
    show_full_result_count = False
    raw_id_fields = ("user",)
    date_hierarchy = None


@admin.register(ScoreEvent)
class ScoreEventAdmin(admin.ModelAdmin):
    """The audit trail: read-only, never deleted from the admin."""

    list_display = ("id", "user_id", "board", "value", "idempotency_key", "created_at")
    list_filter = ("board",)
    search_fields = ("=user__username", "=idempotency_key")
    list_select_related = ("board",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BucketRepair)
class BucketRepairAdmin(admin.ModelAdmin):
    list_display = ("board", "period", "bucket_start", "reason", "created_at")
    list_filter = ("board", "period")
