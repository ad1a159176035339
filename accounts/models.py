"""Users: the public id that the API and Redis use is the username (the handle)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models

handle_validator = RegexValidator(
    regex=r"^[A-Za-z0-9_.@+-]{1,64}\Z",
    message="Use 1-64 letters, digits or the characters _ . @ + - (no spaces).",
)


class User(AbstractUser):
    """A player, a pomodoro user, a trusted game server, or an operator.

    ``username`` is the stable public ``user_id`` of the seeds: it names the
    member in Redis sorted sets and appears in every API payload. It is
    ASCII-only so it is safe in URLs and keys.
    """

    username = models.CharField(
        "user id",
        max_length=64,
        unique=True,
        validators=[handle_validator],
        help_text="Public, stable id used by the API and the leaderboards.",
        error_messages={"unique": "A user with that user id already exists."},
    )

    class Meta:
        permissions = [
            ("submit_for_others", "Can submit scores for other users and to authoritative boards"),
        ]

    @property
    def public_id(self) -> str:
        return self.username

    def can_submit_for_others(self) -> bool:
        return self.is_staff or self.has_perm("accounts.submit_for_others")
