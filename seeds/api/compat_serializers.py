"""Request and response bodies of the seeds' endpoints, as the seed documents show them."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import handle_validator
from leaderboard.models import SCORE_LIMIT
from reports.api.serializers import ReportDateField

UserId = lambda **kw: serializers.CharField(max_length=64, validators=[handle_validator], **kw)  # noqa: E731

# --------------------------------------------------------------------------- seed 000


class PomoUpdateRequest(serializers.Serializer):
    user_id = UserId()
    count = serializers.IntegerField(default=1, help_text="Pomodoros to add (default 1).")


class PomoCounts(serializers.Serializer):
    daily_pomo = serializers.IntegerField()
    weekly_pomo = serializers.IntegerField()
    monthly_pomo = serializers.IntegerField()
    yearly_pomo = serializers.IntegerField()


class PomoUpdateResponse(PomoCounts):
    success = serializers.BooleanField()
    user_id = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)


class PomoLimitQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class PomoEntry(PomoCounts):
    user_id = serializers.CharField()
    score = serializers.IntegerField()
    rank = serializers.IntegerField()


class PomoLeaderboardResponse(serializers.Serializer):
    success = serializers.BooleanField()
    period = serializers.CharField()
    total_entries = serializers.IntegerField()
    cached = serializers.BooleanField()
    entries = PomoEntry(many=True)


class UserStatsResponse(PomoCounts):
    user_id = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)
    cached_at = serializers.DateTimeField(allow_null=True)


class UserRankResponse(serializers.Serializer):
    user_id = serializers.CharField()
    period = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True, help_text="null when the user has no pomodoro in the period")
    score = serializers.IntegerField()
    total_users = serializers.IntegerField()


class AdminSyncResponse(serializers.Serializer):
    success = serializers.BooleanField()
    run_id = serializers.IntegerField()
    status = serializers.CharField()
    message = serializers.CharField()


class AdminResetResponse(serializers.Serializer):
    success = serializers.BooleanField()
    period = serializers.CharField()
    archive_id = serializers.IntegerField()
    archived_participants = serializers.IntegerField()
    reset_at = serializers.DateTimeField()


class AdminStatusResponse(serializers.Serializer):
    success = serializers.BooleanField()
    redis = serializers.DictField()
    postgres = serializers.DictField()
    leaderboards = serializers.DictField(help_text="Per period: bucket, members in PostgreSQL and Redis, drift.")


class AdminCacheResponse(serializers.Serializer):
    success = serializers.BooleanField()
    deleted_keys = serializers.IntegerField()


# --------------------------------------------------------------------------- seed 002


class IncrementRequest(serializers.Serializer):
    points = serializers.IntegerField(min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT)


class IncrementResponse(serializers.Serializer):
    success = serializers.BooleanField()
    newScore = serializers.IntegerField()


# --------------------------------------------------------------------------- seed 003


class GameSubmitRequest(serializers.Serializer):
    user_id = UserId()
    score = serializers.IntegerField(min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT)


class GameSubmitResponse(serializers.Serializer):
    success = serializers.BooleanField()
    session_id = serializers.IntegerField(help_text="The recorded game session (score event).")
    user_id = serializers.CharField()
    score = serializers.IntegerField()
    total_score = serializers.IntegerField()
    rank = serializers.IntegerField(allow_null=True)


class GameEntry(serializers.Serializer):
    rank = serializers.IntegerField()
    user_id = serializers.CharField()
    total_score = serializers.IntegerField()


class GameTopResponse(serializers.Serializer):
    cached = serializers.BooleanField()
    leaderboard = GameEntry(many=True)


class GameRankResponse(serializers.Serializer):
    user_id = serializers.CharField()
    rank = serializers.IntegerField()
    total_score = serializers.IntegerField()
    total_players = serializers.IntegerField()


# --------------------------------------------------------------------------- seed 004


class V1Credentials(serializers.Serializer):
    username = UserId()
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class V1RegisterResponse(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class V1TokenResponse(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()


class V1ScoreRequest(serializers.Serializer):
    score = serializers.IntegerField(min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT)


class V1ScoreResponse(serializers.Serializer):
    username = serializers.CharField()
    score = serializers.IntegerField()
    high_score = serializers.IntegerField()
    rank = serializers.IntegerField(allow_null=True)


class V1PageQuery(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    size = serializers.IntegerField(min_value=1, max_value=100, default=10)


class V1Entry(serializers.Serializer):
    rank = serializers.IntegerField()
    username = serializers.CharField()
    score = serializers.IntegerField()


class V1GlobalResponse(serializers.Serializer):
    page = serializers.IntegerField()
    size = serializers.IntegerField()
    total = serializers.IntegerField()
    cached = serializers.BooleanField()
    items = V1Entry(many=True)


class V1RankResponse(serializers.Serializer):
    username = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True)
    score = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField()


class V1ReportQuery(serializers.Serializer):
    start_date = ReportDateField()
    end_date = ReportDateField()
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=10)


class V1ReportPlayer(serializers.Serializer):
    rank = serializers.IntegerField()
    username = serializers.CharField()
    high_score = serializers.IntegerField()
    submissions = serializers.IntegerField()


class V1ReportResponse(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    players = V1ReportPlayer(many=True)
