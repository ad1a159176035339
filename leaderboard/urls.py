from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.live_page, name="live-page"),
    path("api/v1/moderation/", include("leaderboard.api.moderation_urls")),
    path("api/v1/", include("leaderboard.api.urls")),
]
