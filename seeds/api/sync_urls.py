from django.urls import path

from . import sync_views as v

urlpatterns = [
    path("status", v.SyncStatusView.as_view(), name="sync-status"),
    path("sync", v.SyncRunView.as_view(), name="sync-run"),
    path("runs/<int:run_id>", v.SyncRunDetailView.as_view(), name="sync-run-detail"),
    path("start", v.SyncStartView.as_view(), name="sync-start"),
    path("stop", v.SyncStopView.as_view(), name="sync-stop"),
    path("health", v.SyncHealthView.as_view(), name="sync-health"),
    path("metrics", v.SyncMetricsView.as_view(), name="sync-metrics"),
]
