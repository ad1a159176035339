from __future__ import annotations

from rest_framework import serializers

from leaderboard.models import Board
from rewards.models import WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    """An endpoint as its board's managers see it, secret included (the receiver needs it)."""

    board: serializers.SlugRelatedField[Board] = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "board", "url", "description", "is_active", "secret", "created_at"]
        read_only_fields = ["id", "board", "secret", "created_at"]
