from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from leaderboard import moderation
from leaderboard.admin import confirm_action
from leaderboard.models import Board
from leaderboard_project.exceptions import ServiceError

from .models import ServiceKey, User

# The library's own key model is unused (ServiceKey replaces it): keep it out of the admin.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class ModerationForm(forms.Form):
    """The reason (recorded in the moderation log) and, for a removal, the board."""

    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    board = forms.ModelChoiceField(
        queryset=Board.objects.all(), required=False, empty_label="Every board", help_text="Only for removing scores."
    )

    def __init__(self, *args, reason_required: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = reason_required


# action -> (title, explanation, confirm label, reason required)
MODERATION_ACTIONS = {
    "remove_scores": (
        "Remove the selected players' scores",
        "Their standings are removed from the chosen board (every bucket, current and ended) or every board, in "
        "PostgreSQL and Redis; their events stay, voided. Submits after this count from zero.",
        "Yes, remove their scores",
        True,
    ),
    "ban": (
        "Ban the selected players",
        "They disappear from every leaderboard at once and their submits are refused; unbanning restores "
        "their scores from their events.",
        "Yes, ban",
        True,
    ),
    "unban": (
        "Unban the selected players",
        "Their scores are rebuilt from their non-voided events.",
        "Yes, unban",
        False,
    ),
    "erase": (
        "Erase the selected players (GDPR)",
        "Every score is removed from both stores, every token revoked, and their id replaced by a tombstone in "
        "the kept history. This cannot be undone.",
        "Yes, erase them",
        False,
    ),
}


def _moderate(modeladmin, request: HttpRequest, queryset: QuerySet, action: str) -> HttpResponse | None:
    """An admin action's confirmation page, then the moderation service for each selected player."""
    title, explanation, label, required = MODERATION_ACTIONS[action]
    confirmed = request.POST.get("confirm") == "yes"
    form = ModerationForm(request.POST if confirmed else None, reason_required=required)
    if not confirmed or not form.is_valid():
        return confirm_action(
            modeladmin,
            request,
            queryset,
            action=action,
            title=title,
            explanation=explanation,
            confirm_label=label,
            form=form,
        )
    actor, reason = request.user.get_username(), form.cleaned_data["reason"]
    staff_too = request.user.is_superuser  # only a superuser may moderate or erase staff accounts
    for user in list(queryset):
        user_id = user.username
        try:
            if action == "remove_scores":
                result = moderation.scores_remove(
                    user_id=user_id,
                    reason=reason,
                    actor=actor,
                    board=form.cleaned_data["board"],
                    may_touch_staff=staff_too,
                )
            elif action == "ban":
                result = moderation.player_ban(user_id=user_id, reason=reason, actor=actor, may_touch_staff=staff_too)
            elif action == "unban":
                result = moderation.player_unban(user_id=user_id, reason=reason, actor=actor)
            else:
                result = moderation.player_erase(user_id=user_id, reason=reason, actor=actor, may_touch_staff=staff_too)
        except ServiceError as exc:
            modeladmin.message_user(request, f"{user_id}: {exc.message}", level=messages.ERROR)
            continue
        modeladmin.message_user(request, f"{result.user_id}: {title.split(' the ')[0].lower()} done.")
    return None


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "is_active", "banned_at", "date_joined")
    list_filter = (*BaseUserAdmin.list_filter, ("banned_at", admin.EmptyFieldListFilter))
    search_fields = ("username__startswith", "email__startswith")
    show_full_result_count = False
    readonly_fields = ("banned_at", "ban_reason")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Moderation", {"fields": ("banned_at", "ban_reason")}))
    actions = ["remove_scores", "ban", "unban", "erase"]

    @admin.action(description="Remove scores of the selected players…", permissions=["change"])
    def remove_scores(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _moderate(self, request, queryset, "remove_scores")

    @admin.action(description="Ban the selected players…", permissions=["change"])
    def ban(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _moderate(self, request, queryset, "ban")

    @admin.action(description="Unban the selected players…", permissions=["change"])
    def unban(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _moderate(self, request, queryset, "unban")

    @admin.action(description="Erase the selected players (GDPR)…", permissions=["change"])
    def erase(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _moderate(self, request, queryset, "erase")


class ServiceKeyForm(forms.ModelForm):
    rights = forms.MultipleChoiceField(
        choices=ServiceKey.Right.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = ServiceKey
        fields = ["name", "expiry_date", "revoked", "rights", "boards"]


@admin.register(ServiceKey)
class ServiceKeyAdmin(APIKeyModelAdmin):
    """The library's key admin (the key is shown once, on creation), with our scopes and last use."""

    form = ServiceKeyForm
    # The library's tuples are unannotated, so mypy takes their exact lengths as their types.
    list_display = ("prefix", "name", "rights", "boards", "created", "expiry_date", "last_used_at", "revoked")  # type: ignore[assignment]
    list_filter = ("revoked", "created")  # type: ignore[assignment]

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "last_used_at")
