"""A league's standings as JSON, and the query its reads take."""

from __future__ import annotations

from rest_framework import serializers

from leaderboard.api.serializers import BucketSerializer

from .. import rules
from ..selectors import MAX_LIMIT


class LeagueQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=MAX_LIMIT, help_text="Entries to list.")
    offset = serializers.IntegerField(min_value=0, max_value=MAX_LIMIT, default=0, help_text="Entries to skip.")


class LeagueEntrySerializer(serializers.Serializer):
    user_id = serializers.CharField(source="entry.user_id")
    score = serializers.IntegerField(source="entry.score")
    rank = serializers.IntegerField(source="entry.rank", help_text="Competition rank within the league.")
    zone = serializers.ChoiceField(
        choices=[rules.PROMOTE, rules.DEMOTE, rules.STAY],
        help_text="Where this rank leads if the bucket ended now: up a level, down a level, or the same.",
    )


class LeagueInfoSerializer(serializers.Serializer):
    level = serializers.IntegerField(source="league.level", help_text="0 is the lowest level.")
    level_name = serializers.CharField()
    number = serializers.IntegerField(source="league.number", help_text="The league's number within its level.")
    members = serializers.IntegerField(source="league.member_count", help_text="Players who joined it.")
    size = serializers.IntegerField(source="league.capacity", help_text="Players it takes.")
    promote = serializers.IntegerField(source="league_settings.promote", help_text="The top this many move up.")
    demote = serializers.IntegerField(source="league_settings.demote", help_text="The bottom this many move down.")


class LeagueStandingsSerializer(serializers.Serializer):
    board = serializers.CharField(source="board.slug")
    period = serializers.CharField(source="bucket.period")
    bucket = BucketSerializer(help_text="The bucket the league plays in; it ends at `end`.")
    league = LeagueInfoSerializer(source="*")
    ranked = serializers.IntegerField(help_text="Members holding a standing in the bucket.")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    cached = serializers.BooleanField(help_text="True when served from Redis, false from PostgreSQL.")
    entries = LeagueEntrySerializer(many=True)
    me = LeagueEntrySerializer(
        allow_null=True, help_text="The caller's entry (rank and zone) in this league; null when not in it."
    )
