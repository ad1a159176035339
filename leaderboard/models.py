"""Boards, score events (the game-session / score-history record) and standings.

PostgreSQL is the source of truth: every accepted submission is a
``ScoreEvent`` row, and every live period bucket of a board holds one
``Standing`` row per user. Redis sorted sets mirror the standings (see
``store``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import tiers
from .periods import PERIOD_ORDER, Bucket, Period, bucket_for

# Redis keeps scores as doubles: integers are exact up to 2**53.
SCORE_LIMIT = 2**53 - 1

# The largest metadata one submission may carry, as compact JSON (its event keeps it).
METADATA_MAX_BYTES = 4096


def metadata_json(metadata: object) -> str:
    """Metadata as entries carry it in both stores and as the per-board bound measures it:
    compact JSON; none is an empty object."""
    return json.dumps(metadata or {}, separators=(",", ":"), ensure_ascii=False)


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known IANA time zone.") from exc


def validate_periods(value: list[str]) -> None:
    if not value:
        raise ValidationError("Keep at least one period.")
    unknown = sorted(set(value) - set(PERIOD_ORDER))
    if unknown:
        raise ValidationError(f"Unknown periods: {', '.join(unknown)}.")
    if len(set(value)) != len(value):
        raise ValidationError("Each period may appear once.")


def validate_rate(value: str) -> None:
    if value and not re.fullmatch(r"[1-9][0-9]{0,8}/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ValidationError('Use "<number>/<s|min|hour|day>", e.g. "60/min".')


def default_time_zone() -> str:
    return settings.LEADERBOARD_TIME_ZONE


def default_periods() -> list[str]:
    return list(PERIOD_ORDER)


class Board(models.Model):
    class Operator(models.TextChoices):
        INCREMENT = "increment", "Increment (add the value: pomodoros, total score)"
        BEST = "best", "Best (keep the best value: high score)"
        SET = "set", "Set (keep the latest value)"

    class SortOrder(models.TextChoices):
        DESC = "desc", "Higher is better"
        ASC = "asc", "Lower is better"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    operator = models.CharField(max_length=16, choices=Operator.choices, default=Operator.INCREMENT)
    sort_order = models.CharField(max_length=4, choices=SortOrder.choices, default=SortOrder.DESC)
    periods = ArrayField(
        models.CharField(max_length=16, choices=Period.choices),
        default=default_periods,
        validators=[validate_periods],
        help_text="Periods this board keeps: daily, weekly, monthly, yearly, all_time.",
    )
    time_zone = models.CharField(max_length=64, default=default_time_zone, validators=[validate_time_zone])
    authoritative = models.BooleanField(
        default=False, help_text="Only trusted servers (staff or 'submit for others') may submit."
    )
    min_value = models.BigIntegerField(
        default=0,
        validators=[MinValueValidator(-SCORE_LIMIT), MaxValueValidator(SCORE_LIMIT)],
        help_text="Smallest value one submission may carry.",
    )
    max_value = models.BigIntegerField(
        default=1_000_000,
        validators=[MinValueValidator(-SCORE_LIMIT), MaxValueValidator(SCORE_LIMIT)],
        help_text="Largest value one submission may carry.",
    )
    rate_limit_user = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate],
        help_text='Submits per scored user, e.g. "60/min" (empty: the service default).',
    )
    rate_limit_ip = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate],
        help_text="Submits per client IP from callers that are not trusted servers (empty: the default).",
    )
    is_active = models.BooleanField(default=True)
    submission_cap = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Submissions each player may make per bucket of the cap's period (empty: no cap).",
    )
    submission_cap_period = models.CharField(
        max_length=16,
        choices=Period.choices,
        blank=True,
        default="",
        help_text="One of the kept periods the cap counts in (empty: the shortest kept period).",
    )
    tier_basis = models.CharField(
        max_length=16,
        choices=[("score", "Score cutoffs"), ("percentile", "Percentile cutoffs (the top N %)")],
        blank=True,
        default="",
        help_text="How entries reach a tier (empty: the board has no tiers).",
    )
    tiers = models.JSONField(
        default=list,
        blank=True,
        help_text='Tiers, best first: [{"name": "Gold", "cutoff": 1000}, ...]; the last may have a null '
        "cutoff (everyone else). Score cutoffs are reached by scores at least as good; percentile cutoffs "
        "by entries whose 100 * rank / total is at most the cutoff.",
    )
    entry_metadata_max_bytes = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(METADATA_MAX_BYTES)],
        help_text="Entries carry the metadata of the submit that set their score (best, set) or of the latest "
        "submit (increment), up to this many bytes of JSON; a submit with more is refused. 0: entries carry none.",
    )
    # {period: ISO instant}: the latest manual reset of each period. The live
    # bucket of a period starts at that instant until the period's calendar
    # bucket ends. Written only by ``rollover.period_reset`` under a row lock.
    period_resets = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(min_value__lte=models.F("max_value")), name="board_bounds_ordered"),
            models.CheckConstraint(
                condition=Q(submission_cap__isnull=True) | Q(submission_cap__gte=1),
                name="board_submission_cap_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    # What gives recorded standings their meaning: the time zone placed them in
    # buckets, the operator and the sort order computed them.
    HISTORY_SETTINGS = {
        "time_zone": "its time zone would move recorded scores into other days' buckets",
        "operator": "its operator would mix scores computed two ways",
        "sort_order": "its sort order would turn recorded bests into worsts",
    }

    def clean(self) -> None:
        """Checks across fields, and the rule that a board with standings keeps its history's meaning.

        Every edit of a board (the admin's form, any future API) goes through
        ``full_clean``, so this is the one place that refuses such changes.
        """
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValidationError({"max_value": "The maximum must not be below the minimum."})
        if self.periods:
            self.periods = [p for p in PERIOD_ORDER if p in self.periods]
            if self.submission_cap_period and self.submission_cap_period not in self.periods:
                raise ValidationError(
                    {
                        "submission_cap_period": f"The cap counts in a period the board keeps "
                        f"({', '.join(self.periods)}); leave it empty for the shortest one."
                    }
                )
        tier_errors = tiers.validate(self.tier_basis, self.tiers, higher_is_better=self.higher_is_better)
        if tier_errors:
            raise ValidationError(tier_errors)
        self._clean_history_kept()

    def _clean_history_kept(self) -> None:
        """Refuse changing what recorded standings mean while the board holds any.

        Changing the time zone re-buckets history (today's daily reads 0, the current
        month is archived as another), the operator or sort order re-scores it, and a
        dropped period leaves its live bucket unarchived and unreadable. Names,
        bounds, activity, limits and added periods change nothing recorded.
        """
        if self._state.adding or self.pk is None:
            return
        stored = Board.objects.filter(pk=self.pk).values(*self.HISTORY_SETTINGS, "periods").first()
        if stored is None:
            return
        changed = [name for name in self.HISTORY_SETTINGS if getattr(self, name) != stored[name]]
        dropped = [p for p in stored["periods"] if self.periods and p not in self.periods]
        if not changed and not dropped:
            return
        recorded = Standing.objects.filter(board_id=self.pk)
        errors = {
            name: f"This board holds standings: changing {self.HISTORY_SETTINGS[name]}. "
            "Create a new board for the new setting instead."
            for name in changed
        }
        if not recorded.exists():
            return
        if dropped and recorded.filter(period__in=dropped).exists():
            errors["periods"] = (
                f"This board holds standings in {', '.join(dropped)}: dropping a period would leave its current "
                "bucket unarchived and its history unreadable. Create a new board instead."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def higher_is_better(self) -> bool:
        return self.sort_order == self.SortOrder.DESC

    @property
    def ordered_periods(self) -> list[str]:
        return [p for p in PERIOD_ORDER if p in self.periods]

    @property
    def submission_cap_counted_in(self) -> str:
        """The period whose buckets the submission cap counts in: the one set, else the shortest kept."""
        return self.submission_cap_period or self.ordered_periods[0]

    def submit_rate_per_user(self) -> str:
        """Submissions allowed per scored user, e.g. "120/min" (board setting or the default)."""
        return self.rate_limit_user or settings.LEADERBOARD_SUBMIT_RATE_USER

    def submit_rate_per_ip(self) -> str:
        """Submissions allowed per client IP for callers that are not trusted servers."""
        return self.rate_limit_ip or settings.LEADERBOARD_SUBMIT_RATE_IP

    def keeps(self, period: str) -> bool:
        return period in self.periods

    def live_buckets(self, instant: datetime) -> list[Bucket]:
        """The bucket of every kept period that contains ``instant``."""
        return [self.bucket(period, instant) for period in self.ordered_periods]

    def bucket(self, period: str, instant: datetime) -> Bucket:
        """The bucket of ``period`` containing ``instant``, restarted by a manual reset if any."""
        resets = self.period_resets or {}
        raw = resets.get(period)
        reset_at = datetime.fromisoformat(raw) if raw else None
        # Written by rollover.period_reset next to the instant (absent for resets made before it was).
        sequence = resets.get(f"{period}.sequence")
        return bucket_for(period, instant, self.time_zone, reset_at=reset_at, reset_sequence=sequence)


class SubmissionCount(models.Model):
    """How many submissions a player made in one bucket of a capped board's cap period.

    Written only by the submit of a board with a ``submission_cap``, in the
    transaction of the submission it counts: a submission that writes nothing
    rolls its increment back, so the count equals the accepted submissions.
    Voided events are not given back. Finished buckets' rows stay as history.
    """

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="submission_counts")
    period = models.CharField(max_length=16, choices=Period.choices)
    bucket_start = models.DateTimeField()
    # The foreign key points at the username (``to_field``): its column holds the user id, a string.
    user_id: str
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        to_field="username",
        db_column="user_id",
        related_name="submission_counts",
    )
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["board", "period", "bucket_start", "user"], name="submissioncount_unique_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.count} ({self.board_id} {self.period} {self.bucket_start:%Y-%m-%d})"


class ScoreEvent(models.Model):
    """One accepted submission: append-only audit trail and game-session record.

    ``board`` and ``user`` are relations without database constraints (``db_constraint=False``):
    a foreign key would check the referenced row on every insert and share-lock it at commit,
    and two submits holding the board row's lock at once make PostgreSQL create a multixact
    (docs/scaling.md). References stay valid all the same:

    * the submit statement writes only for a player and a board it found (``u``, and
      ``leaderboard_board_submits_admit``, under the board's shared advisory lock), the player's
      row share-locked until it commits; rebuilds and restores write only users their events name;
    * deleting either parent is refused: the ORM's ``PROTECT``, and in the database the deferred
      constraint triggers of migration 0009 (``leaderboard_user_refs``, ``leaderboard_board_refs``),
      checked at commit like a foreign key, a board's after waiting for submits in flight;
    * renaming a user (the column holds the username) is refused by the same trigger while
      events or standings still name the old id; an erasure renames them first
      (``moderation.player_erase``).

    Neither relation has a single-column index: ``scoreevent_user_time`` leads with the user.
    The board leads only partial indexes (``scoreevent_board_time``: counted events;
    ``scoreevent_idempotency_unique``: keyed ones), so a query by board alone (a board's
    deletion check, a scratch board's clean-up) scans the table: rare, and cheaper than an
    index entry on every submit.
    """

    board = models.ForeignKey(
        Board, on_delete=models.PROTECT, related_name="events", db_constraint=False, db_index=False
    )
    # The foreign key points at the username (``to_field``): its column holds the user id, a string.
    user_id: str
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        to_field="username",
        db_column="user_id",
        related_name="score_events",
        db_constraint=False,
        db_index=False,
    )
    value = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The response the first submission returned, replayed to retries.
    result = models.JSONField(null=True, blank=True, editable=False)
    submitted_by = models.CharField(max_length=64, blank=True, help_text="User id of the caller, when not the player.")
    created_at = models.DateTimeField(db_index=False)
    # Set when a moderator removed the player's scores: the event stays as the audit
    # trail, and reports, rebuilds and unbans ignore it (leaderboard.moderation).
    voided_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Defaults in the database too: the submit and bulk imports insert with SQL.
    voided_by = models.CharField(max_length=64, blank=True, editable=False, db_default="")
    void_reason = models.CharField(max_length=500, blank=True, editable=False, db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["board", "user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="scoreevent_idempotency_unique",
            ),
        ]
        indexes = [
            # Reports scan a board's history by date; the included columns
            # let PostgreSQL answer from the index alone.
            # Only counted (non-voided) events: reports filter on that and still read the index alone.
            models.Index(
                fields=["board", "created_at"],
                include=["user", "value"],
                condition=Q(voided_at__isnull=True),
                name="scoreevent_board_time",
            ),
            models.Index(fields=["user", "created_at"], name="scoreevent_user_time"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.value:+d} on {self.board_id}"


def in_buckets(buckets: Iterable[Bucket]) -> Q:
    """Standings (or any rows keyed by period and bucket start) in one of ``buckets``; none for no buckets.

    An empty ``Q()`` would match every row: no buckets must select nothing.
    """
    q = Q(pk__in=[])
    for bucket in buckets:
        q |= Q(period=bucket.period, bucket_start=bucket.start)
    return q


class Standing(models.Model):
    """A user's score in one bucket of one period of a board.

    The seeds' daily/weekly/monthly/yearly pomodoro counters are these rows.
    ``user`` stores the public user id, so ranking never needs a join.

    ``board`` and ``user`` have no database constraint and no index of their own, for the
    reasons ``ScoreEvent`` gives (the same triggers refuse orphaning a standing); the
    composite indexes lead with them: ``standing_rank`` and ``standing_unique_user`` with
    the board, ``standing_user`` with the user.
    """

    board = models.ForeignKey(
        Board, on_delete=models.PROTECT, related_name="standings", db_constraint=False, db_index=False
    )
    period = models.CharField(max_length=16, choices=Period.choices)
    bucket_start = models.DateTimeField()
    # The foreign key points at the username (``to_field``): its column holds the user id, a string.
    user_id: str
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        to_field="username",
        db_column="user_id",
        related_name="standings",
        db_constraint=False,
        db_index=False,
    )
    score = models.BigIntegerField()
    # The metadata of the submit that set ``score`` (``best``, ``set``) or of the latest one
    # (``increment``): kept only on boards with ``entry_metadata_max_bytes`` (operators.metadata_expression).
    metadata = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["board", "period", "bucket_start", "user"], name="standing_unique_user"),
            models.CheckConstraint(
                condition=Q(score__gte=-SCORE_LIMIT) & Q(score__lte=SCORE_LIMIT), name="standing_score_range"
            ),
        ]
        indexes = [
            # Ranking: one index serves both directions. Read forwards it is
            # "score asc, user asc"; backwards, "score desc, user desc".
            models.Index(fields=["board", "period", "bucket_start", "score", "user"], name="standing_rank"),
            models.Index(fields=["user", "board"], name="standing_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.score} ({self.board_id} {self.period} {self.bucket_start:%Y-%m-%d})"


class BucketRepair(models.Model):
    """A bucket whose Redis copy missed a committed write and must be rebuilt."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="repairs")
    period = models.CharField(max_length=16, choices=Period.choices)
    bucket_start = models.DateTimeField()
    reason = models.CharField(max_length=300)
    # Refreshed by every new failure, so a repair that started earlier keeps the mark.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["board", "period", "bucket_start"], name="bucketrepair_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.board_id} {self.period} {self.bucket_start:%Y-%m-%d}: {self.reason}"


class PeriodArchive(models.Model):
    """A finished bucket: its winners and top entries, kept after its Redis key expires."""

    class Reason(models.TextChoices):
        ROLLOVER = "rollover", "Period ended"
        RESET = "reset", "Manual reset"

    board = models.ForeignKey(Board, on_delete=models.PROTECT, related_name="archives")
    period = models.CharField(max_length=16, choices=Period.choices)
    bucket_start = models.DateTimeField()
    bucket_end = models.DateTimeField()
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.ROLLOVER)
    participants = models.PositiveIntegerField(default=0)
    winners = models.JSONField(default=list, help_text="Entries ranked 1: [{user_id, score, rank}].")
    top = models.JSONField(default=list, help_text="The top entries with scores and ranks.")
    triggered_by = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Beat may fire twice or on two hosts: a bucket is archived once.
            models.UniqueConstraint(fields=["board", "period", "bucket_start"], name="periodarchive_unique_bucket"),
        ]
        indexes = [models.Index(fields=["board", "period", "-bucket_start"], name="periodarchive_recent")]
        ordering = ["-bucket_start"]

    def __str__(self) -> str:
        return f"{self.board_id} {self.period} {self.bucket_start:%Y-%m-%d %H:%M} ({self.participants} players)"


class ReconciliationRun(models.Model):
    """One run of the reconciliation that repairs Redis from PostgreSQL."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another run held the lock)"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=32, default="manual", help_text="beat, api, admin, command, ...")
    dry_run = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0, help_text="Members missing from Redis, added.")
    updated = models.PositiveIntegerField(default=0, help_text="Members whose Redis score differed, fixed.")
    deleted = models.PositiveIntegerField(default=0, help_text="Members in Redis but not in PostgreSQL, removed.")
    unchanged = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{board, period, user_id, reason}], capped.")
    buckets = models.JSONField(default=list, blank=True, help_text="Per bucket statistics.")
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="reconciliationrun_recent")]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "run"
        return f"{kind} {self.pk} ({self.status}, {self.trigger})"


class ModerationAction(models.Model):
    """One moderation or erasure: who did what to whom, why and when (append-only).

    ``target`` is the player's user id; an erasure records the tombstone that
    replaced it (never the erased id), and erasing a player rewrites their
    earlier entries to that tombstone too.
    """

    class Action(models.TextChoices):
        REMOVE = "remove", "Scores removed"
        BAN = "ban", "Banned"
        UNBAN = "unban", "Unbanned"
        ERASE = "erase", "Erased (GDPR)"

    action = models.CharField(max_length=16, choices=Action.choices)
    target = models.CharField(max_length=64, blank=True, help_text="The player's user id (a tombstone once erased).")
    board = models.CharField(max_length=64, blank=True, help_text="The board's slug; empty: every board.")
    actor = models.CharField(max_length=64, blank=True, help_text="Who did it: a staff user id, a key, or 'self'.")
    reason = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="Counts: events voided, standings removed, ...")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target", "-created_at"], name="moderation_target_recent")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.target or '-'} by {self.actor or '-'}"
