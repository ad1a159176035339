from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework_simplejwt.views import TokenBlacklistView, TokenRefreshView

from .views import MeView, RegisterView, TokenView

tagged = extend_schema_view(post=extend_schema(tags=["auth"]))

urlpatterns = [
    path("register", RegisterView.as_view(), name="auth-register"),
    path("token", tagged(TokenView).as_view(), name="auth-token"),
    path("token/refresh", tagged(TokenRefreshView).as_view(), name="auth-token-refresh"),
    path("token/blacklist", tagged(TokenBlacklistView).as_view(), name="auth-token-blacklist"),
    path("me", MeView.as_view(), name="auth-me"),
]
