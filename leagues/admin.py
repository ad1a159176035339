"""League settings (editable per board), and the leagues and their members (read-only: assignment is the service's)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import League, LeagueMember, LeagueSettings


@admin.register(LeagueSettings)
class LeagueSettingsAdmin(admin.ModelAdmin):
    list_display = ("board", "period", "size", "promote", "demote", "levels", "is_active", "updated_at")
    list_filter = ("is_active", "period")
    list_select_related = ("board",)
    search_fields = ("board__slug",)
    fields = ("board", "period", "size", "promote", "demote", "levels", "is_active", "updated_at")
    readonly_fields = ("updated_at",)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(League)
class LeagueAdmin(_ReadOnly):
    list_display = ("board", "period", "bucket_start", "level", "number", "member_count", "capacity", "needs_rebuild")
    list_filter = ("period", "level", "board")
    list_select_related = ("board",)
    ordering = ("-bucket_start", "board", "level", "number")
    date_hierarchy = "bucket_start"


@admin.register(LeagueMember)
class LeagueMemberAdmin(_ReadOnly):
    list_display = ("user_id", "league", "board", "period", "bucket_start", "joined_at")
    list_filter = ("period", "board")
    list_select_related = ("league", "board")
    search_fields = ("=user_id",)
    ordering = ("-bucket_start", "league", "joined_at")
