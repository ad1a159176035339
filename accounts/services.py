"""Writes on users."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from leaderboard_project.exceptions import InvalidInput

from .models import User


def user_register(*, username: str, password: str, email: str = "") -> User:
    """Create a user with a usable password, validated by Django's validators.

    A unique constraint, not a prior lookup, decides who wins when two
    registrations for one username race.
    """
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise InvalidInput(fields={"password": list(exc.messages)}) from exc
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError as exc:
        raise InvalidInput(fields={"username": ["A user with that user id already exists."]}) from exc
    return candidate


def user_get_or_create_player(*, user_id: str) -> User:
    """The user behind a public id, created without a password when new.

    Trusted servers submit for players this service has never seen (the seeds'
    ``user_id``); such players can set a password later through an operator.
    """
    user = User.objects.filter(username=user_id).first()
    if user is not None:
        return user
    user = User(username=user_id)
    try:
        # The unique constraint, not a lookup, settles a race: checked by the insert below.
        user.full_clean(exclude=["password"], validate_unique=False)
    except DjangoValidationError as exc:
        raise InvalidInput(fields={"user_id": exc.message_dict.get("username", exc.messages)}) from exc
    user.set_unusable_password()
    # INSERT ... ON CONFLICT DO NOTHING: two first submits for one new player do not
    # fail a statement (an ERROR in PostgreSQL's log); the loser reads the winner's row.
    User.objects.bulk_create([user], ignore_conflicts=True)
    return User.objects.get(username=user_id)
