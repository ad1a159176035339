from django.urls import path

from . import views

urlpatterns = [
    path("api/v1/boards/<slug:slug>/webhooks", views.BoardWebhooksView.as_view(), name="board-webhooks"),
    path(
        "api/v1/boards/<slug:slug>/webhooks/<int:webhook_id>",
        views.BoardWebhookDetailView.as_view(),
        name="board-webhook-detail",
    ),
]
