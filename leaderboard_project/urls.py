from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from . import views

urlpatterns = [
    # The core API and the live page first: patterns are tried in order, and theirs are the busiest.
    path("", include("leaderboard.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both viewers are served with their assets and nothing from other hosts (views.docs_page);
    # the split Swagger view loads its init script as a file, so no inline script is needed.
    path("api/docs/", views.docs_page(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path(
        "api/redoc/",
        views.docs_page(SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")),
        name="api-redoc",
    ),
    path("api/v1/auth/", include("accounts.api.urls")),
    # Hourly reconciliation management (seed 001's surface).
    path("api/periodic-sync/", include("seeds.api.sync_urls")),
    # The seeds' documented endpoints, as thin adapters over the same services.
    path("", include("seeds.api.compat_urls")),
    path("", include("reports.api.urls")),
    # A board's webhook endpoints (rewards at period end); no BoardViewSet route matches these paths.
    path("", include("rewards.api.urls")),
    # A board's leagues (cohorts of N per period); no BoardViewSet route matches these paths.
    path("", include("leagues.api.urls")),
]

# Errors outside DRF views are JSON too (the admin keeps its HTML pages).
handler400 = "leaderboard_project.errors.bad_request"
handler403 = "leaderboard_project.errors.permission_denied"
handler404 = "leaderboard_project.errors.page_not_found"
handler500 = "leaderboard_project.errors.server_error"
