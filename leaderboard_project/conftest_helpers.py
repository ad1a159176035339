"""Small helpers shared by tests (importable, unlike conftest.py)."""

from __future__ import annotations

from rest_framework_simplejwt.tokens import RefreshToken


def bearer(user) -> str:
    """An Authorization header value with a fresh access token for ``user``."""
    return f"Bearer {RefreshToken.for_user(user).access_token}"
