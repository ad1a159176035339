"""Leagues' writes: joining a league, and mirroring a player's committed score into it.

A player joins a league on their first submit of a bucket (``receivers``, after
the submit committed), or, if that never happened (a crash after the commit),
when they first read their league while holding a standing in the bucket.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from leaderboard import operators
from leaderboard.models import Board, Standing
from leaderboard.periods import Bucket
from leaderboard.store import leagues as store_leagues
from leaderboard.store.connection import RedisUnavailable
from leaderboard.warming import bucket_expire_at
from leaderboard_project.exceptions import NotFound

from . import rules, selectors
from .models import League, LeagueMember, LeagueSettings
from .selectors import LeagueStandings

logger = logging.getLogger(__name__)


def _lock_level(board: Board, period: str, bucket: Bucket, level: int) -> None:
    """Serialise joins at one level of one bucket until the transaction ends (an advisory lock).

    Joins elsewhere (other levels, buckets, boards) do not wait; two keys sharing
    a hash only wait for each other, which is harmless.
    """
    name = f"leagues:{board.pk}:{period}:{bucket.start.isoformat()}:{level}"
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def entry_level(*, board: Board, league_settings: LeagueSettings, bucket: Bucket, user_id: str) -> int:
    """The level a player joins ``bucket``'s leagues at: from their last earlier bucket of the period.

    Promoted (one up, capped at the top) if their competition rank in that league
    was within its top ``promote``, demoted (one down, floored at 0) if among its
    bottom ``demote`` (``rules.zone``), else the same level; 0 for a new player.
    Ranks come from the finished bucket's standings in PostgreSQL.
    """
    period = league_settings.period
    previous = (
        LeagueMember.objects.select_related("league")
        .filter(board=board, period=period, user_id=user_id, bucket_start__lt=bucket.start)
        .order_by("-bucket_start")
        .first()
    )
    if previous is None:
        return 0
    ranked = selectors.league_ranked(
        items=selectors.league_items_from_postgres(board=board, league=previous.league),
        league_settings=league_settings,
    )
    mine = next((e for e in ranked if e.entry.user_id == user_id), None)
    zone = mine.zone if mine is not None else rules.STAY  # no standing left (a moderation): same level
    return rules.next_level(level=previous.league.level, zone_name=zone, top_level=league_settings.top_level)


def league_join(*, board: Board, league_settings: LeagueSettings, bucket: Bucket, user_id: str) -> LeagueMember:
    """The player's league in ``bucket``, joining one with room at their level if they have none.

    Guarantees: at most one league per player and bucket (a unique constraint),
    kept for the whole bucket; first come, first served: the leagues of a level
    fill in number order and a new one opens when the last is full; a league
    never takes more than its capacity, however many first submits race, since
    joins at one level of one bucket hold an advisory lock for their transaction
    (``_lock_level``) while they read the last league's count and add to it.
    """
    period = league_settings.period
    found = selectors.membership(board=board, period=period, bucket=bucket, user_id=user_id)
    if found is not None:
        return found
    level = entry_level(board=board, league_settings=league_settings, bucket=bucket, user_id=user_id)
    try:
        with transaction.atomic():
            _lock_level(board, period, bucket, level)
            # Checked under the lock: a racing join of the same player may have won.
            found = selectors.membership(board=board, period=period, bucket=bucket, user_id=user_id)
            if found is not None:
                return found
            league = (
                League.objects.filter(board=board, period=period, bucket_start=bucket.start, level=level)
                .order_by("-number")
                .first()
            )
            if league is None or league.member_count >= league.capacity:
                league = League.objects.create(
                    board=board,
                    period=period,
                    bucket_start=bucket.start,
                    level=level,
                    number=league.number + 1 if league is not None else 1,
                    capacity=league_settings.size,
                )
            member = LeagueMember.objects.create(
                league=league, board=board, period=period, bucket_start=bucket.start, user_id=user_id
            )
            League.objects.filter(pk=league.pk).update(member_count=F("member_count") + 1)
            league.member_count += 1
            return member
    except IntegrityError:
        # The same player joined at another level meanwhile (settings changed between the two): theirs stands.
        found = selectors.membership(board=board, period=period, bucket=bucket, user_id=user_id)
        if found is None:
            raise
        return found


def league_mirror(*, board: Board, league: League, bucket: Bucket, user_id: str, score: int) -> None:
    """Write a player's committed score into their league's sorted set (if warm), never backwards.

    Redis unreachable: the league is marked ``needs_rebuild`` and served from
    PostgreSQL until a read rebuilds it.
    """
    key = selectors.league_key(board=board, league=league, bucket=bucket)
    try:
        store_leagues.league_add(
            league=key,
            member=user_id,
            score=score,
            zadd_flag=operators.zadd_flag(board),
            expire_at=bucket_expire_at(bucket),
        )
    except RedisUnavailable as exc:
        logger.error("Redis write of league %s failed for %s, rebuilt on a later read: %s", league.pk, user_id, exc)
        League.objects.filter(pk=league.pk).update(needs_rebuild=True)


def league_submit(
    *, board: Board, league_settings: LeagueSettings, bucket: Bucket, user_id: str, score: int
) -> LeagueMember:
    """After a submit committed: the player joins a league if new to the bucket, and their score is mirrored."""
    member = league_join(board=board, league_settings=league_settings, bucket=bucket, user_id=user_id)
    league_mirror(board=board, league=member.league, bucket=bucket, user_id=user_id, score=score)
    return member


def league_mine(
    *, board: Board, period: str, user_id: str, limit: int, offset: int, at: datetime | None = None
) -> LeagueStandings:
    """The player's league in the current bucket with its standings and their own entry.

    A player who holds a standing in the bucket but no league (their first
    submit's assignment never ran: a crash after its commit) joins one now.
    """
    league_settings = selectors.league_settings_get(board=board, period=period)
    bucket = board.bucket(league_settings.period, at or timezone.now())
    member = selectors.membership(board=board, period=league_settings.period, bucket=bucket, user_id=user_id)
    if member is None:
        score = (
            Standing.objects.filter(
                board=board, period=league_settings.period, bucket_start=bucket.start, user_id=user_id
            )
            .values_list("score", flat=True)
            .first()
        )
        if score is None:
            raise NotFound(
                f"You have no league on {board.slug!r} in this {league_settings.period} period yet: "
                "your first score of the period places you in one."
            )
        member = league_submit(
            board=board, league_settings=league_settings, bucket=bucket, user_id=user_id, score=score
        )
    return selectors.league_standings(
        board=board,
        league_settings=league_settings,
        league=member.league,
        bucket=bucket,
        user_id=user_id,
        limit=limit,
        offset=offset,
    )
