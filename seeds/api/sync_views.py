"""Seed 001's management API for the hourly reconciliation (staff only)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard import health, sync
from leaderboard.api.validation import validated
from leaderboard.models import ReconciliationRun

from . import sync_serializers as s

TAGS = ["periodic sync"]


class SyncStatusView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=s.SyncStatusSerializer, tags=TAGS, summary="Reconciliation status")
    def get(self, request: Request) -> Response:
        return Response(s.SyncStatusSerializer(sync.sync_status()).data)


class SyncRunView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        request=s.SyncInputSerializer,
        responses={202: s.SyncEnqueuedSerializer},
        tags=TAGS,
        summary="Run a reconciliation now",
        description="Queues a run for a worker and returns its id.",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.SyncInputSerializer, request.data)
        run = sync.sync_enqueue(dry_run=data["dry_run"], trigger="api")
        return Response(
            {"run_id": run.pk, "status": run.status, "dry_run": run.dry_run}, status=status.HTTP_202_ACCEPTED
        )


class SyncRunDetailView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=s.ReconciliationRunSerializer, tags=TAGS, summary="One reconciliation run")
    def get(self, request: Request, run_id: int) -> Response:
        return Response(s.ReconciliationRunSerializer(get_object_or_404(ReconciliationRun, pk=run_id)).data)


class SyncStartView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses=s.SyncStatusSerializer, tags=TAGS, summary="Enable the hourly schedule")
    def post(self, request: Request) -> Response:
        sync.sync_schedule_set(enabled=True)
        return Response(s.SyncStatusSerializer(sync.sync_status()).data)


class SyncStopView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses=s.SyncStatusSerializer, tags=TAGS, summary="Disable the hourly schedule")
    def post(self, request: Request) -> Response:
        sync.sync_schedule_set(enabled=False)
        return Response(s.SyncStatusSerializer(sync.sync_status()).data)


class SyncHealthView(APIView):
    # Seed 001's shape over the shared checks (leaderboard.health); 503 when PostgreSQL does not answer.
    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: s.SyncHealthSerializer, 503: s.SyncHealthSerializer}, tags=TAGS)
    def get(self, request: Request) -> Response:
        redis, database = health.redis(), health.database()
        problems = []
        if not redis.ok:
            problems.append(f"Redis unavailable: {redis.error}")
        if not database.ok:
            problems.append(f"PostgreSQL unavailable: {database.error}")
        # Without PostgreSQL there is no run history to read: the answer is "unhealthy", not an error.
        latest = health.reconciliation() if database.ok else None
        if latest is not None and latest.overdue:
            problems.append("no successful reconciliation in the last two hours")
        verdict = "healthy" if not problems else ("degraded" if database.ok else "unhealthy")
        body = {
            "status": verdict,
            "redis": redis.ok,
            "database": database.ok,
            "last_success_at": latest.last_success_at if latest else None,
            "last_success_age_seconds": latest.age_seconds if latest else None,
            "problems": problems,
        }
        code = status.HTTP_503_SERVICE_UNAVAILABLE if verdict == "unhealthy" else status.HTTP_200_OK
        return Response(s.SyncHealthSerializer(body).data, status=code)


class SyncMetricsView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=s.SyncMetricsSerializer, tags=TAGS, summary="Counts per bucket in both stores")
    def get(self, request: Request) -> Response:
        return Response(s.SyncMetricsSerializer(sync.sync_metrics()).data)
