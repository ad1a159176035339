from django.urls import re_path

from . import moderation_views as v

PLAYER = r"^players/(?P<user_id>[A-Za-z0-9_.@+-]{1,64})"

urlpatterns = [
    re_path(PLAYER + r"/remove$", v.RemoveScoresView.as_view(), name="moderation-remove"),
    re_path(PLAYER + r"/ban$", v.BanView.as_view(), name="moderation-ban"),
    re_path(PLAYER + r"/unban$", v.UnbanView.as_view(), name="moderation-unban"),
    re_path(PLAYER + r"/erase$", v.EraseView.as_view(), name="moderation-erase"),
]
