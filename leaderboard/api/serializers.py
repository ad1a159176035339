from __future__ import annotations

import functools
from datetime import UTC

from django.conf import settings as django_settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from accounts.models import handle_validator
from leaderboard.models import SCORE_LIMIT, Board
from leaderboard.periods import Period
from leaderboard.selectors import MAX_AROUND, MAX_LIMIT, MAX_MEMBERS

# --------------------------------------------------------------------------- input


class SubmitInputSerializer(serializers.Serializer):
    value = serializers.IntegerField(min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT)
    user_id = serializers.CharField(
        required=False,
        max_length=64,
        validators=[handle_validator],
        help_text="Whose score this is; defaults to the caller. Naming another user needs trust.",
    )
    idempotency_key = serializers.CharField(
        required=False,
        max_length=128,
        min_length=1,
        help_text="Retries with the same key count once. The Idempotency-Key header works too.",
    )
    metadata = serializers.JSONField(required=False, help_text="A JSON object kept with the score event.")
    ranks = serializers.ListField(
        child=serializers.ChoiceField(choices=Period.choices),
        required=False,
        max_length=len(Period.choices),
        help_text=(
            "The periods whose new rank the answer carries (default: every period; [] for none). "
            "Each rank costs the server a count: ask only for those you use."
        ),
    )


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=10)
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)


class AroundQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=0, max_value=MAX_AROUND, default=5, help_text="Entries above and below the user."
    )


class MembersQuerySerializer(serializers.Serializer):
    user_ids = serializers.CharField(help_text=f"Comma-separated user ids, at most {MAX_MEMBERS}.")

    def validate_user_ids(self, value: str) -> list[str]:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if not ids:
            raise serializers.ValidationError("Name at least one user id.")
        if len(ids) > MAX_MEMBERS:
            raise serializers.ValidationError(f"At most {MAX_MEMBERS} user ids per request.")
        for uid in ids:
            handle_validator(uid)
        return ids


# --------------------------------------------------------------------------- output


BUCKET_HELP = "The bucket's date in the board's time zone; after a manual reset `.2`, `.3`, ... (e.g. `2026-11-30.2`)."
RESET_AT_HELP = "When a manual reset restarted this bucket (null for a calendar bucket)."


class BucketSerializer(serializers.Serializer):
    period = serializers.CharField()
    bucket = serializers.CharField(source="label", help_text=BUCKET_HELP)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True)
    reset_at = serializers.DateTimeField(allow_null=True, help_text=RESET_AT_HELP)


class PeriodInfoSerializer(serializers.Serializer):
    period = serializers.CharField()
    bucket = serializers.CharField(help_text=BUCKET_HELP)
    bucket_reset_at = serializers.DateTimeField(allow_null=True, help_text=RESET_AT_HELP)
    bucket_start = serializers.DateTimeField()
    bucket_start_local = serializers.CharField()
    next_reset = serializers.DateTimeField(allow_null=True, help_text="UTC instant the period rolls over.")
    next_reset_local = serializers.CharField(allow_null=True, help_text="The same instant in the board's time zone.")
    seconds_to_reset = serializers.IntegerField(allow_null=True)


class BoardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Board
        fields = [
            "slug",
            "name",
            "description",
            "operator",
            "sort_order",
            "periods",
            "time_zone",
            "authoritative",
            "min_value",
            "max_value",
        ]
        read_only_fields = fields


class BoardDetailSerializer(BoardSerializer):
    current = PeriodInfoSerializer(many=True, read_only=True, help_text="The live bucket of each period.")

    class Meta(BoardSerializer.Meta):
        fields = [*BoardSerializer.Meta.fields, "current"]
        read_only_fields = fields


_TIER_HELP = (
    "The entry's tier, on boards that define tiers (absent elsewhere): by score, or by percentile "
    "(100 * rank / total at most the tier's cutoff); null when it reaches none."
)
_METADATA_HELP = (
    "On boards whose entries carry metadata (absent elsewhere): the metadata of the submit that set this "
    "score (best, set) or of the latest submit (increment); {} when it had none."
)


class _Extra(serializers.Field):
    """What a board adds to its entries (``ranking.Entry.extras``): absent where the board adds nothing."""

    def get_attribute(self, instance: object) -> object:
        extras = dict(getattr(instance, "extras", ()))
        if self.field_name not in extras:
            raise SkipField()
        return extras[self.field_name]

    def to_representation(self, value: object) -> object:
        return value


@extend_schema_field({"type": "string", "nullable": True})
class TierField(_Extra):
    pass


@extend_schema_field(OpenApiTypes.OBJECT)
class MetadataField(_Extra):
    pass


class EntrySerializer(serializers.Serializer):
    user_id = serializers.CharField()
    score = serializers.IntegerField()
    rank = serializers.IntegerField()
    tier = TierField(required=False, help_text=_TIER_HELP)
    metadata = MetadataField(required=False, help_text=_METADATA_HELP)


class LeaderboardPageSerializer(serializers.Serializer):
    board = serializers.CharField(source="board.slug")
    period = serializers.CharField(source="bucket.period")
    bucket = BucketSerializer()
    total = serializers.IntegerField(help_text="Ranked users in this bucket.")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    cached = serializers.BooleanField(help_text="True when served from Redis, false from PostgreSQL.")
    entries = EntrySerializer(many=True)


class MembersPageSerializer(serializers.Serializer):
    board = serializers.CharField(source="board.slug")
    period = serializers.CharField(source="bucket.period")
    bucket = BucketSerializer()
    total = serializers.IntegerField()
    cached = serializers.BooleanField()
    entries = EntrySerializer(many=True)
    unranked = serializers.ListField(child=serializers.CharField(), help_text="Requested users with no score.")


class RankSerializer(serializers.Serializer):
    board = serializers.CharField(source="board.slug")
    period = serializers.CharField(source="bucket.period")
    bucket = BucketSerializer()
    user_id = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    rank = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField()
    percentile = serializers.FloatField(
        allow_null=True, help_text="Percent of ranked users this user ranks at or above (100 = first)."
    )
    cached = serializers.BooleanField()
    tier = TierField(required=False, help_text=_TIER_HELP + " Null when unranked.")
    metadata = MetadataField(required=False, allow_null=True, help_text=_METADATA_HELP + " Null when unranked.")


class HistoryEntrySerializer(serializers.Serializer):
    bucket = BucketSerializer()
    score = serializers.IntegerField(allow_null=True, help_text="The player's score (final, for a finished bucket).")
    rank = serializers.IntegerField(
        allow_null=True, help_text="Competition rank: 1 + the players with a strictly better score."
    )
    participants = serializers.IntegerField(source="total", help_text="Ranked players in the bucket.")
    percentile = serializers.FloatField(
        allow_null=True, help_text="Percent of ranked players this player ranks at or above (100 = first)."
    )
    tier = serializers.CharField(
        allow_null=True,
        help_text="The player's tier (final, for a finished bucket), on boards that define tiers; else null.",
    )


class LiveHistoryEntrySerializer(HistoryEntrySerializer):
    cached = serializers.BooleanField(help_text="True when served from Redis, false from PostgreSQL.")


class UserHistorySerializer(serializers.Serializer):
    board = serializers.CharField(source="board.slug")
    period = serializers.CharField()
    user_id = serializers.CharField()
    live = LiveHistoryEntrySerializer(
        help_text="The current bucket, live (score and rank null when the player has no score in it)."
    )
    total = serializers.IntegerField(help_text="Finished buckets in which the player has a standing.")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    entries = HistoryEntrySerializer(many=True, help_text="Finished buckets the player played, newest first.")


class UserStatsSerializer(serializers.Serializer):
    board = serializers.CharField(source="board.slug")
    user_id = serializers.CharField()
    scores = serializers.DictField(child=serializers.IntegerField(), help_text="Score in each period's live bucket.")
    updated_at = serializers.DateTimeField(allow_null=True)
    cached_at = serializers.DateTimeField(allow_null=True)
    cached = serializers.BooleanField()


class SubmitResultSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    board = serializers.CharField(source="board.slug")
    user_id = serializers.CharField()
    value = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    scores = serializers.DictField(child=serializers.IntegerField(), help_text="New score in each live bucket.")
    ranks = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=(
            "New rank per period whose bucket Redis holds; a period is absent when its bucket is not cached "
            "(cold, Redis unavailable) and on a replay (empty), never null."
        ),
    )
    replayed = serializers.BooleanField(help_text="True when this repeats an earlier submission's idempotency key.")
    cache_updated = serializers.BooleanField()


# --------------------------------------------------------------------------- hot-path payloads
# The two hottest responses are built as plain dicts: DRF's serializer machinery
# costs more than the Redis read behind them. They produce exactly what the
# serializers above document (a test compares the two).


def _bucket_payload(bucket) -> dict:
    return {
        "period": bucket.period,
        "bucket": bucket.label,
        "start": _iso(bucket.start),
        "end": _iso(bucket.end) if bucket.end else None,
        "reset_at": _iso(bucket.reset_at) if bucket.reset_at else None,
    }


_DATETIME = serializers.DateTimeField()


@functools.lru_cache(maxsize=4096)
def _iso(value) -> str:
    """DRF's representation of an instant (bucket bounds repeat on every read: cached)."""
    return _DATETIME.to_representation(value)


def _instant(value) -> str:
    """DRF's representation of a fresh instant (never repeats: not worth a cache slot).

    The services stamp instants in UTC and the API renders in UTC, where DRF's
    representation is the ISO format with ``Z``; anything else goes through DRF.
    """
    if value.tzinfo is UTC and django_settings.TIME_ZONE == "UTC":
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return _DATETIME.to_representation(value)


def page_payload(page) -> dict:
    return {
        "board": page.board.slug,
        "period": page.bucket.period,
        "bucket": _bucket_payload(page.bucket),
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "cached": page.cached,
        "entries": [e.as_dict() for e in page.entries],
    }


def members_payload(page) -> dict:
    return {
        "board": page.board.slug,
        "period": page.bucket.period,
        "bucket": _bucket_payload(page.bucket),
        "total": page.total,
        "cached": page.cached,
        "entries": [e.as_dict() for e in page.entries],
        "unranked": page.unranked,
    }


def submit_payload(result) -> dict:
    return {
        "event_id": result.event_id,
        "board": result.board.slug,
        "user_id": result.user_id,
        "value": result.value,
        "created_at": _instant(result.created_at),
        "scores": result.scores,
        # A rank the mirror could not read (a cold bucket) is left out: one rule, "absent when not cached".
        "ranks": {period: rank for period, rank in result.ranks.items() if rank is not None},
        "replayed": result.replayed,
        "cache_updated": result.cache_updated,
    }


def rank_payload(info) -> dict:
    return {
        "board": info.board.slug,
        "period": info.bucket.period,
        "bucket": _bucket_payload(info.bucket),
        "user_id": info.user_id,
        "score": info.score,
        "rank": info.rank,
        "total": info.total,
        "percentile": info.percentile,
        "cached": info.cached,
        # What the board adds to entries (tier, metadata): absent on boards that add nothing.
        **dict(info.extras),
    }
