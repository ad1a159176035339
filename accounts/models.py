"""Users: the public id that the API and Redis use is the username (the handle)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator, validate_slug
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

handle_validator = RegexValidator(
    regex=r"^[A-Za-z0-9_.@+-]{1,64}\Z",
    message="Use 1-64 letters, digits or the characters _ . @ + - (no spaces).",
)


class User(AbstractUser):
    """A player, a pomodoro user, a trusted game server, or an operator.

    ``username`` is the stable public ``user_id`` of the seeds: it names the
    member in Redis sorted sets and appears in every API payload. It is
    ASCII-only so it is safe in URLs and keys.
    """

    username = models.CharField(
        # The name people type: createsuperuser's prompt and the admin say what the API's field says.
        "username",
        max_length=64,
        unique=True,
        validators=[handle_validator],
        help_text="Public, stable id used by the API and the leaderboards.",
        error_messages={"unique": "A user with that user id already exists."},
        # Compared byte by byte, as Redis compares sorted-set members: equal scores are listed
        # by user id (leaderboard.ranking), whatever collation the database was created with.
        # The foreign keys to this column (standings, score events) take the same collation,
        # so their indexes (``standing_rank``) keep serving the ranked reads without a sort.
        db_collation="C",
    )
    # A banned player is absent from every read and may not submit (leaderboard.moderation).
    banned_at = models.DateTimeField(null=True, blank=True, editable=False)
    ban_reason = models.CharField(max_length=500, blank=True, editable=False, db_default="")

    class Meta:
        permissions = [
            ("submit_for_others", "Can submit scores for other users and to authoritative boards"),
        ]
        indexes = [
            # Reports and rebuilds leave banned players out: the few banned ids, without a table scan.
            models.Index(fields=["username"], condition=models.Q(banned_at__isnull=False), name="user_banned"),
        ]

    @property
    def public_id(self) -> str:
        return self.username

    @property
    def is_banned(self) -> bool:
        return self.banned_at is not None

    def can_submit_for_others(self) -> bool:
        return self.is_staff or self.has_perm("accounts.submit_for_others")


class ServiceKey(AbstractAPIKey):
    """An API key for a trusted game server: hashed by djangorestframework-api-key, scoped by us.

    The key itself is shown once, when the admin creates it; only its prefix and
    hash are stored. ``rights`` says what the key may do, ``boards`` where (slugs;
    empty: every board, including boards created later). Board slugs are not
    checked against existing boards: a deploy may scope a key to a board it is
    about to create (and accounts sits below leaderboard).
    """

    class Right(models.TextChoices):
        SUBMIT = "submit", "Submit for any player (authoritative boards included)"
        CREATE_PLAYERS = "create_players", "Create unknown players on submit"
        MANAGE_BOARDS = "manage_boards", "Create, change, deactivate and reset boards"
        MODERATE = "moderate", "Remove scores, ban and unban players"

    rights = ArrayField(
        models.CharField(max_length=32, choices=Right.choices),
        default=list,
        blank=True,
        help_text="What the key may do.",
    )
    boards = ArrayField(
        models.CharField(max_length=64, validators=[validate_slug]),
        default=list,
        blank=True,
        help_text="Slugs of the boards the key may act on, comma-separated; empty: every board.",
    )
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Updated at most once a minute."
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "service API key"
        verbose_name_plural = "service API keys"

    @property
    def principal_name(self) -> str:
        """How the key appears as a caller (``submitted_by``, ``triggered_by``, logs)."""
        return f"key:{self.name}"

    def clean(self) -> None:
        super().clean()
        self.rights = sorted(set(self.rights or []))
        self.boards = sorted(set(self.boards or []))
