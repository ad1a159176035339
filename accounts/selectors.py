"""Reads on users."""

from __future__ import annotations

from leaderboard_project.exceptions import NotFound

from .models import User


def user_get_by_public_id(*, user_id: str) -> User:
    user = User.objects.filter(username=user_id, is_active=True).first()
    if user is None:
        raise NotFound(f"No user with user id {user_id!r}.")
    return user
