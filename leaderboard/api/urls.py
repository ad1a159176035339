from django.urls import path
from rest_framework.routers import SimpleRouter

from .board_views import BoardManageListView
from .views import BoardViewSet

router = SimpleRouter(trailing_slash=False)
router.register("boards", BoardViewSet, basename="board")

urlpatterns = [
    path("manage/boards", BoardManageListView.as_view(), name="board-manage-list"),
    *router.urls,
]
