"""Reads of the leaderboard engine: Redis first, PostgreSQL with the same ranking.

The ranking rule (ARCHITECTURE 3): ranks are 1-based standard competition
ranks ("1224"): equal scores share a rank, and rank = 1 + the number of
entries with a strictly better score. Entries with equal scores are listed by
user id, descending on higher-is-better boards and ascending on
lower-is-better boards (Redis' own order; PostgreSQL sorts the same way). Both
paths compute ranks with ``ranked`` below, so they agree entry for entry.

Every result says whether it came from the cache. A cold bucket (no ready
key) is warmed once (``bucket_warm_on_miss``) while this read uses PostgreSQL.

The PostgreSQL fallback reads may use the read replica (``replica.reads()``: in a
read-only request, outside a transaction); what fills Redis or an archive reads
the primary (``replica.PRIMARY``): a lagging replica never moves Redis backwards.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from django.db.models import BigIntegerField, Count, OuterRef, Q, QuerySet, Subquery, Window
from django.utils import timezone

from . import metrics, ranking, repair_marks, replica, tiers
from .models import Board, PeriodArchive, Standing, in_buckets, metadata_json
from .periods import Bucket, Period, bucket_starting
from .ranking import Entry, ranked
from .store import buckets as store_buckets
from .store.buckets import MembersResult, RangeResult
from .store.connection import RedisUnavailable
from .warming import bucket_expire_at, bucket_warm_on_miss, repair_soon

logger = logging.getLogger(__name__)

MAX_LIMIT = 100
MAX_AROUND = 50
MAX_MEMBERS = 100


@dataclass
class LeaderboardPage:
    board: Board
    bucket: Bucket
    entries: list[Entry]
    total: int
    cached: bool
    offset: int = 0
    limit: int = 0


@dataclass
class MembersPage:
    board: Board
    bucket: Bucket
    entries: list[Entry]
    unranked: list[str]
    total: int
    cached: bool


@dataclass
class RankInfo:
    board: Board
    bucket: Bucket
    user_id: str
    score: int | None
    rank: int | None
    total: int
    cached: bool
    # What the board adds to entries (``ranking.Entry.extras``): tier, metadata.
    extras: tuple[tuple[str, object], ...] = ()

    @property
    def tier(self) -> str | None:
        """The tier, on boards that define tiers (else None)."""
        return cast(str | None, dict(self.extras).get("tier"))

    @property
    def percentile(self) -> float | None:
        """Share of ranked users this user ranks at or above, in percent."""
        if self.rank is None or self.total == 0:
            return None
        return round(100.0 * (self.total - self.rank + 1) / self.total, 2)


@dataclass
class UserStats:
    board: Board
    user_id: str
    scores: dict[str, int]
    buckets: dict[str, Bucket]
    updated_at: datetime | None
    cached_at: datetime | None
    cached: bool
    ranks: dict[str, int | None] = field(default_factory=dict)


# --------------------------------------------------------------------------- PostgreSQL side


def _standings(board: Board, bucket: Bucket, db: str = replica.PRIMARY) -> QuerySet[Standing]:
    return Standing.objects.using(db).filter(board=board, period=bucket.period, bucket_start=bucket.start)


def _better_than(board: Board, score: object) -> Q:
    return Q(**{ranking.better_lookup(board.higher_is_better): score})


def _before(board: Board, score: int, user_id: str) -> Q:
    """Entries listed before (score, user_id) in rank order."""
    same = Q(score=score) & Q(**{ranking.tie_lookup(board.higher_is_better): user_id})
    return _better_than(board, score) | same


def _pg_range(board: Board, bucket: Bucket, offset: int, limit: int, *, db: str) -> RangeResult:
    rows = _standings(board, bucket, db)
    keeps = _keeps_metadata(board)
    fields = ("user_id", "score", "metadata") if keeps else ("user_id", "score")
    found = list(rows.order_by(*ranking.order_by(board.higher_is_better)).values_list(*fields)[offset : offset + limit])
    items = [(row[0], row[1]) for row in found]
    first_better = rows.filter(_better_than(board, items[0][1])).count() if items else 0
    metadata: list[str | None] | None = [metadata_json(row[2]) for row in found] if keeps else None
    # The user id column holds usernames (the foreign key's ``to_field``), whatever the stubs infer.
    return RangeResult(rows.count(), offset, first_better, cast(list[tuple[str, int]], items), metadata)


def _pg_around(board: Board, bucket: Bucket, user_id: str, count: int, *, db: str) -> RangeResult:
    rows = _standings(board, bucket, db)
    total = rows.count()
    mine = rows.filter(user_id=user_id).values_list("score", flat=True).first()
    if mine is None:
        return RangeResult(total, -1, 0, [])
    position = rows.filter(_before(board, mine, user_id)).count()
    start, stop = ranking.window(position, count, total)
    page = _pg_range(board, bucket, start, stop - start + 1, db=db)
    return RangeResult(total, start, page.first_better, page.items, page.metadata)


def _pg_members(board: Board, bucket: Bucket, user_ids: list[str], *, db: str) -> MembersResult:
    rows = _standings(board, bucket, db)
    keeps = _keeps_metadata(board)
    fields = ("user_id", "score", "metadata") if keeps else ("user_id", "score")
    listed = list(rows.filter(user_id__in=user_ids).values_list(*fields))
    found = {
        row[0]: (row[1], ranking.rank_from_better(rows.filter(_better_than(board, row[1])).count())) for row in listed
    }
    metadata: dict[str, str | None] | None = {row[0]: metadata_json(row[2]) for row in listed} if keeps else None
    return MembersResult(rows.count(), cast(dict[str, tuple[int, int]], found), metadata)


# --------------------------------------------------------------------------- what boards add to entries


def _keeps_metadata(board: Board) -> bool:
    return bool(board.entry_metadata_max_bytes)


def _with_extras(
    board: Board, bucket: Bucket, entries: list[Entry], total: int, kept: list[str | None] | None
) -> list[Entry]:
    """``entries`` with what their board adds to each: its ``tier`` and its ``metadata``.

    Tiers come from the entries' ranks and ``total`` (``tiers``), so both stores give
    the same. ``kept`` is each entry's metadata as the store answered it (None where
    Redis has not been filled yet: read from PostgreSQL's primary and filled, see
    ``entry_metadata_fill``). A board that uses neither gets ``entries`` back as they were.
    """
    board_tiers = tiers.board_tiers(board)
    keeps = _keeps_metadata(board)
    if board_tiers is None and not keeps:
        return entries
    metadata: list[str | None] = list(kept) if keeps and kept is not None else [None] * len(entries)
    if keeps and None in metadata:
        _metadata_load(board, bucket, entries, metadata)
    decorated = []
    for entry, raw in zip(entries, metadata, strict=True):
        extras: list[tuple[str, object]] = []
        if board_tiers is not None:
            extras.append(("tier", board_tiers.tier_of(score=entry.score, rank=entry.rank, total=total)))
        if keeps:
            extras.append(("metadata", json.loads(raw) if raw else {}))
        decorated.append(replace(entry, extras=tuple(extras)))
    return decorated


def _extras_unranked(board: Board) -> tuple[tuple[str, object], ...]:
    """What a board adds to a player's rank answer when they are not ranked: the same keys, null."""
    names = (["tier"] if tiers.board_tiers(board) else []) + (["metadata"] if _keeps_metadata(board) else [])
    return tuple((name, None) for name in names)


def _metadata_load(board: Board, bucket: Bucket, entries: list[Entry], metadata: list[str | None]) -> None:
    """Fill the gaps of ``metadata`` from PostgreSQL's primary, and Redis with them (best effort)."""
    missing = {entry.user_id: index for index, entry in enumerate(entries) if metadata[index] is None}
    rows = _standings(board, bucket).filter(user_id__in=list(missing)).values_list("user_id", "score", "metadata")
    loaded: list[tuple[str, int, str]] = []
    for user_id, score, raw in cast(Iterable[tuple[str, int, object]], rows):
        kept = metadata[missing[user_id]] = metadata_json(raw)
        loaded.append((user_id, score, kept))
    try:
        store_buckets.entry_metadata_fill(
            board_slug=board.slug,
            period=bucket.period,
            bucket=bucket.key,
            entries=loaded,
            expire_at=bucket_expire_at(bucket),
        )
    except RedisUnavailable as exc:
        logger.warning("could not keep entries' metadata of %s in Redis: %s", board.slug, exc)


# --------------------------------------------------------------------------- Redis first


def _redis_or_none(operation: str, call, *, board: Board, bucket: Bucket):
    """Run a Redis read; None means "use PostgreSQL" (Redis down, bucket cold, or marked for repair)."""
    if repair_marks.is_marked(board_id=board.pk, period=bucket.period, bucket_start=bucket.start):
        # Redis may hold this bucket from before a write it missed: never serve it as current.
        metrics.READS.labels("repair_pending").inc()
        repair_soon()
        return None
    try:
        found = call()
    except RedisUnavailable as exc:
        metrics.REDIS_ERRORS.labels(operation).inc()
        logger.warning("Redis read %s failed, serving from PostgreSQL: %s", operation, exc)
        metrics.READS.labels("postgres_fallback").inc()
        return None
    if found is None:
        metrics.READS.labels("cache_miss").inc()
        bucket_warm_on_miss(board=board, bucket=bucket)
        return None
    metrics.READS.labels("cache_hit").inc()
    return found


def _current(board: Board, period: str, at: datetime | None) -> Bucket:
    return board.bucket(period, at or timezone.now())


def leaderboard_page(
    *, board: Board, period: str, limit: int = 10, offset: int = 0, at: datetime | None = None
) -> LeaderboardPage:
    """Top entries of the current bucket of ``period``, ``limit`` from ``offset``."""
    bucket = _current(board, period, at)
    limit = max(0, min(limit, MAX_LIMIT))
    found = _redis_or_none(
        "top",
        lambda: store_buckets.top_range(
            board_slug=board.slug,
            period=period,
            bucket=bucket.key,
            offset=offset,
            limit=limit,
            higher_is_better=board.higher_is_better,
            metadata=_keeps_metadata(board),
        ),
        board=board,
        bucket=bucket,
    )
    cached = found is not None
    result = found if found is not None else _pg_range(board, bucket, offset, limit, db=replica.reads())
    entries = ranked(result.items, start=offset, first_better=result.first_better)
    entries = _with_extras(board, bucket, entries, result.total, result.metadata)
    return LeaderboardPage(board, bucket, entries, result.total, cached, offset, limit)


def leaderboard_around(
    *, board: Board, period: str, user_id: str, count: int = 5, at: datetime | None = None
) -> LeaderboardPage:
    """``count`` entries above and below a user (a full window at the edges)."""
    bucket = _current(board, period, at)
    count = max(0, min(count, MAX_AROUND))
    found = _redis_or_none(
        "around",
        lambda: store_buckets.around_range(
            board_slug=board.slug,
            period=period,
            bucket=bucket.key,
            member=user_id,
            count=count,
            higher_is_better=board.higher_is_better,
            metadata=_keeps_metadata(board),
        ),
        board=board,
        bucket=bucket,
    )
    cached = found is not None
    result = found if found is not None else _pg_around(board, bucket, user_id, count, db=replica.reads())
    if result.start < 0:
        return LeaderboardPage(board, bucket, [], result.total, cached, 0, 2 * count + 1)
    entries = ranked(result.items, start=result.start, first_better=result.first_better)
    entries = _with_extras(board, bucket, entries, result.total, result.metadata)
    return LeaderboardPage(board, bucket, entries, result.total, cached, result.start, 2 * count + 1)


def leaderboard_members(*, board: Board, period: str, user_ids: list[str], at: datetime | None = None) -> MembersPage:
    """A chosen set of users (friends, a team) with their global ranks, best first."""
    bucket = _current(board, period, at)
    wanted = list(dict.fromkeys(user_ids))[:MAX_MEMBERS]
    found = _redis_or_none(
        "members",
        lambda: store_buckets.members_ranks(
            board_slug=board.slug,
            period=period,
            bucket=bucket.key,
            members=wanted,
            higher_is_better=board.higher_is_better,
            metadata=_keeps_metadata(board),
        ),
        board=board,
        bucket=bucket,
    )
    cached = found is not None
    result = found if found is not None else _pg_members(board, bucket, wanted, db=replica.reads())
    entries = ranking.in_rank_order(
        [Entry(uid, score, rank) for uid, (score, rank) in result.found.items()],
        higher_is_better=board.higher_is_better,
    )
    kept = None if result.metadata is None else [result.metadata.get(e.user_id) for e in entries]
    entries = _with_extras(board, bucket, entries, result.total, kept)
    unranked = [uid for uid in wanted if uid not in result.found]
    return MembersPage(board, bucket, entries, unranked, result.total, cached)


def user_rank(*, board: Board, period: str, user_id: str, at: datetime | None = None) -> RankInfo:
    """One user's rank, score and the number of ranked users."""
    page = leaderboard_members(board=board, period=period, user_ids=[user_id], at=at)
    entry = page.entries[0] if page.entries else None
    return RankInfo(
        board,
        page.bucket,
        user_id,
        entry.score if entry else None,
        entry.rank if entry else None,
        page.total,
        page.cached,
        entry.extras if entry else _extras_unranked(board),
    )


def user_stats(*, board: Board, user_id: str, at: datetime | None = None) -> UserStats:
    """A user's score in the current bucket of every period of a board.

    From the user's cached details in Redis; on a miss (or a cached bucket
    that is no longer current) loaded from PostgreSQL and cached again.
    """
    now = at or timezone.now()
    buckets = {b.period: b for b in board.live_buckets(now)}
    if repair_marks.any_marked(board_id=board.pk):
        # Cached details may have missed the same writes as the marked buckets.
        metrics.READS.labels("repair_pending").inc()
        repair_soon()
        return _pg_user_stats(board, user_id, buckets, cache=False)
    try:
        cached = store_buckets.user_details_get(board_slug=board.slug, user_id=user_id)
    except RedisUnavailable as exc:
        metrics.REDIS_ERRORS.labels("user_stats").inc()
        logger.warning("Redis read user_stats failed, serving from PostgreSQL: %s", exc)
        return _pg_user_stats(board, user_id, buckets, cache=False)
    if cached is not None and all(p in cached.scores for p in buckets):
        metrics.READS.labels("cache_hit").inc()
        scores = {p: cached.scores[p][1] if cached.scores[p][0] == b.key else 0 for p, b in buckets.items()}
        return UserStats(
            board,
            user_id,
            scores,
            buckets,
            _parse_time(cached.updated_at),
            _parse_time(cached.cached_at),
            cached=True,
        )
    metrics.READS.labels("cache_miss").inc()
    return _pg_user_stats(board, user_id, buckets, cache=True)


def _pg_user_stats(board: Board, user_id: str, buckets: dict[str, Bucket], *, cache: bool) -> UserStats:
    # What is cached in Redis comes from the primary; an answer only may come from the replica.
    db = replica.PRIMARY if cache else replica.reads()
    rows = list(
        Standing.objects.using(db)
        .filter(in_buckets(buckets.values()), board=board, user_id=user_id)
        .values_list("period", "score", "updated_at")
    )
    scores = dict.fromkeys(buckets, 0)
    updated_at = None
    for period, score, changed in rows:
        scores[period] = score
        updated_at = max(updated_at, changed) if updated_at else changed
    cached_at = None
    # Only users with a score are cached: reads for ids nobody submitted for
    # (anonymous, any number of them) must not create Redis state.
    if cache and rows:
        cached_at = timezone.now()
        try:
            store_buckets.user_details_set(
                board_slug=board.slug,
                user_id=user_id,
                scores={period: (bucket.key, scores[period]) for period, bucket in buckets.items()},
                updated_at=updated_at.isoformat() if updated_at else "",
                cached_at=cached_at.isoformat(),
                ttl=store_buckets.USER_DETAILS_TTL,
            )
        except RedisUnavailable:
            cached_at = None
    return UserStats(board, user_id, scores, buckets, updated_at, cached_at, cached=False)


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def board_current_periods(*, board: Board, at: datetime | None = None) -> list[dict[str, object]]:
    """The live bucket of each period, with the next reset in UTC and local time."""
    now = at or timezone.now()
    zone = ZoneInfo(board.time_zone)
    return [
        {
            "period": bucket.period,
            "bucket": bucket.label,
            "bucket_reset_at": bucket.reset_at,
            "bucket_start": bucket.start,
            "bucket_start_local": bucket.start.astimezone(zone).isoformat(),
            "next_reset": bucket.end,
            "next_reset_local": bucket.end.astimezone(zone).isoformat() if bucket.end else None,
            "seconds_to_reset": int((bucket.end - now).total_seconds()) if bucket.end else None,
        }
        for bucket in board.live_buckets(now)
    ]


def board_list() -> QuerySet[Board]:
    return Board.objects.filter(is_active=True).order_by("slug")


def board_drift(*, board: Board, at: datetime | None = None) -> list[dict[str, object]]:
    """Members per live bucket in PostgreSQL and in Redis (the admin's drift view)."""
    rows: list[dict[str, object]] = []
    for bucket in board.live_buckets(at or timezone.now()):
        postgres = _standings(board, bucket).count()  # compared with Redis: the primary, as reconciliation
        try:
            ready = store_buckets.bucket_is_ready(board_slug=board.slug, period=bucket.period, bucket=bucket.key)
            cached: int | None = store_buckets.bucket_card(
                board_slug=board.slug, period=bucket.period, bucket=bucket.key
            )
        except RedisUnavailable:
            ready, cached = False, None
        state = "unavailable" if cached is None else ("warm" if ready else "cold")
        drift = (cached - postgres) if (cached is not None and ready) else None
        rows.append(
            {
                "period": bucket.period,
                "bucket": bucket.label,
                "reset_at": bucket.reset_at,
                "postgres": postgres,
                "redis": cached,
                "state": state,
                "drift": drift,
            }
        )
    return rows


def bucket_top_from_postgres(*, board: Board, bucket: Bucket, limit: int) -> tuple[list[Entry], int]:
    """The top ``limit`` entries of any bucket (live or finished) and its size, from the primary.

    Archives are written from it (``rollover``): never from a replica that may lag.
    """
    page = _pg_range(board, bucket, 0, limit, db=replica.PRIMARY)
    entries = ranked(page.items, start=0, first_better=page.first_better)
    return _with_extras(board, bucket, entries, page.total, page.metadata), page.total


# --------------------------------------------------------------------------- rank history


@dataclass
class UserHistory:
    """A player's final standing in each finished bucket of a period (newest first), and the live one."""

    board: Board
    period: str
    user_id: str
    live: RankInfo
    entries: list[RankInfo]  # one per finished bucket; ``total`` is the bucket's participants
    total: int  # finished buckets in which the player has a standing
    offset: int
    limit: int


class _SubqueryCount(Subquery):
    """``(SELECT COUNT(*) FROM (<subquery>))``: a correlated count, 0 when nothing matches."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _counted)"
    output_field = BigIntegerField()


def user_history(
    *, board: Board, period: str, user_id: str, limit: int = 10, offset: int = 0, at: datetime | None = None
) -> UserHistory:
    """A player's final score, rank and percentile in every finished bucket of ``period`` they played.

    Finished buckets' standings stay in PostgreSQL as history, so their final ranks are
    computed there, in one query for the whole page: per bucket, a correlated count of
    the standings with a strictly better score (``_better_than``, the one ranking rule)
    and of all its standings, each one range of the ``standing_rank`` index. The page
    also counts the player's finished buckets (a window over the same rows). Percentiles
    are ``RankInfo.percentile``'s. ``live`` is the current bucket (``user_rank``: Redis
    first). All-time has no finished buckets. A bucket's end is its archive's (a manual
    reset ends it early), or its calendar end when not archived yet.
    """
    now = at or timezone.now()
    live = user_rank(board=board, period=period, user_id=user_id, at=now)
    limit = max(0, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    history = UserHistory(board, period, user_id, live, [], 0, offset, limit)
    if period == Period.ALL_TIME or limit == 0:
        return history
    # A read nothing is built on: the replica may answer it (its subqueries run where it runs).
    mine = Standing.objects.using(replica.reads()).filter(
        board=board, period=period, user_id=user_id, bucket_start__lt=live.bucket.start
    )
    bucket = Standing.objects.filter(board=board, period=period, bucket_start=OuterRef("bucket_start"))
    archived = PeriodArchive.objects.filter(board=board, period=period, bucket_start=OuterRef("bucket_start"))
    rows = list(
        mine.order_by("-bucket_start")
        .annotate(
            better=_SubqueryCount(bucket.filter(_better_than(board, OuterRef("score"))).values("user_id")),
            participants=_SubqueryCount(bucket.values("user_id")),
            ended=Subquery(archived.values("bucket_end")[:1]),
            played=Window(Count("*")),
        )
        .values_list("bucket_start", "score", "better", "participants", "ended", "played")[offset : offset + limit]
    )
    history.total = rows[0][5] if rows else (mine.count() if offset else 0)
    board_tiers = tiers.board_tiers(board)
    for start, score, better, participants, ended, _ in rows:
        finished = bucket_starting(period, start, board.time_zone)
        end = ended or (min(finished.end, live.bucket.start) if finished.end else live.bucket.start)
        rank = ranking.rank_from_better(better)
        # The final tier, from the final rank among the bucket's participants (as its archive).
        extras = (
            () if board_tiers is None else (("tier", board_tiers.tier_of(score=score, rank=rank, total=participants)),)
        )
        history.entries.append(
            RankInfo(board, replace(finished, end=end), user_id, score, rank, participants, cached=False, extras=extras)
        )
    return history
