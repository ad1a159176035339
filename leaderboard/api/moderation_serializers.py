"""Input and output of the moderation API (staff, or service keys with the ``moderate`` right)."""

from __future__ import annotations

from rest_framework import serializers


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why: recorded in the moderation log.")


class OptionalReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RemoveInputSerializer(ReasonInputSerializer):
    board = serializers.SlugField(
        max_length=64, required=False, allow_blank=True, default="", help_text="A board's slug; omitted: every board."
    )


class ModerationResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    user_id = serializers.CharField(help_text="The player's user id (for an erasure: the tombstone that replaced it).")
    boards = serializers.ListField(child=serializers.CharField(), help_text="Boards whose standings changed.")
    standings_removed = serializers.IntegerField()
    standings_restored = serializers.IntegerField()
    events_voided = serializers.IntegerField()
    log_id = serializers.IntegerField(help_text="The moderation log entry.")
