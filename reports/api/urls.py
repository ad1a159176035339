from django.urls import path

from . import views

urlpatterns = [
    path("api/v1/reports/top-players", views.TopPlayersView.as_view(), name="reports-top-players"),
    path("api/v1/reports/archives", views.ArchivesView.as_view(), name="reports-archives"),
]
