"""Operators' admin for the leaderboard engine.

List pages stay fast on millions of rows: no full counts, no unbounded joins.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from . import selectors, warming
from .models import (
    Board,
    BucketRepair,
    ModerationAction,
    PeriodArchive,
    ReconciliationRun,
    ScoreEvent,
    Standing,
)
from .periods import Period
from .rollover import period_reset
from .store.connection import RedisUnavailable
from .sync import reconciliation_run


class BoardAdminForm(forms.ModelForm):
    """The board form, with the periods as one checkbox each.

    The model's ArrayField would be a comma-separated text input. The chosen
    values go to ``Board.periods`` unchanged; the model's validation (known
    periods, at least one, and ``Board.clean``'s refusal to drop a period that
    holds standings) still decides, and ``Board.clean`` puts them in period order.
    """

    periods = forms.MultipleChoiceField(
        choices=Period.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=Board._meta.get_field("periods").help_text,
    )

    class Meta:
        model = Board
        # Every editable field: a form that names fields is taken at its word by the admin,
        # which then shows and saves only those (with ("periods",), a new board had no slug).
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets decide which fields show)


# Short labels for the board list: the choices' own labels wrap over four lines there.
SCORING_WINS: dict[str, str] = {Board.SortOrder.DESC: "higher wins", Board.SortOrder.ASC: "lower wins"}


class ResetForm(forms.Form):
    period = forms.ChoiceField(choices=Period.choices, help_text="The period whose current bucket restarts at zero.")


class ReconcileForm(forms.Form):
    dry_run = forms.BooleanField(required=False, help_text="Report what would change; change nothing.")


class CappedCountPaginator(Paginator):
    """Counts at most CAP + 1 rows: an exact COUNT(*) over millions of rows is slow.

    Past the cap the page list stops there; filters and search narrow it down.
    A queryset is counted in the database (a COUNT over a LIMIT), any other
    sequence by its length, capped alike.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        # Not ``hasattr(..., "count")``: a list has a ``count`` too, one that needs an argument.
        if isinstance(self.object_list, QuerySet):
            return self.object_list[: self.CAP + 1].count()
        return min(len(self.object_list), self.CAP + 1)


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
    form = BoardAdminForm
    # Fits a 1280 px screen next to the admin's navigation: compact columns and no filter
    # sidebar (a service has a handful of boards; the search finds one by slug or name).
    list_display = ("slug", "name", "scoring", "time_zone", "authoritative", "is_active", "drift_link")
    search_fields = ("slug", "name")
    readonly_fields = ("period_resets", "created_at", "updated_at")
    actions = ["rebuild_cache", "reset_period", "reconcile"]

    def save_model(self, request, obj: Board, form, change: bool) -> None:
        # Write only what the form changed: saving every column would put back the
        # period_resets read at the start of this request, undoing a reset committed meanwhile.
        if change:
            obj.save(update_fields=[*form.changed_data, "updated_at"])
        else:
            obj.save()

    @admin.display(description="scoring", ordering="operator")
    def scoring(self, board: Board) -> str:
        """The operator's API name and the sort order, e.g. "best, lower wins"."""
        return f"{board.operator}, {SCORING_WINS[board.sort_order]}"

    @admin.display(description="drift")
    def drift_link(self, board: Board) -> str:
        """A link to the board's drift page (its members in Redis and in PostgreSQL)."""
        return format_html(
            '<a href="{}" title="Redis vs PostgreSQL">compare</a>',
            reverse("admin:leaderboard_board_drift", args=[board.pk]),
        )

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
                results = warming.board_warm(board=board)
                members = sum(r.members for r in results)
                self.message_user(request, f"{board.slug}: {len(results)} buckets, {members} members rebuilt.")
        except RedisUnavailable as exc:
            self.message_user(request, f"Redis is unavailable: {exc}", level=messages.ERROR)
        return None

    @admin.action(
        description="Reset a period of the selected boards (archive, then restart at zero)", permissions=["change"]
    )
    def reset_period(self, request: HttpRequest, queryset: QuerySet[Board]) -> HttpResponse | None:
        form = ResetForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_valid():
            return confirm_action(
                self,
                request,
                queryset,
                action="reset_period",
                title="Reset a period",
                explanation="The current bucket of the chosen period is archived (winners and top entries) and "
                "restarts at zero in PostgreSQL and Redis. Submits in flight land either before or after it.",
                confirm_label="Yes, reset",
                form=ResetForm(initial={"period": "daily"}),
            )

        for board in queryset:
            if not board.keeps(form.cleaned_data["period"]):
                self.message_user(
                    request, f"{board.slug} keeps no {form.cleaned_data['period']} board.", level=messages.WARNING
                )
                continue
            archive = period_reset(
                board=board, period=form.cleaned_data["period"], triggered_by=request.user.get_username()
            )
            self.message_user(request, f"{board.slug}: archived {archive.participants} players and restarted.")
        return None

    @admin.action(
        description="Run a reconciliation of the selected boards (Redis from PostgreSQL)", permissions=["change"]
    )
    def reconcile(self, request: HttpRequest, queryset: QuerySet[Board]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            return confirm_action(
                self,
                request,
                queryset,
                action="reconcile",
                title="Run a reconciliation",
                explanation="Every live bucket of these boards is compared with PostgreSQL and Redis is repaired "
                "(unless this is a dry run). The run is recorded under Reconciliation runs.",
                confirm_label="Yes, run it",
                form=ReconcileForm(),
            )

        form = ReconcileForm(request.POST)
        form.is_valid()
        run = reconciliation_run(
            dry_run=form.cleaned_data.get("dry_run", False), trigger="admin", boards=list(queryset)
        )
        self.message_user(
            request,
            f"Reconciliation {run.pk} {run.status}: created {run.created}, updated "
            f"{run.updated}, deleted {run.deleted}, unchanged {run.unchanged}, errors {run.error_count}.",
        )
        return None


class RecordAdmin(admin.ModelAdmin):
    """Records the service writes (archives, runs, events): viewable, never edited here."""

    show_full_result_count = False
    paginator = CappedCountPaginator

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PeriodArchive)
class PeriodArchiveAdmin(RecordAdmin):
    list_display = ("board", "period", "bucket_start", "bucket_end", "reason", "participants", "winner_ids")
    list_filter = ("board", "period", "reason")
    list_select_related = ("board",)
    date_hierarchy = "bucket_start"

    @admin.display(description="winners")
    def winner_ids(self, archive: PeriodArchive) -> str:
        return ", ".join(w["user_id"] for w in archive.winners[:5])


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(RecordAdmin):
    list_display = (
        "id",
        "status",
        "trigger",
        "dry_run",
        "created_at",
        "duration_seconds",
        "created",
        "updated",
        "deleted",
        "unchanged",
        "error_count",
    )
    list_filter = ("status", "trigger", "dry_run")


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
class ScoreEventAdmin(RecordAdmin):
    """The audit trail: read-only, never deleted from the admin."""

    list_display = ("id", "user_id", "board", "value", "idempotency_key", "created_at")
    list_filter = ("board", ("created_at", admin.DateFieldListFilter))
    search_fields = ("user__username__exact", "idempotency_key__exact")
    list_select_related = ("board",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BucketRepair)
class BucketRepairAdmin(admin.ModelAdmin):
    list_display = ("board", "period", "bucket_start", "reason", "created_at")
    list_filter = ("board", "period")


@admin.register(ModerationAction)
class ModerationActionAdmin(RecordAdmin):
    """The moderation log: who removed, banned, unbanned or erased whom, why and when. Read-only."""

    list_display = ("created_at", "action", "target", "board", "actor", "reason")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter))
    search_fields = ("target__exact", "actor__exact")
    readonly_fields = ("action", "target", "board", "actor", "reason", "detail", "created_at")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
