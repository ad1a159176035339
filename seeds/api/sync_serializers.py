from __future__ import annotations

from rest_framework import serializers

from leaderboard.models import ReconciliationRun


class SyncInputSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False, help_text="Report what would change; change nothing.")


class ReconciliationRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "status",
            "trigger",
            "dry_run",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "created",
            "updated",
            "deleted",
            "unchanged",
            "error_count",
            "errors",
            "buckets",
            "detail",
        ]
        read_only_fields = fields


class SyncEnqueuedSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    status = serializers.CharField()
    dry_run = serializers.BooleanField()


class ScheduleSerializer(serializers.Serializer):
    name = serializers.CharField()
    task = serializers.CharField()
    enabled = serializers.BooleanField()
    schedule = serializers.CharField()
    last_run_at = serializers.DateTimeField(allow_null=True)


class SyncStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Whether the hourly reconciliation is scheduled.")
    running = serializers.BooleanField(help_text="Whether a run holds the lock now.")
    schedule = ScheduleSerializer(allow_null=True)
    last_run = ReconciliationRunSerializer(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)


class SyncHealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    redis = serializers.BooleanField()
    database = serializers.BooleanField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_success_age_seconds = serializers.FloatField(allow_null=True)
    problems = serializers.ListField(child=serializers.CharField())


class BucketCountSerializer(serializers.Serializer):
    board = serializers.CharField()
    period = serializers.CharField()
    bucket = serializers.CharField(
        help_text="The bucket's date; after a manual reset `.2`, `.3`, ... (`2026-11-30.2`)."
    )
    reset_at = serializers.DateTimeField(allow_null=True, help_text="When a manual reset restarted this bucket.")
    postgres = serializers.IntegerField()
    redis = serializers.IntegerField(allow_null=True)
    state = serializers.CharField()
    drift = serializers.IntegerField(allow_null=True)


class SyncMetricsSerializer(serializers.Serializer):
    buckets = BucketCountSerializer(many=True)
    total_drift = serializers.IntegerField()
    last_run = ReconciliationRunSerializer(allow_null=True)
    redis_memory_bytes = serializers.IntegerField(allow_null=True)
