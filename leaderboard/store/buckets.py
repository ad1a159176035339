"""A board's buckets in Redis: sorted sets, the cached user details, and the board's locks.

Writes mirror what PostgreSQL committed (absolute scores, never deltas);
reads return ``None`` for a cold bucket (no ``ready`` key), so the caller
warms it and answers from PostgreSQL. Ranks follow ``leaderboard.ranking``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from . import keys, scripts
from .connection import client, guard, keys_delete, run

# How long a user's cached details live without a write (a read from PostgreSQL caches them again).
USER_DETAILS_TTL = 7 * 24 * 3600

# A submit is mirrored milliseconds after its commit; an hour covers any stall with room to spare.
FENCE_TTL = 3600


def _score(raw: str | float | int) -> int:
    return int(float(raw))


def _pairs(flat: Sequence[str]) -> list[tuple[str, int]]:
    return [(flat[i], _score(flat[i + 1])) for i in range(0, len(flat), 2)]


def _hib(higher_is_better: bool) -> str:
    return "1" if higher_is_better else "0"


# --------------------------------------------------------------------------- writes


@dataclass(frozen=True, slots=True)
class BucketWrite:
    period: str
    bucket: str
    score: int
    expire_at: int
    # The entry's metadata (compact JSON) on boards whose entries carry it, else None.
    metadata: str | None = None
    # True when ``expire_at`` is the one the bucket got when it warmed (a period's buckets end at a
    # fixed time): then only a write that may create a key sets it. False: every write moves it on.
    expiry_fixed: bool = False


@dataclass(frozen=True, slots=True)
class SubmitMirror:
    """What ``apply_submit`` found, per write in order, and whether the user watches live."""

    # The member's rank; None in a cold bucket and where it was not computed (see ``apply_submit``).
    ranks: list[int | None]
    # The bucket's entries, only when the user watches (their rank_update's percentile tiers), else None.
    totals: list[int | None]
    subscribers: list[int]
    user_watching: bool


def apply_submit(
    *,
    board_slug: str,
    member: str,
    writes: Sequence[BucketWrite],
    zadd_flag: str,
    higher_is_better: bool,
    updated_at: str,
    cached_at: str,
    user_ttl: int,
    event_id: int,
    ranks_for: Collection[str] | None = None,
) -> SubmitMirror:
    """Write a committed submission to every warm bucket in one atomic round trip.

    Scores are the absolute values PostgreSQL committed. With a ``GT``/``LT``
    flag (operators whose score only moves one way) a late arrival can never
    overwrite a newer value, and a repeat is harmless. Returns, per bucket,
    the member's new rank (``None`` when the bucket is cold) and who is
    watching live (so nothing is broadcast to nobody). A rank is computed for
    the periods in ``ranks_for`` (every period when None) and for every period
    somebody watches; when the user watches, for every warm bucket, with its
    total. A submit whose event a moderation has fenced off (``member_sync``'s
    ``fence``: committed before the player was removed or banned, mirrored
    after) writes nothing. A write's ``metadata`` is kept with the entry only if
    its score is the one the bucket now holds (a late write whose score lost
    brings no metadata either).
    """
    key_list = [keys.user(board_slug, member), keys.live_user(board_slug, member), keys.fence(board_slug, member)]
    with_metadata = any(write.metadata is not None for write in writes)
    args: list[str | int] = [
        member,
        zadd_flag,
        _hib(higher_is_better),
        user_ttl,
        updated_at,
        cached_at,
        event_id,
        "1" if with_metadata else "0",
    ]
    for write in writes:
        key_list += [
            keys.bucket(board_slug, write.period, write.bucket),
            keys.ready(board_slug, write.period, write.bucket),
            keys.live(board_slug, write.period, "subscribers"),
        ]
        args += [
            write.period,
            write.bucket,
            str(write.score),
            write.expire_at,
            "fixed" if write.expiry_fixed else "roll",
            "1" if ranks_for is None or write.period in ranks_for else "0",
        ]
        if with_metadata:
            key_list.append(keys.entry_metadata(board_slug, write.period, write.bucket))
            args.append(write.metadata or "{}")
    per_bucket, user_watching = run(scripts.SUBMIT, keys=key_list, args=args)
    return SubmitMirror(
        ranks=[int(rank) if rank > 0 else None for rank, _, _ in per_bucket],
        totals=[int(total) if total >= 0 else None for _, total, _ in per_bucket],
        subscribers=[int(subs) for _, _, subs in per_bucket],
        user_watching=int(user_watching) > 0,
    )


def scores_apply(
    *,
    board_slug: str,
    period: str,
    bucket: str,
    scores: Iterable[tuple[str, int]],
    zadd_flag: str,
    expire_at: int | None = None,
) -> None:
    """Write absolute scores into a warm bucket (catch-up after warming, repairs).

    With ``expire_at`` the bucket's expiry is set in the same round trip: a bucket
    warmed empty has no key yet, and the one these scores create must not outlive it
    (a submit sets a period bucket's expiry only when it adds a member).
    """
    key = keys.bucket(board_slug, period, bucket)
    batch = dict(scores)
    if not batch:
        return
    with guard():
        if expire_at is None:
            client().zadd(key, batch, gt=zadd_flag == "GT", lt=zadd_flag == "LT")
            return
        pipe = client().pipeline(transaction=False)
        pipe.zadd(key, batch, gt=zadd_flag == "GT", lt=zadd_flag == "LT")
        pipe.expireat(key, expire_at)
        pipe.execute()


@dataclass(frozen=True, slots=True)
class MemberScore:
    """What one bucket should hold for a member: ``score`` None means "not ranked"."""

    period: str
    bucket: str
    score: int | None
    expire_at: int


def member_sync(
    *,
    board_slug: str,
    member: str,
    buckets: Sequence[MemberScore],
    zadd_flag: str = "",
    forget_watch: bool = False,
    fence: int | None = None,
) -> int:
    """Remove ``member`` from the buckets whose ``score`` is None and write the others, atomically.

    Scores are written to warm buckets with ``zadd_flag`` (as a submit writes
    them: a submit that mirrored a newer value meanwhile is not undone).
    Also drops the member's cached details on the board (the next read rebuilds
    them from PostgreSQL) and, with ``forget_watch``, their live-subscription
    counter (an erased id must leave no key behind). Cold buckets only lose the
    member (their warm reads PostgreSQL). With ``fence`` (the member's last event
    id when a moderation committed), a submit mirrored later for an event up to
    it writes nothing (``apply_submit``), for ``FENCE_TTL`` seconds.
    Returns how many entries were removed.
    """
    key_list = [keys.user(board_slug, member), keys.live_user(board_slug, member), keys.fence(board_slug, member)]
    args: list[str | int] = [member, "1" if forget_watch else "0", zadd_flag, "" if fence is None else fence, FENCE_TTL]
    for b in buckets:
        key_list += (
            keys.bucket(board_slug, b.period, b.bucket),
            keys.ready(board_slug, b.period, b.bucket),
            keys.entry_metadata(board_slug, b.period, b.bucket),
        )
        args += ("" if b.score is None else b.score, b.expire_at)
    return int(run(scripts.MEMBER_SYNC, keys=key_list, args=args))


def members_remove(*, board_slug: str, period: str, bucket: str, members: Sequence[str]) -> int:
    if not members:
        return 0
    with guard():
        return int(client().zrem(keys.bucket(board_slug, period, bucket), *members))


def warm_begin(*, board_slug: str, period: str, bucket: str) -> str:
    """A fresh, empty staging key for warming one bucket."""
    key = keys.warming(board_slug, period, bucket, uuid.uuid4().hex[:12])
    with guard():
        client().delete(key)
    return key


def warm_add(*, staging_key: str, batch: Sequence[tuple[str, int]]) -> None:
    """Add one batch to a staging key: one ZADD, pipelined with its TTL (a crashed warm leaves no garbage for long)."""
    if not batch:
        return
    args: list[str | int] = []
    for member, score in batch:
        args += (score, member)
    with guard():
        pipe = client().pipeline(transaction=False)
        pipe.execute_command("ZADD", staging_key, *args)
        pipe.expire(staging_key, 3600)
        pipe.execute()


def warm_finish(*, board_slug: str, period: str, bucket: str, staging_key: str, expire_at: int) -> None:
    """Atomically replace the live bucket with the staging key and mark it ready."""
    key_list = [
        staging_key,
        keys.bucket(board_slug, period, bucket),
        keys.ready(board_slug, period, bucket),
        keys.entry_metadata(board_slug, period, bucket),
    ]
    run(scripts.WARM_FINISH, keys=key_list, args=[expire_at])


def bucket_invalidate(*, board_slug: str, period: str, bucket: str) -> None:
    """Make a bucket cold: the next read warms it again from PostgreSQL."""
    with guard():
        client().delete(
            keys.ready(board_slug, period, bucket),
            keys.bucket(board_slug, period, bucket),
            keys.entry_metadata(board_slug, period, bucket),
        )


def bucket_is_ready(*, board_slug: str, period: str, bucket: str) -> bool:
    with guard():
        return bool(client().exists(keys.ready(board_slug, period, bucket)))


def lock_acquire(*, board_slug: str, name: str, ttl_ms: int) -> str | None:
    """Take a named lock of a board; returns the token, or None if it is held."""
    token = uuid.uuid4().hex
    with guard():
        ok = client().set(keys.board_lock(board_slug, name), token, nx=True, px=ttl_ms)
    return token if ok else None


def lock_release(*, board_slug: str, name: str, token: str) -> None:
    run(scripts.UNLOCK, keys=[keys.board_lock(board_slug, name)], args=[token])


# --------------------------------------------------------------------------- cached user details

# The hash of a user on a board holds, per period, the score (``<period>``) and the bucket it
# belongs to (``<period>:b``), plus ``updated_at`` and ``cached_at``: the one place that knows.


@dataclass(frozen=True, slots=True)
class UserDetails:
    """A user's cached details on a board: per period, (bucket, score)."""

    scores: dict[str, tuple[str, int]]
    updated_at: str
    cached_at: str


def user_details_set(
    *, board_slug: str, user_id: str, scores: dict[str, tuple[str, int]], updated_at: str, cached_at: str, ttl: int
) -> None:
    """Replace a user's cached details (per period: bucket and score) for ``ttl`` seconds."""
    fields: dict[str, str] = {"updated_at": updated_at, "cached_at": cached_at}
    for period, (bucket, score) in scores.items():
        fields[period] = str(score)
        fields[f"{period}:b"] = bucket
    args: list[str | int] = [ttl]
    for name, value in fields.items():
        args += (name, value)
    run(scripts.USER_DETAILS, keys=[keys.user(board_slug, user_id)], args=args)


def user_details_get(*, board_slug: str, user_id: str) -> UserDetails | None:
    """A user's cached details, or None when nothing is cached."""
    with guard():
        raw = cast(dict[str, str], client().hgetall(keys.user(board_slug, user_id)))
    if not raw:
        return None
    scores = {
        name[:-2]: (bucket, _score(raw[name[:-2]]))
        for name, bucket in raw.items()
        if name.endswith(":b") and name[:-2] in raw
    }
    return UserDetails(scores=scores, updated_at=raw.get("updated_at", ""), cached_at=raw.get("cached_at", ""))


def entry_metadata_forget(*, board_slug: str) -> int:
    """Drop the entries' metadata Redis keeps for every bucket of a board (reads fill it again)."""
    return keys_delete(keys.entry_metadata_pattern(board_slug))


def board_users_forget(*, board_slug: str) -> int:
    """Drop every cached user detail of a board (after a rebuild)."""
    return keys_delete(keys.board_users_pattern(board_slug))


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Entries (user id, score) in rank order, with the rank of the first one."""

    total: int
    start: int
    first_better: int
    items: list[tuple[str, int]]
    # Asked for (boards whose entries carry metadata): each item's metadata as compact JSON,
    # None where the store does not hold it (Redis: not filled yet).
    metadata: list[str | None] | None = None


@dataclass(frozen=True, slots=True)
class MembersResult:
    total: int
    found: dict[str, tuple[int, int]]  # user id -> (score, rank)
    metadata: dict[str, str | None] | None = None  # as ``RangeResult.metadata``, by user id


def _read_keys(board_slug: str, period: str, bucket: str, metadata: bool) -> list[str]:
    key_list = [keys.bucket(board_slug, period, bucket), keys.ready(board_slug, period, bucket)]
    if metadata:
        key_list.append(keys.entry_metadata(board_slug, period, bucket))
    return key_list


def _metadata(raw: Sequence[str | None], metadata: bool) -> list[str | None] | None:
    return [value or None for value in raw] if metadata else None


def top_range(
    *,
    board_slug: str,
    period: str,
    bucket: str,
    offset: int,
    limit: int,
    higher_is_better: bool,
    metadata: bool = False,
) -> RangeResult | None:
    """A page of a bucket in rank order (with the entries' metadata if asked), or None when the bucket is cold."""
    key_list = _read_keys(board_slug, period, bucket, metadata)
    raw = run(scripts.TOP, keys=key_list, args=[offset, limit, _hib(higher_is_better)])
    if raw[0] == 0:
        return None
    return RangeResult(int(raw[1]), offset, int(raw[2]), _pairs(raw[3]), _metadata(raw[4], metadata))


def around_range(
    *,
    board_slug: str,
    period: str,
    bucket: str,
    member: str,
    count: int,
    higher_is_better: bool,
    metadata: bool = False,
) -> RangeResult | None:
    """``count`` entries above and below ``member`` (``ranking.window``); ``start`` is -1 when unranked."""
    key_list = _read_keys(board_slug, period, bucket, metadata)
    raw = run(scripts.AROUND, keys=key_list, args=[member, count, _hib(higher_is_better)])
    if raw[0] == 0:
        return None
    found = raw[5] if len(raw) > 5 else []
    return RangeResult(int(raw[1]), int(raw[2]), int(raw[3]), _pairs(raw[4]), _metadata(found, metadata))


def members_ranks(
    *,
    board_slug: str,
    period: str,
    bucket: str,
    members: Sequence[str],
    higher_is_better: bool,
    metadata: bool = False,
) -> MembersResult | None:
    """Score and rank of each of ``members`` that is ranked, or None when cold."""
    key_list = _read_keys(board_slug, period, bucket, metadata)
    raw = run(scripts.MEMBERS, keys=key_list, args=[_hib(higher_is_better), *members])
    if raw[0] == 0:
        return None
    found = {m: (_score(s), int(r)) for m, s, r in raw[2]}
    kept = None
    if metadata:
        kept = dict(zip(found, _metadata(raw[3], metadata) or [], strict=True))
    return MembersResult(total=int(raw[1]), found=found, metadata=kept)


def entry_metadata_fill(
    *, board_slug: str, period: str, bucket: str, entries: Sequence[tuple[str, int, str]], expire_at: int
) -> int:
    """Keep entries' metadata read from PostgreSQL (member, score, compact JSON) where Redis has none.

    A member's is kept only while it still holds that score and no submit wrote
    one meanwhile, so a read never brings back an older entry's metadata.
    Returns how many were kept.
    """
    if not entries:
        return 0
    args: list[str | int] = [expire_at]
    for member, score, metadata in entries:
        args += (member, str(score), metadata)
    key_list = [keys.bucket(board_slug, period, bucket), keys.entry_metadata(board_slug, period, bucket)]
    return int(run(scripts.METADATA_FILL, keys=key_list, args=args))


def bucket_members(*, board_slug: str, period: str, bucket: str, batch: int = 5000) -> Iterable[list[tuple[str, int]]]:
    """Every member of a bucket with its score, in batches (ZSCAN)."""
    key = keys.bucket(board_slug, period, bucket)
    with guard():
        conn = client()
        cursor = 0
        while True:
            cursor, found = cast(tuple[int, list[tuple[str, float]]], conn.zscan(key, cursor=cursor, count=batch))
            if found:
                yield [(member, _score(score)) for member, score in found]
            if cursor == 0:
                break


def bucket_card(*, board_slug: str, period: str, bucket: str) -> int:
    with guard():
        return int(client().zcard(keys.bucket(board_slug, period, bucket)))


def members_scores(*, board_slug: str, period: str, bucket: str, members: Sequence[str]) -> list[int | None]:
    """The score of each member in a bucket (None when absent): one ZMSCORE."""
    if not members:
        return []
    with guard():
        raw = client().zmscore(keys.bucket(board_slug, period, bucket), list(members))
    return [None if value is None else _score(value) for value in raw]
