"""Writes of board definitions over the API: create, create-or-get, update, deactivate, reset.

Every write validates with the model's ``full_clean()``, exactly as the admin
does: field validators (operator, sort order, periods, time zone, bounds, rate
limits) and ``Board.clean()``, which refuses changes that would re-bucket or
re-score recorded standings. Its messages come back as field errors (400).
Saving a board clears this process' board cache (a ``post_save`` receiver);
other processes see the change within ``LEADERBOARD_BOARD_CACHE_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from leaderboard_project.exceptions import Conflict, InvalidInput, NotFound

from .models import Board, PeriodArchive
from .rollover import period_reset
from .services import board_submits_exclude

# What an API caller may set; ``slug`` is the board's identity (Redis keys carry it) and
# ``period_resets`` belongs to ``rollover.period_reset``.
EDITABLE_FIELDS = (
    "name",
    "description",
    "operator",
    "sort_order",
    "periods",
    "time_zone",
    "authoritative",
    "min_value",
    "max_value",
    "rate_limit_user",
    "rate_limit_ip",
    "is_active",
    "submission_cap",
    "submission_cap_period",
    "tier_basis",
    "tiers",
    "entry_metadata_max_bytes",
)


def _invalid(exc: ValidationError) -> InvalidInput:
    """The model's messages as field errors ("__all__" becomes "non_field_errors", as in DRF)."""
    fields = {
        ("non_field_errors" if name == "__all__" else name): [str(m) for m in messages]
        for name, messages in exc.message_dict.items()
    }
    return InvalidInput(fields=fields)


def _save(board: Board, *, creating: bool) -> Board:
    try:
        board.full_clean()
    except ValidationError as exc:
        raise _invalid(exc) from None
    try:
        with transaction.atomic():
            board.save(force_insert=creating)
    except IntegrityError:
        # A concurrent create of the same slug won the race (or the bounds constraint).
        if creating and Board.objects.filter(slug=board.slug).exists():
            raise Conflict(f"Board {board.slug!r} was created meanwhile.") from None
        raise
    return board


def board_for_write(*, slug: str) -> Board:
    """A board by slug, active or not, fresh from PostgreSQL (never the read cache)."""
    board = Board.objects.filter(slug=slug).first()
    if board is None:
        raise NotFound(f"No board {slug!r}.")
    return board


def board_definitions(*, slugs: frozenset[str] | None = None):
    """Every board (active or not), or those among ``slugs``: the managers' list (a read)."""
    queryset = Board.objects.order_by("slug")
    return queryset.filter(slug__in=sorted(slugs)) if slugs else queryset


def board_create(*, slug: str, fields: dict[str, Any]) -> Board:
    """Create a board; a slug in use is a field 400 (the model's unique check)."""
    board = Board(slug=slug, **{name: fields[name] for name in EDITABLE_FIELDS if name in fields})
    return _save(board, creating=True)


def _differences(board: Board, fields: dict[str, Any]) -> list[str]:
    """The fields a definition names whose values differ from the board's (periods in any order)."""
    wanted = {**fields}
    wanted.setdefault("is_active", True)
    differ = []
    for name in EDITABLE_FIELDS:
        if name not in wanted:
            continue
        have, want = getattr(board, name), wanted[name]
        if name == "periods":
            have, want = sorted(have or []), sorted(set(want or []))
        if have != want:
            differ.append(name)
    return differ


def board_put(*, slug: str, fields: dict[str, Any]) -> tuple[Board, bool]:
    """Create-or-get (Steam's ``FindOrCreateLeaderboard``): ``(board, created)``.

    * No board with ``slug``: it is created from ``fields`` (missing ones take
      their defaults) and ``created`` is True.
    * A board exists and every field ``fields`` names has the same value (an
      omitted ``is_active`` means True): it is returned unchanged.
    * It exists with another value for any named field: ``Conflict`` (409)
      naming the fields. PUT never changes an existing board, so two deploy
      scripts with different ideas of a board cannot silently overwrite each
      other; changes go through ``board_update`` (PATCH), with its checks.

    Safe under concurrent calls: the loser of a creation race reads the
    winner's board and compares against it.
    """
    for _attempt in range(2):
        board = Board.objects.filter(slug=slug).first()
        if board is None:
            try:
                return board_create(slug=slug, fields=fields), True
            except Conflict:
                continue  # created meanwhile: compare against it
        differ = _differences(board, fields)
        if differ:
            state = "" if board.is_active else " (it is deactivated)"
            raise Conflict(
                f"Board {slug!r} exists with another definition{state}: {', '.join(differ)} differ. "
                "PUT creates or returns a board and never changes one: PATCH it to change it, "
                "or use another slug."
            )
        return board, False
    raise Conflict(f"Board {slug!r} is being created and deleted concurrently; retry.")


def board_update(*, board: Board, fields: dict[str, Any]) -> Board:
    """Change some fields of a board; the model refuses changes that would rewrite history (400).

    The row is locked and re-read first, validated and saved in that one
    transaction, and only the changed fields are written: a manual reset
    (``period_resets``, which it holds the same lock for) committing meanwhile
    can neither be overwritten with an older value nor be missed by the checks.
    """
    changed = [name for name in EDITABLE_FIELDS if name in fields]
    with transaction.atomic():
        # Submits in flight commit first (so the history checks see their standings), as a reset does.
        board_submits_exclude(board_id=board.pk)
        board = Board.objects.select_for_update().get(pk=board.pk)
        for name in changed:
            setattr(board, name, fields[name])
        try:
            board.full_clean()
        except ValidationError as exc:
            raise _invalid(exc) from None
        board.save(update_fields=[*changed, "updated_at"])
    return board


def board_deactivate(*, board: Board) -> None:
    """Hide a board: reads and submits answer 404; its data stays. Idempotent."""
    if board.is_active:
        board_update(board=board, fields={"is_active": False})


def board_period_reset(*, board: Board, period: str, triggered_by: str) -> PeriodArchive:
    """Archive the current bucket of ``period`` and restart it at zero (``rollover.period_reset``)."""
    return period_reset(board=board, period=period, triggered_by=triggered_by)
