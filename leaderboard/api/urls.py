from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import hot_reads
from .board_views import BoardManageListView
from .views import PERIOD, USER_ID, BoardViewSet

router = SimpleRouter(trailing_slash=False)
router.register("boards", BoardViewSet, basename="board")
SLUG = r"(?P<slug>[^/.]+)"  # the router's lookup pattern

urlpatterns = [
    path("manage/boards", BoardManageListView.as_view(), name="board-manage-list"),
    # The two hottest reads first: they answer the plain request and hand anything else to the
    # router's actions below (``hot_reads``); the schema documents those actions.
    re_path(rf"^boards/{SLUG}/leaderboard/{PERIOD}$", hot_reads.top, name="board-top-fast"),
    re_path(rf"^boards/{SLUG}/leaderboard/{PERIOD}/rank/{USER_ID}$", hot_reads.rank, name="board-rank-fast"),
    *router.urls,
]
