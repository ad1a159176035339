"""Board definitions over the API: what a writer may send, and the full definition it gets back."""

from __future__ import annotations

from rest_framework import serializers

from leaderboard.boards import EDITABLE_FIELDS
from leaderboard.models import Board
from leaderboard.periods import Period

from .serializers import EntrySerializer


class BoardDefinitionSerializer(serializers.ModelSerializer):
    """A board as its managers see it: every setting, active or not."""

    # Declared: a read-only field built from the model drops ``allow_blank``, and the schema's enum then
    # lacks the "" (no period set) that the board answers.
    submission_cap_period = serializers.ChoiceField(
        choices=Period.choices,
        allow_blank=True,
        read_only=True,
        help_text=Board._meta.get_field("submission_cap_period").help_text,
    )
    tier_basis = serializers.ChoiceField(
        choices=[("score", "Score cutoffs"), ("percentile", "Percentile cutoffs (the top N %)")],
        allow_blank=True,
        read_only=True,
        help_text=Board._meta.get_field("tier_basis").help_text,
    )
    submission_cap_counted_in = serializers.SerializerMethodField(
        help_text="The period whose buckets the submission cap counts in (the one set, else the shortest kept); "
        "null without a cap."
    )

    class Meta:
        model = Board
        fields = ["slug", *EDITABLE_FIELDS, "submission_cap_counted_in", "created_at", "updated_at"]
        read_only_fields = fields

    def get_submission_cap_counted_in(self, board: Board) -> str | None:
        return board.submission_cap_counted_in if board.submission_cap is not None else None


class BoardWriteSerializer(serializers.ModelSerializer):
    """Settings a PUT or PATCH may carry; each is optional here.

    Types and field rules are checked here; completeness and the rules across
    fields and history are the model's ``full_clean()`` in the service.
    """

    class Meta:
        model = Board
        fields = list(EDITABLE_FIELDS)
        extra_kwargs = {name: {"required": False} for name in EDITABLE_FIELDS}


class BoardCreateSerializer(BoardWriteSerializer):
    """A new board: its slug and settings (POST)."""

    slug = serializers.SlugField(max_length=64, help_text="The board's permanent id in URLs.")

    class Meta(BoardWriteSerializer.Meta):
        fields = ["slug", *EDITABLE_FIELDS]


class ArchiveSummarySerializer(serializers.Serializer):
    """What a reset archived: the bucket that ended and its winners."""

    board = serializers.CharField(source="board.slug")
    period = serializers.CharField()
    archive_id = serializers.IntegerField(source="pk")
    reason = serializers.CharField()
    bucket_start = serializers.DateTimeField()
    bucket_end = serializers.DateTimeField(help_text="The reset instant: the new bucket starts here.")
    participants = serializers.IntegerField()
    winners = EntrySerializer(many=True)
    top = EntrySerializer(many=True)
    triggered_by = serializers.CharField()
