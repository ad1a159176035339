"""Leagues: a board's players split into cohorts of N per period bucket, by level.

``LeagueSettings`` turns leagues on for one period of a board. A player joins a
``League`` with room at their level on their first submit of a bucket (first
come, first served) and stays there for the bucket (``LeagueMember``). Levels are
numbered from 0, the lowest (``levels[0]``, where new players start), to
``len(levels) - 1``, the best; promotion moves a player up one level for the next
bucket, demotion down one. Scores are not kept here: a league's standings are the
board's ``Standing`` rows of the bucket for the league's members.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from leaderboard import ranking
from leaderboard.models import Board
from leaderboard.periods import Period

MIN_SIZE = 2
MAX_SIZE = 1000
MAX_LEVELS = 50


def default_levels() -> list[str]:
    return ["Bronze", "Silver", "Gold", "Diamond"]


def validate_levels(value: list[str]) -> None:
    if not value:
        raise ValidationError("Name at least one level.")
    if len(value) > MAX_LEVELS:
        raise ValidationError(f"At most {MAX_LEVELS} levels.")
    if any(not name.strip() for name in value):
        raise ValidationError("Level names may not be blank.")
    if len(set(value)) != len(value):
        raise ValidationError("Each level name may appear once.")


class LeagueSettings(models.Model):
    """Leagues of one period of a board: their size, how many move up and down, the levels."""

    board = models.OneToOneField(Board, on_delete=models.CASCADE, related_name="league_settings")
    period = models.CharField(
        max_length=16,
        choices=[(value, label) for value, label in Period.choices if value != Period.ALL_TIME],
        default=Period.WEEKLY,
        help_text="The period whose buckets the leagues follow (one the board keeps; all_time has no next bucket).",
    )
    size = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(MIN_SIZE), MaxValueValidator(MAX_SIZE)],
        help_text=f"Players per league ({MIN_SIZE}..{MAX_SIZE}).",
    )
    promote = models.PositiveIntegerField(default=5, help_text="The top this many of a league move up a level.")
    demote = models.PositiveIntegerField(default=5, help_text="The bottom this many of a league move down a level.")
    levels = ArrayField(
        models.CharField(max_length=40),
        default=default_levels,
        validators=[validate_levels],
        help_text="Level names, lowest first: new players start at the first, the last is the best.",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "league settings"
        verbose_name_plural = "league settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(size__gte=MIN_SIZE) & Q(size__lte=MAX_SIZE), name="leaguesettings_size_range"
            ),
            models.CheckConstraint(condition=Q(promote__lte=F("size") - F("demote")), name="leaguesettings_moves_fit"),
        ]

    def __str__(self) -> str:
        return f"{self.board_id} {self.period} leagues of {self.size}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.period == Period.ALL_TIME:
            errors["period"] = "all_time has one bucket, so no next one to promote into; use a shorter period."
        elif self.board_id is not None and self.period not in (self.board.periods or []):
            errors["period"] = f"The board keeps {', '.join(self.board.periods)}; leagues need one of those."
        moves = (self.size, self.promote, self.demote)
        if None not in moves and self.promote + self.demote > self.size:
            errors["demote"] = "Promoted and demoted players together may not exceed the league size."
        if errors:
            raise ValidationError(errors)

    @property
    def top_level(self) -> int:
        return len(self.levels) - 1

    def level_name(self, level: int) -> str:
        return self.levels[min(level, self.top_level)]


class League(models.Model):
    """One league of a bucket: ``number`` counts from 1 within its level, filled in order."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="leagues")
    period = models.CharField(max_length=16, choices=Period.choices)
    bucket_start = models.DateTimeField()
    level = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    # The settings' size when the league opened: a change of size applies to leagues opened later.
    capacity = models.PositiveIntegerField()
    # Written only under the level's assignment lock (``services.league_join``).
    member_count = models.PositiveIntegerField(default=0)
    # Redis may hold this league from before a write it missed: read PostgreSQL and rebuild it.
    needs_rebuild = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["board", "period", "bucket_start", "level", "number"], name="league_unique_number"
            ),
            models.CheckConstraint(condition=Q(member_count__lte=F("capacity")), name="league_not_overfull"),
        ]

    def __str__(self) -> str:
        return f"{self.board_id} {self.period} {self.bucket_start:%Y-%m-%d} level {self.level} #{self.number}"


class LeagueMember(models.Model):
    """A player's place in a bucket's league: one per (board, period, bucket, player), kept for the bucket."""

    league = models.ForeignKey(League, on_delete=models.CASCADE, related_name="members")
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="league_members")
    period = models.CharField(max_length=16, choices=Period.choices)
    bucket_start = models.DateTimeField()
    # The player's user id, compared bytewise as the standings' column (ranking.USER_ID_COLLATION).
    # Not a foreign key: an erasure renames the user, and the engine that does it knows no leagues.
    user_id = models.CharField(max_length=64, db_collation=ranking.USER_ID_COLLATION)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["board", "period", "bucket_start", "user_id"], name="leaguemember_one_per_bucket"
            ),
        ]
        indexes = [
            # The player's last bucket of a period (the level they join the next one at).
            models.Index(fields=["board", "period", "user_id", "bucket_start"], name="leaguemember_history"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.league}"
