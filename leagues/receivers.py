"""Receivers of the leaderboard's signals (the engine never imports leagues)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from leaderboard.models import Board
from leaderboard.periods import Bucket
from leaderboard.store import leagues as store_leagues
from leaderboard.store.connection import RedisUnavailable

from . import selectors, services
from .models import League, LeagueMember

logger = logging.getLogger(__name__)


def submit_committed(
    sender: object, *, board: Board, user_id: str, scores: dict[str, int], buckets: dict[str, Bucket], **_: Any
) -> None:
    """A submit committed: the player joins a league of the bucket if new to it, and their score is mirrored.

    Runs on every submit of every board: a board without active leagues returns
    after a dictionary lookup (``selectors.settings_cached``), no query. Never
    raises: the submit is committed and answered whatever happens here; a player
    whose assignment failed joins when they first read their league.
    """
    found = selectors.settings_cached(board_id=board.pk)
    if found is None:
        return
    bucket = buckets.get(found.period)
    score = scores.get(found.period)
    if bucket is None or score is None:
        return
    try:
        services.league_submit(board=board, league_settings=found, bucket=bucket, user_id=user_id, score=score)
    except Exception:
        logger.exception("league assignment of %s on %s failed; it joins on its next league read", user_id, board.slug)


def standings_changed(sender: object, *, board: Board, period: str, **_: Any) -> None:
    """Standings changed other than by a submit (a moderation, a reset): the board's leagues of the period go
    cold, so their next reads rebuild them from PostgreSQL. Redis unreachable: the current bucket's leagues
    are marked ``needs_rebuild`` instead."""
    found = selectors.settings_cached(board_id=board.pk)
    if found is None or found.period != period:
        return
    try:
        store_leagues.leagues_unready(board_slug=board.slug, period=period)
    except RedisUnavailable as exc:
        logger.error("leagues of %s could not be made cold in Redis, marked for rebuild: %s", board.slug, exc)
        start = board.bucket(period, timezone.now()).start
        League.objects.filter(board=board, period=period, bucket_start=start).update(needs_rebuild=True)


def settings_changed(sender: object, **_: Any) -> None:
    """League settings were saved or deleted: this process reads them afresh."""
    selectors.settings_cache_clear()


def player_erased(sender: object, *, user_id: str, tombstone: str, **_: Any) -> None:
    """An erasure (inside its transaction): the player's league memberships carry the tombstone, and
    the Redis copies of their leagues are dropped after the commit (the next reads rebuild them from
    PostgreSQL, where the player has no standing any more), so the erased id is left nowhere."""
    members = LeagueMember.objects.filter(user_id=user_id)
    leagues = list(League.objects.filter(members__in=members).select_related("board").distinct())
    members.update(user_id=tombstone)
    if leagues:
        transaction.on_commit(lambda: _leagues_forget(leagues))


def _leagues_forget(leagues: list[League]) -> None:
    for league in leagues:
        bucket = league.board.bucket(league.period, league.bucket_start)
        try:
            store_leagues.league_forget(league=selectors.league_key(board=league.board, league=league, bucket=bucket))
        except RedisUnavailable as exc:
            logger.error("an erased player's league could not be dropped from Redis (it expires): %s", exc)
