from django.urls import path

from . import views

urlpatterns = [
    path("api/v1/boards/<slug:slug>/leagues/<str:period>/me", views.MyLeagueView.as_view(), name="league-mine"),
    path(
        "api/v1/boards/<slug:slug>/leagues/<str:period>/<int:level>/<int:number>",
        views.LeagueView.as_view(),
        name="league-detail",
    ),
]
