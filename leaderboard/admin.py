"""Operators' admin for the leaderboard engine.

List pages stay fast on millions of rows: no full counts, no unbounded joins.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from . import redis_store, selectors, services
from .models import Board, BucketRepair, ScoreEvent, Standing


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: an exact COUNT(*) over millions of rows is slow.

    Past the cap the page list stops there; filters and search narrow it down.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count() if hasattr(self.object_list, "count") else len(self.object_list)


def confirm_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    explanation: str,
    confirm_label: str,
    form=None,
) -> HttpResponse:
    """The intermediate "are you sure?" page of an admin action."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "explanation": explanation,
        "confirm_label": confirm_label,
        "queryset": queryset,
        "action": action,
        "form": form,
    }
    return TemplateResponse(request, "admin/leaderboard/confirm_action.html", context)


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "operator", "sort_order", "time_zone", "authoritative", "is_active", "drift_link")
    list_filter = ("operator", "authoritative", "is_active")
    search_fields = ("slug", "name")
    readonly_fields = ("period_resets", "created_at", "updated_at")
    actions = ["rebuild_cache"]

    @admin.display(description="Redis vs PostgreSQL")
    def drift_link(self, board: Board) -> str:
        return format_html('<a href="{}">drift</a>', reverse("admin:leaderboard_board_drift", args=[board.pk]))

    def get_urls(self):
        extra = [
            path(
                "<int:board_id>/drift/",
                self.admin_site.admin_view(self.drift_view),
                name="leaderboard_board_drift",
            )
        ]
        return extra + super().get_urls()

    def drift_view(self, request: HttpRequest, board_id: int) -> HttpResponse:
        board = get_object_or_404(Board, pk=board_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": Board._meta,
            "title": f"Drift of {board.slug}",
            "board": board,
            "rows": selectors.board_drift(board=board),
        }
        return TemplateResponse(request, "admin/leaderboard/board_drift.html", context)

    @admin.action(description="Rebuild the Redis cache of the selected boards", permissions=["change"])
    def rebuild_cache(self, request: HttpRequest, queryset: QuerySet[Board]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            return confirm_action(
                self,
                request,
                queryset,
                action="rebuild_cache",
                title="Rebuild the Redis cache",
                explanation="Every live bucket of these boards is rebuilt from PostgreSQL (streamed, then "
                "swapped in atomically). Reads keep working meanwhile.",
                confirm_label="Yes, rebuild",
            )
        try:
            for board in queryset:
                results = services.board_warm(board=board)
                members = sum(r.members for r in results)
                self.message_user(request, f"{board.slug}: {len(results)} buckets, {members} members rebuilt.")
        except redis_store.RedisUnavailable as exc:
            self.message_user(request, f"Redis is unavailable: {exc}", level=messages.ERROR)
        return None


@admin.register(Standing)
class StandingAdmin(admin.ModelAdmin):
    list_display = ("user_id", "board", "period", "bucket_start", "score", "updated_at")
    list_filter = ("board", "period")
    search_fields = ("user__username__exact",)  # uses the index; no join (the FK holds the id)
    list_select_related = ("board",)
    show_full_result_count = False
    raw_id_fields = ("user",)
    paginator = CappedCountPaginator


@admin.register(ScoreEvent)
class ScoreEventAdmin(admin.ModelAdmin):
    """The audit trail: read-only, never deleted from the admin."""

    list_display = ("id", "user_id", "board", "value", "idempotency_key", "created_at")
    list_filter = ("board",)
    search_fields = ("user__username__exact", "idempotency_key__exact")
    list_select_related = ("board",)
    show_full_result_count = False
    paginator = CappedCountPaginator

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
