"""Reads of leagues: Redis first, PostgreSQL with the same ranking rule.

A league's standings are the board's ``Standing`` rows of the bucket for the
league's members, ranked by ``leaderboard.ranking`` on both paths (the Redis
sorted set lists them in its order; PostgreSQL orders by ``ranking.order_by``;
``ranking.ranked`` gives both their competition ranks), so the two answers are
equal entry for entry. A cold league (no ready key) is filled from PostgreSQL
once (single flight) and the read answers with what the fill read; a league
whose bucket is marked for repair, or that missed a write (``needs_rebuild``),
is answered from PostgreSQL and rebuilt on a later read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db.models import Subquery
from django.utils import timezone

from leaderboard import operators, ranking, repair_marks, replica
from leaderboard.models import Board, Standing
from leaderboard.periods import Bucket, parse_period
from leaderboard.ranking import Entry
from leaderboard.store import leagues as store_leagues
from leaderboard.store.connection import RedisUnavailable
from leaderboard.warming import bucket_expire_at
from leaderboard_project.exceptions import NotFound

from . import rules
from .models import League, LeagueMember, LeagueSettings

logger = logging.getLogger(__name__)

MAX_LIMIT = 1000
# A fill holds its league's lock at most this long (a league is 1,000 rows at most).
FILL_LOCK_MS = 30_000


@dataclass(frozen=True, slots=True)
class LeagueEntry:
    """A ranked entry of a league and the zone its rank falls in at the bucket's end."""

    entry: Entry
    zone: str

    def as_dict(self) -> dict[str, object]:
        return {**self.entry.as_dict(), "zone": self.zone}


@dataclass
class LeagueStandings:
    """A league of the current bucket with its standings (``entries``: the requested page of them)."""

    board: Board
    league_settings: LeagueSettings
    league: League
    bucket: Bucket
    entries: list[LeagueEntry]
    ranked: int
    cached: bool
    me: LeagueEntry | None = None
    offset: int = 0
    limit: int = MAX_LIMIT

    @property
    def level_name(self) -> str:
        return self.league_settings.level_name(self.league.level)


# --------------------------------------------------------------------------- settings


_settings_cache: tuple[float, dict[int, LeagueSettings]] | None = None


def settings_cached(*, board_id: int) -> LeagueSettings | None:
    """The active league settings of a board, from a per-process copy of every board's.

    The submit receiver asks on every submit of every board: the copy is
    refreshed by one query every ``LEADERBOARD_BOARD_CACHE_SECONDS``, so a board
    without leagues costs a dictionary lookup. Saving or deleting settings
    clears this process' copy at once (``receivers.settings_changed``); other
    processes follow within those seconds. Callers must not change what they get.
    """
    cached = _settings_cache
    now = time.monotonic()
    if cached is None or cached[0] <= now:
        found = {s.board_id: s for s in LeagueSettings.objects.filter(is_active=True)}
        cached = (now + settings.LEADERBOARD_BOARD_CACHE_SECONDS, found)
        _settings_set(cached)
    return cached[1].get(board_id)


def _settings_set(value: tuple[float, dict[int, LeagueSettings]] | None) -> None:
    global _settings_cache
    _settings_cache = value


def settings_cache_clear() -> None:
    _settings_set(None)


def league_settings_get(*, board: Board, period: str) -> LeagueSettings:
    """The board's active league settings, if their period is ``period`` (aliases accepted); else NotFound."""
    found = settings_cached(board_id=board.pk)
    if found is None:
        raise NotFound(f"Board {board.slug!r} has no leagues.")
    parsed = parse_period(period)
    if parsed != found.period:
        raise NotFound(f"Board {board.slug!r} runs its leagues on the {found.period} period, not {period!r}.")
    return found


# --------------------------------------------------------------------------- PostgreSQL side


def membership(*, board: Board, period: str, bucket: Bucket, user_id: str) -> LeagueMember | None:
    """The player's place in ``bucket``'s leagues (with its league), or None (read on the primary)."""
    return (
        LeagueMember.objects.select_related("league")
        .filter(board=board, period=period, bucket_start=bucket.start, user_id=user_id)
        .first()
    )


def league_items_from_postgres(*, board: Board, league: League, db: str = replica.PRIMARY) -> list[tuple[str, int]]:
    """Every (user id, score) of a league in rank order: the bucket's standings of its members."""
    members = LeagueMember.objects.using(db).filter(league_id=league.pk).values("user_id")
    rows = Standing.objects.using(db).filter(
        board=board, period=league.period, bucket_start=league.bucket_start, user_id__in=Subquery(members)
    )
    items = rows.order_by(*ranking.order_by(board.higher_is_better)).values_list("user_id", "score")
    # The user id column holds usernames (the foreign key's ``to_field``), whatever the stubs infer.
    return cast(list[tuple[str, int]], list(items))


def league_ranked(*, items: list[tuple[str, int]], league_settings: LeagueSettings) -> list[LeagueEntry]:
    """Rank-ordered items of a whole league with their competition ranks and zones."""
    entries = ranking.ranked(items, start=0, first_better=0)
    total = len(entries)
    return [
        LeagueEntry(
            e,
            rules.zone(rank=e.rank, ranked=total, promote=league_settings.promote, demote=league_settings.demote),
        )
        for e in entries
    ]


# --------------------------------------------------------------------------- Redis first


def league_key(*, board: Board, league: League, bucket: Bucket) -> store_leagues.LeagueKey:
    return store_leagues.LeagueKey(board.slug, league.period, bucket.key, league.level, league.number)


def league_fill(*, board: Board, league: League, bucket: Bucket) -> list[tuple[str, int]] | None:
    """Fill a cold league's sorted set from PostgreSQL (the primary), single flight; what it read, or None
    when another process is filling it.

    Scores committed while the fill ran are written again afterwards with the
    board's ZADD guard (their mirror may have found the league still cold).
    """
    key = league_key(board=board, league=league, bucket=bucket)
    token = store_leagues.lock_acquire(league=key, ttl_ms=FILL_LOCK_MS)
    if token is None:
        return None
    try:
        since = timezone.now() - timedelta(seconds=settings.LEADERBOARD_WARM_CATCHUP_SECONDS)
        items = league_items_from_postgres(board=board, league=league)
        expire_at = bucket_expire_at(bucket)
        store_leagues.league_fill(league=key, entries=items, expire_at=expire_at)
        late = _late_scores(board, league, since)
        store_leagues.scores_apply(league=key, entries=late, zadd_flag=operators.zadd_flag(board), expire_at=expire_at)
    finally:
        store_leagues.lock_release(league=key, token=token)
    return items


def _late_scores(board: Board, league: League, since: datetime) -> list[tuple[str, int]]:
    members = LeagueMember.objects.filter(league_id=league.pk).values("user_id")
    rows = Standing.objects.filter(
        board=board,
        period=league.period,
        bucket_start=league.bucket_start,
        user_id__in=Subquery(members),
        updated_at__gte=since,
    )
    return cast(list[tuple[str, int]], list(rows.values_list("user_id", "score")))


def _redis_items(board: Board, league: League, bucket: Bucket) -> list[tuple[str, int]] | None:
    """The league from Redis, or None: use PostgreSQL (Redis down, league cold, marked, or behind)."""
    key = league_key(board=board, league=league, bucket=bucket)
    if league.needs_rebuild and not _rebuild(league, key):
        return None
    if repair_marks.is_marked(board_id=board.pk, period=league.period, bucket_start=league.bucket_start):
        # The bucket missed a Redis write, and so may this league: rebuild it once the bucket is repaired.
        League.objects.filter(pk=league.pk, needs_rebuild=False).update(needs_rebuild=True)
        return None
    try:
        found = store_leagues.league_read(league=key, higher_is_better=board.higher_is_better)
        if found is None:
            # Cold: fill it once; this read answers from PostgreSQL, as a read of a cold bucket does.
            league_fill(board=board, league=league, bucket=bucket)
            return None
    except RedisUnavailable as exc:
        logger.warning("Redis read of league %s failed, serving from PostgreSQL: %s", league.pk, exc)
        return None
    return found


def _rebuild(league: League, key: store_leagues.LeagueKey) -> bool:
    """Drop a league's Redis copy that missed a write and clear the mark; False (mark kept) while its bucket
    awaits repair or Redis is still unreachable. The read then finds the league cold and fills it."""
    if repair_marks.is_marked(board_id=league.board_id, period=league.period, bucket_start=league.bucket_start):
        return False  # Redis may still be losing writes: rebuilt once the bucket's repair is done
    try:
        store_leagues.league_forget(league=key)
    except RedisUnavailable:
        return False
    League.objects.filter(pk=league.pk).update(needs_rebuild=False)
    league.needs_rebuild = False
    return True


def league_standings(
    *,
    board: Board,
    league_settings: LeagueSettings,
    league: League,
    bucket: Bucket,
    user_id: str | None = None,
    limit: int = MAX_LIMIT,
    offset: int = 0,
) -> LeagueStandings:
    """A league's standings (a page of them from ``offset``), with ``user_id``'s own entry when ranked."""
    found = _redis_items(board, league, bucket)
    cached = found is not None
    items = found if found is not None else league_items_from_postgres(board=board, league=league, db=replica.reads())
    entries = league_ranked(items=items, league_settings=league_settings)
    me = next((e for e in entries if e.entry.user_id == user_id), None) if user_id else None
    limit = max(0, min(limit, MAX_LIMIT))
    page = entries[offset : offset + limit]
    return LeagueStandings(board, league_settings, league, bucket, page, len(entries), cached, me, offset, limit)


def league_by_number(
    *, board: Board, league_settings: LeagueSettings, level: int, number: int, at: datetime | None = None
) -> tuple[League, Bucket]:
    """A league of the current bucket by level and number, or NotFound."""
    bucket = board.bucket(league_settings.period, at or timezone.now())
    league = League.objects.filter(
        board=board, period=league_settings.period, bucket_start=bucket.start, level=level, number=number
    ).first()
    if league is None:
        raise NotFound(
            f"No league {number} at level {level} in the current {league_settings.period} bucket of {board.slug!r}."
        )
    return league, bucket
