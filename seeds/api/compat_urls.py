"""The seeds' paths, exactly as their documents show them (no trailing slashes)."""

from django.urls import path

from . import compat_views as v

USER = "<str:user_id>"

urlpatterns = [
    # seed 000: Redis-cached pomodoro leaderboard
    path("api/redis-leaderboard/update", v.PomoUpdateView.as_view(), name="seed000-update"),
    path("api/redis-leaderboard/admin/sync", v.PomoAdminSyncView.as_view(), name="seed000-admin-sync"),
    path("api/redis-leaderboard/admin/reset/<str:period>", v.PomoAdminResetView.as_view(), name="seed000-reset"),
    path("api/redis-leaderboard/admin/status", v.PomoAdminStatusView.as_view(), name="seed000-admin-status"),
    path("api/redis-leaderboard/admin/cache", v.PomoAdminCacheView.as_view(), name="seed000-admin-cache"),
    path(f"api/redis-leaderboard/user/{USER}/rank/<str:period>", v.PomoUserRankView.as_view(), name="seed000-rank"),
    path(f"api/redis-leaderboard/user/{USER}", v.PomoUserStatsView.as_view(), name="seed000-user"),
    path("api/redis-leaderboard/<str:period>", v.PomoLeaderboardView.as_view(), name="seed000-leaderboard"),
    # seed 002: real-time leaderboard
    path("api/v1/scores/increment", v.ScoreIncrementView.as_view(), name="seed002-increment"),
    # seed 003: gaming leaderboard
    path("api/leaderboard/submit", v.GameSubmitView.as_view(), name="seed003-submit"),
    path("api/leaderboard/top", v.GameTopView.as_view(), name="seed003-top"),
    path(f"api/leaderboard/rank/{USER}", v.GameRankView.as_view(), name="seed003-rank"),
    # seed 004: clean-architecture service
    path("v1/auth/register", v.V1RegisterView.as_view(), name="seed004-register"),
    path("v1/auth/token", v.V1TokenView.as_view(), name="seed004-token"),
    path("v1/scores/submit", v.V1ScoreSubmitView.as_view(), name="seed004-submit"),
    path("v1/leaderboard/global", v.V1GlobalLeaderboardView.as_view(), name="seed004-global"),
    path("v1/leaderboard/my_rank", v.V1MyRankView.as_view(), name="seed004-my-rank"),
    path("v1/reports/top_players", v.V1TopPlayersReportView.as_view(), name="seed004-top-players"),
]
