from __future__ import annotations

from datetime import date

from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers

from leaderboard.periods import Period

# Reports turn dates into the instants that start and end them in a board's
# time zone, the day after the last included; the calendar must have that day.
FIRST_REPORT_DATE = date(1970, 1, 1)
LAST_REPORT_DATE = date(9999, 12, 30)
MAX_OFFSET = 1_000_000


class ReportDateField(serializers.DateField):
    """A date a report can start or end on: 1970-01-01 to 9999-12-30 (a field 400 otherwise, never an overflow)."""

    def __init__(self, **kwargs) -> None:
        message = f"Enter a date between {FIRST_REPORT_DATE} and {LAST_REPORT_DATE}."
        kwargs["validators"] = [
            *kwargs.get("validators", ()),
            MinValueValidator(FIRST_REPORT_DATE, message=message),
            MaxValueValidator(LAST_REPORT_DATE, message=message),
        ]
        super().__init__(**kwargs)


class TopPlayersQuerySerializer(serializers.Serializer):
    board = serializers.SlugField(default="high-score", help_text="Board slug.")
    start_date = ReportDateField(help_text="First day (YYYY-MM-DD), in the board's time zone.")
    end_date = ReportDateField(help_text="Last day, inclusive.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=10)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)


class TopPlayerSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    user_id = serializers.CharField()
    score = serializers.IntegerField()
    submissions = serializers.IntegerField()


class TopPlayersSerializer(serializers.Serializer):
    board = serializers.CharField(source="board.slug")
    measure = serializers.CharField(help_text="best, total or latest score per player (the board's operator).")
    start = serializers.DateTimeField(source="range.start")
    end = serializers.DateTimeField(source="range.end", help_text="Exclusive.")
    total = serializers.IntegerField(help_text="Players with a score in the range.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    entries = TopPlayerSerializer(many=True)


class ArchivesQuerySerializer(serializers.Serializer):
    board = serializers.SlugField(required=False)
    period = serializers.ChoiceField(choices=Period.choices, required=False)
    since = ReportDateField(required=False)
    until = ReportDateField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("since") and attrs.get("until") and attrs["until"] < attrs["since"]:
            raise serializers.ValidationError({"until": "Before since."})
        return attrs


class ArchiveSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    board = serializers.CharField(source="board.slug")
    period = serializers.CharField()
    bucket_start = serializers.DateTimeField()
    bucket_end = serializers.DateTimeField()
    reason = serializers.CharField()
    participants = serializers.IntegerField()
    winners = serializers.ListField(child=serializers.DictField())
    top = serializers.ListField(child=serializers.DictField())


class ArchivesPageSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    archives = ArchiveSerializer(many=True)
