"""Leagues in Redis: one sorted set per league, with a ready marker, under the board's hash tag.

The leagues app keeps its assignment in PostgreSQL; here it mirrors each
league's standings (absolute committed scores, as a bucket's sorted set holds
them). A league's sorted set counts only while its ready key exists: writes
leave a cold league alone and reads answer ``None`` for it, so the caller
fills it from PostgreSQL. Both keys expire with the league's bucket. Every
script touches the keys of one board, so one Redis Cluster slot. Ranks follow
``leaderboard.ranking`` (``league_read`` lists in its order).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from . import keys, scripts
from .connection import client, guard, keys_delete, run

LEAGUE_ADD = scripts.load("league_add")
LEAGUE_FILL = scripts.load("league_fill")
LEAGUE_READ = scripts.load("league_read")


@dataclass(frozen=True, slots=True)
class LeagueKey:
    """Which league: the board, the period and bucket (``Bucket.key``), the level and the league's number."""

    board_slug: str
    period: str
    bucket: str
    level: int
    number: int

    def names(self) -> list[str]:
        """The league's sorted set and its ready key (one slot: the board's hash tag)."""
        args = (self.board_slug, self.period, self.bucket, self.level, self.number)
        return [keys.league(*args), keys.league_ready(*args)]


def league_add(*, league: LeagueKey, member: str, score: int, zadd_flag: str, expire_at: int) -> bool:
    """Write a member's committed score into a warm league (``zadd_flag``: ``GT``/``LT`` never regress).

    False when the league is cold: nothing is written, its next read fills it from PostgreSQL.
    """
    return bool(run(LEAGUE_ADD, keys=league.names(), args=[member, str(score), zadd_flag, expire_at]))


def league_fill(*, league: LeagueKey, entries: Sequence[tuple[str, int]], expire_at: int) -> None:
    """Replace a league's sorted set with ``entries`` (user id, score) and mark it ready, atomically."""
    args: list[str | int] = [expire_at]
    for member, score in entries:
        args += (str(score), member)
    run(LEAGUE_FILL, keys=league.names(), args=args)


def scores_apply(*, league: LeagueKey, entries: Sequence[tuple[str, int]], zadd_flag: str, expire_at: int) -> None:
    """Write several committed scores into a warm league (catch-up after a fill)."""
    for member, score in entries:
        league_add(league=league, member=member, score=score, zadd_flag=zadd_flag, expire_at=expire_at)


def league_read(*, league: LeagueKey, higher_is_better: bool) -> list[tuple[str, int]] | None:
    """Every (user id, score) of a league in rank order, or None when the league is cold."""
    raw = run(LEAGUE_READ, keys=league.names(), args=["1" if higher_is_better else "0"])
    if raw[0] == 0:
        return None
    flat = raw[1]
    return [(str(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


def league_forget(*, league: LeagueKey) -> None:
    """Make one league cold (its next read refills it from PostgreSQL)."""
    with guard():
        client().delete(*league.names())


def leagues_unready(*, board_slug: str, period: str) -> int:
    """Make every league of a board's period cold, whatever its bucket (after a moderation or a reset)."""
    return keys_delete(keys.league_ready_pattern(board_slug, period))


def lock_acquire(*, league: LeagueKey, ttl_ms: int) -> str | None:
    """Take the league's fill lock (single flight); the token, or None when another process holds it."""
    token = uuid.uuid4().hex
    name = keys.league_warm_lock(league.board_slug, league.period, league.bucket, league.level, league.number)
    with guard():
        ok = client().set(name, token, nx=True, px=ttl_ms)
    return token if ok else None


def lock_release(*, league: LeagueKey, token: str) -> None:
    name = keys.league_warm_lock(league.board_slug, league.period, league.bucket, league.level, league.number)
    run(scripts.UNLOCK, keys=[name], args=[token])
