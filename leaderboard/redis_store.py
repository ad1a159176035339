"""The one module that owns Redis: key names, Lua scripts, pipelines, connections.

Layout (``P`` is ``settings.LEADERBOARD_REDIS_PREFIX``; the ``{b:<slug>}`` hash
tag keeps every key of a board in one Redis Cluster slot, so the scripts below
may touch them together)::

    P:{b:<slug>}:z:<period>:<bucket>       sorted set: member = user id, score = standing
    P:{b:<slug>}:ready:<period>:<bucket>   "the sorted set is complete" (set by warming)
    P:{b:<slug>}:u:<user id>               hash: the user's cached details on this board
    P:{b:<slug>}:lock:<name>               single-flight locks (warming, resets)
    P:{b:<slug>}:fence:<sha256(user id)>   last event id a moderation removed (later mirrors of
                                           earlier events write nothing; an hour)
    P:{b:<slug>}:tmp:<period>:<bucket>:<token>   a sorted set being warmed

A sorted set without its ``ready`` key is cold: submits leave it alone (the
warm that follows reads PostgreSQL, which already has them) and reads fall
back to PostgreSQL. Bucket keys expire some days after their period ends.

Ranks follow one rule (see ``ranking``): rank = 1 + the number of members with
a strictly better score. Equal scores are listed in Redis' own order: user id
descending on higher-is-better boards (ZREVRANGE), ascending otherwise.

Errors are raised as ``RedisUnavailable``, never swallowed. After a
connection failure a short circuit breaker fails fast instead of waiting on
every call, so reads fall back to PostgreSQL without paying timeouts.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

# --------------------------------------------------------------------------- connection


class RedisUnavailable(Exception):
    """Redis could not be reached or answered with an error."""


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
_down_until = 0.0
BREAKER_SECONDS = 2.0


def client() -> redis.Redis:
    """The shared client for ``settings.REDIS_URL`` (fails fast while the breaker is open)."""
    if time.monotonic() < _down_until:
        raise RedisUnavailable("Redis is unavailable (recent connection failure)")
    url = settings.REDIS_URL
    found = _clients.get(url)
    if found is not None:
        return found
    with _clients_lock:
        found = _clients.get(url)
        if found is None:
            timeout = settings.REDIS_SOCKET_TIMEOUT
            found = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=30,
                # One quick retry covers a connection the server closed while idle.
                retry=Retry(NoBackoff(), 1),
                max_connections=200,
            )
            _clients[url] = found
    return found


def reset_clients() -> None:
    """Forget connections and close the breaker (tests, and after a fork)."""
    global _down_until
    with _clients_lock:
        for found in _clients.values():
            found.close()
        _clients.clear()
    held = getattr(_local, "held", None)
    _local.held = None
    if held is not None and held[1] == os.getpid():
        held[2].disconnect()
    _down_until = 0.0


class _guard:
    """Turn redis-py errors into ``RedisUnavailable`` and trip the breaker."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        global _down_until
        if exc is None:
            return False
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            _down_until = time.monotonic() + BREAKER_SECONDS
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(exc, redis.RedisError):
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return False


def ping() -> bool:
    with _guard():
        return bool(client().ping())


# --------------------------------------------------------------------------- key names


def _tag(board_slug: str) -> str:
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:{{b:{board_slug}}}"


def bucket_key(board_slug: str, period: str, bucket: str) -> str:
    return f"{_tag(board_slug)}:z:{period}:{bucket}"


def ready_key(board_slug: str, period: str, bucket: str) -> str:
    return f"{_tag(board_slug)}:ready:{period}:{bucket}"


def user_key(board_slug: str, user_id: str) -> str:
    return f"{_tag(board_slug)}:u:{user_id}"


def lock_key(board_slug: str, name: str) -> str:
    return f"{_tag(board_slug)}:lock:{name}"


def warming_key(board_slug: str, period: str, bucket: str, token: str) -> str:
    return f"{_tag(board_slug)}:tmp:{period}:{bucket}:{token}"


def board_pattern(board_slug: str) -> str:
    return f"{_tag(board_slug)}:*"


def user_keys_pattern(board_slug: str) -> str:
    return f"{_tag(board_slug)}:u:*"


def all_keys_pattern() -> str:
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:*"


def group_name(board_slug: str, period: str) -> str:
    """Channels group of a board's period (ASCII letters, digits, '.', '-', '_')."""
    return f"lb.{board_slug}.{period}"


def user_group_name(board_slug: str, user_id: str) -> str:
    """Channels group of one user's subscriptions to a board (rank_update events).

    User ids may hold '@' and '+', which group names may not: those become '_',
    and a short digest of the real id keeps two such ids apart.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", user_id)
    digest = hashlib.blake2s(user_id.encode(), digest_size=4).hexdigest()
    return f"lb.{board_slug}.u.{safe}.{digest}"[-99:]


# --------------------------------------------------------------------------- scripts

_SUBMIT = """
-- KEYS[1]: user hash, KEYS[2]: the user's live subscriptions, KEYS[3]: the member's moderation fence;
-- KEYS[3i+1], KEYS[3i+2], KEYS[3i+3]: sorted set, ready key, live subscribers of bucket i
-- ARGV: member, flag ('' | 'GT' | 'LT'), higher_is_better, user ttl, updated_at,
--       cached_at, event id, then per bucket: period, bucket id, score, expire-at
local member, flag, hib = ARGV[1], ARGV[2], ARGV[3] == '1'
local ukey = KEYS[1]
local out = {}
local n = (#KEYS - 3) / 3
local fence = redis.call('GET', KEYS[3])
if fence and tonumber(ARGV[7]) <= tonumber(fence) then
  -- A moderation removed this player after this submit committed: what it wrote is gone.
  for i = 1, n do out[i] = {-1, -1, 0} end
  return {out, 0}
end
for i = 1, n do
  local z, ready, subs = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local base = 7 + (i - 1) * 4
  local period, bucket, score, expireat = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  if redis.call('EXISTS', ready) == 1 then
    if flag == '' then
      redis.call('ZADD', z, score, member)
    else
      redis.call('ZADD', z, flag, score, member)
    end
    redis.call('EXPIREAT', z, expireat)
    local cur = redis.call('ZSCORE', z, member)
    local better
    if hib then
      better = redis.call('ZCOUNT', z, '(' .. cur, '+inf')
    else
      better = redis.call('ZCOUNT', z, '-inf', '(' .. cur)
    end
    out[i] = {better + 1, redis.call('ZCARD', z), tonumber(redis.call('GET', subs) or '0')}
  else
    out[i] = {-1, -1, tonumber(redis.call('GET', subs) or '0')}
  end
  -- The user's cached details: never let a late, older write win.
  local old_bucket = redis.call('HGET', ukey, period .. ':b')
  local old = tonumber(redis.call('HGET', ukey, period) or '')
  local new = tonumber(score)
  if flag == '' or old_bucket ~= bucket or old == nil
     or (flag == 'GT' and new > old) or (flag == 'LT' and new < old) then
    redis.call('HSET', ukey, period, score, period .. ':b', bucket)
  end
end
redis.call('HSET', ukey, 'updated_at', ARGV[5], 'cached_at', ARGV[6])
redis.call('EXPIRE', ukey, ARGV[4])
return {out, tonumber(redis.call('GET', KEYS[2]) or '0')}
"""

_TOP = """
-- KEYS: sorted set, ready key; ARGV: offset, limit, higher_is_better
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local z, offset, limit, hib = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local total = redis.call('ZCARD', z)
local items = {}
if limit > 0 then
  if hib then
    items = redis.call('ZREVRANGE', z, offset, offset + limit - 1, 'WITHSCORES')
  else
    items = redis.call('ZRANGE', z, offset, offset + limit - 1, 'WITHSCORES')
  end
end
local better = 0
if #items > 0 then
  if hib then better = redis.call('ZCOUNT', z, '(' .. items[2], '+inf')
  else better = redis.call('ZCOUNT', z, '-inf', '(' .. items[2]) end
end
return {1, total, better, items}
"""

_AROUND = """
-- KEYS: sorted set, ready key; ARGV: member, entries above and below, higher_is_better
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local z, member, n, hib = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local total = redis.call('ZCARD', z)
local pos
if hib then pos = redis.call('ZREVRANK', z, member) else pos = redis.call('ZRANK', z, member) end
if not pos then return {1, total, -1, 0, {}} end
-- A full window of 2n+1 entries, shifted inwards at the top and bottom edges.
local start = pos - n
if start < 0 then start = 0 end
local stop = start + 2 * n
if stop > total - 1 then
  stop = total - 1
  start = math.max(0, stop - 2 * n)
end
local items
if hib then items = redis.call('ZREVRANGE', z, start, stop, 'WITHSCORES')
else items = redis.call('ZRANGE', z, start, stop, 'WITHSCORES') end
local better = 0
if #items > 0 then
  if hib then better = redis.call('ZCOUNT', z, '(' .. items[2], '+inf')
  else better = redis.call('ZCOUNT', z, '-inf', '(' .. items[2]) end
end
return {1, total, start, better, items}
"""

_MEMBERS = """
-- KEYS: sorted set, ready key; ARGV: higher_is_better, members...
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local z, hib = KEYS[1], ARGV[1] == '1'
local out = {}
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', z, ARGV[i])
  if s then
    local better
    if hib then better = redis.call('ZCOUNT', z, '(' .. s, '+inf')
    else better = redis.call('ZCOUNT', z, '-inf', '(' .. s) end
    out[#out + 1] = {ARGV[i], s, better + 1}
  end
end
return {1, redis.call('ZCARD', z), out}
"""

_WARM_FINISH = """
-- KEYS: warming set, sorted set, ready key; ARGV: expire-at
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('EXPIREAT', KEYS[2], ARGV[1])
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[3], '1')
redis.call('EXPIREAT', KEYS[3], ARGV[1])
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_local = threading.local()


def _own_connection() -> Any:
    """This thread's own connection for scripts, made like the shared client's (URL, timeouts).

    A connection per thread skips the pool's lock and its liveness probe on every
    call, which together cost as much CPU as the round trip itself. A process
    forked after the parent made one, and ``reset_clients``, get a new one.
    """
    pool = client().connection_pool  # fails fast while the breaker is open
    held = getattr(_local, "held", None)
    if held is not None and held[0] is pool and held[1] == os.getpid():
        return held[2]
    conn = pool.connection_class(**pool.connection_kwargs)
    _local.held = (pool, os.getpid(), conn)
    return conn


class _Script:
    """A Lua script run with EVALSHA (EVAL when the server lacks it) on this thread's connection.

    The hottest calls (every read and every submit) go straight to the
    connection: redis-py's command path (retry wrappers, command lookups,
    response callbacks a script never has) and its pool cost more CPU than the
    round trip. The same guarantees are kept: a connection the server closed
    while idle is replaced before sending, a command that could not be sent is
    sent once more on a new connection, a reply is never waited for twice, and
    errors are redis-py's own, so ``_guard`` treats them as before.
    """

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, *, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        conn = _own_connection()
        try:
            _fresh(conn)
            conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            # Nothing reached the server: one new connection may send it safely.
            conn.disconnect()
            conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            try:
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                conn.send_command("EVAL", self.source, len(keys), *keys, *args)
                return conn.read_response()
        except BaseException:
            # A late or half-read reply must not reach the next call. No retry here: the
            # server may have run the script (a count taken twice, a warm finished twice).
            conn.disconnect()
            raise


def _fresh(conn: Any) -> None:
    """Replace a connection the server closed while it sat idle (as the pool checks on lending)."""
    if conn._sock is not None and conn.can_read():
        conn.disconnect()


_scripts: dict[str, _Script] = {}


def _script(source: str) -> _Script:
    found = _scripts.get(source)
    if found is None:
        found = _scripts[source] = _Script(source)
    return found


# --------------------------------------------------------------------------- results


def _score(raw: str | float | int) -> int:
    return int(float(raw))


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Entries (user id, score) in rank order, with the rank of the first one."""

    total: int
    start: int
    first_better: int
    items: list[tuple[str, int]]


def _pairs(flat: Sequence[str]) -> list[tuple[str, int]]:
    return [(flat[i], _score(flat[i + 1])) for i in range(0, len(flat), 2)]


def _flag(higher_is_better: bool) -> str:
    return "1" if higher_is_better else "0"


# --------------------------------------------------------------------------- writes


@dataclass(frozen=True, slots=True)
class BucketWrite:
    period: str
    bucket: str
    score: int
    expire_at: int


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
) -> SubmitMirror:
    """Write a committed submission to every warm bucket in one atomic round trip.

    Scores are the absolute values PostgreSQL committed. With a ``GT``/``LT``
    flag (operators whose score only moves one way) a late arrival can never
    overwrite a newer value, and a repeat is harmless. Returns, per bucket,
    ``(rank, total)`` or ``None`` when the bucket is cold, and who is
    watching live (so nothing is broadcast to nobody). A submit whose event a
    moderation has fenced off (``member_sync``'s ``fence``: committed before the
    player was removed or banned, mirrored after) writes nothing.
    """
    keys = [user_key(board_slug, member), live_key(board_slug, "user", member), fence_key(board_slug, member)]
    args: list[str | int] = [member, zadd_flag, _flag(higher_is_better), user_ttl, updated_at, cached_at, event_id]
    for write in writes:
        keys += [
            bucket_key(board_slug, write.period, write.bucket),
            ready_key(board_slug, write.period, write.bucket),
            live_key(board_slug, write.period, "subscribers"),
        ]
        args += [write.period, write.bucket, str(write.score), write.expire_at]
    with _guard():
        per_bucket, user_watching = _script(_SUBMIT)(keys=keys, args=args)
    return SubmitMirror(
        ranks=[None if rank < 0 else (int(rank), int(total)) for rank, total, _ in per_bucket],
        subscribers=[int(subs) for _, _, subs in per_bucket],
        user_watching=int(user_watching) > 0,
    )


@dataclass(frozen=True, slots=True)
class SubmitMirror:
    ranks: list[tuple[int, int] | None]
    subscribers: list[int]
    user_watching: bool


def scores_apply(
    *, board_slug: str, period: str, bucket: str, scores: Iterable[tuple[str, int]], zadd_flag: str
) -> None:
    """Write absolute scores into a warm bucket (catch-up after warming, repairs)."""
    key = bucket_key(board_slug, period, bucket)
    batch = dict(scores)
    if not batch:
        return
    with _guard():
        if zadd_flag == "GT":
            client().zadd(key, batch, gt=True)
        elif zadd_flag == "LT":
            client().zadd(key, batch, lt=True)
        else:
            client().zadd(key, batch)


_MEMBER_SYNC = """
-- One player's entries on one board, set to what PostgreSQL holds (moderation, erasure).
-- KEYS[1]: user hash, KEYS[2]: the user's live-subscription counter, KEYS[3]: their fence,
-- KEYS[2i+2], KEYS[2i+3]: sorted set and ready key of bucket i
-- ARGV: member, forget the live counter ('1'/'0'), ZADD flag ('' | 'GT' | 'LT'),
--       fence ('' or the last event id the moderation covers), fence ttl,
--       then per bucket: score ('' = remove the member), expire-at
local member, flag = ARGV[1], ARGV[3]
if ARGV[4] ~= '' and tonumber(ARGV[4]) > tonumber(redis.call('GET', KEYS[3]) or '0') then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
local removed = 0
for i = 1, (#KEYS - 3) / 2 do
  local z, ready = KEYS[2 * i + 2], KEYS[2 * i + 3]
  local score, expireat = ARGV[2 * i + 4], ARGV[2 * i + 5]
  if score == '' then
    removed = removed + redis.call('ZREM', z, member)
  elseif redis.call('EXISTS', ready) == 1 then
    if flag == '' then redis.call('ZADD', z, score, member) else redis.call('ZADD', z, flag, score, member) end
    redis.call('EXPIREAT', z, expireat)
  end
end
return removed
"""


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
    keys = [user_key(board_slug, member), live_key(board_slug, "user", member), fence_key(board_slug, member)]
    args: list[str | int] = [member, "1" if forget_watch else "0", zadd_flag, "" if fence is None else fence, FENCE_TTL]
    for b in buckets:
        keys += (bucket_key(board_slug, b.period, b.bucket), ready_key(board_slug, b.period, b.bucket))
        args += ("" if b.score is None else b.score, b.expire_at)
    with _guard():
        return int(_script(_MEMBER_SYNC)(keys=keys, args=args))


# A submit is mirrored milliseconds after its commit; an hour covers any stall with room to spare.
FENCE_TTL = 3600


def fence_key(board_slug: str, member: str) -> str:
    # Hashed: an erased player's fence must not spell their id out while it lasts.
    digest = hashlib.sha256(member.encode()).hexdigest()[:32]
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:{_tag(board_slug)}:fence:{digest}"


def user_rate_pattern(user_id: str) -> str:
    """Every per-user submit rate counter of ``user_id`` (``rate:user:<slug>:<user id>:<window>``)."""
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:rate:user:*:{user_id}:*"


def members_remove(*, board_slug: str, period: str, bucket: str, members: Sequence[str]) -> int:
    if not members:
        return 0
    with _guard():
        return int(client().zrem(bucket_key(board_slug, period, bucket), *members))


def warm_begin(*, board_slug: str, period: str, bucket: str) -> str:
    """A fresh, empty staging key for warming one bucket."""
    key = warming_key(board_slug, period, bucket, uuid.uuid4().hex[:12])
    with _guard():
        client().delete(key)
        # A crashed warm leaves no garbage behind for long.
        return key


def warm_add(*, staging_key: str, batch: Sequence[tuple[str, int]]) -> None:
    """Add one batch to a staging key: one ZADD, pipelined with its TTL."""
    if not batch:
        return
    args: list[str | int] = []
    for member, score in batch:
        args += (score, member)
    with _guard():
        pipe = client().pipeline(transaction=False)
        pipe.execute_command("ZADD", staging_key, *args)
        pipe.expire(staging_key, 3600)
        pipe.execute()


def warm_finish(*, board_slug: str, period: str, bucket: str, staging_key: str, expire_at: int) -> None:
    """Atomically replace the live bucket with the staging key and mark it ready."""
    keys = [staging_key, bucket_key(board_slug, period, bucket), ready_key(board_slug, period, bucket)]
    with _guard():
        _script(_WARM_FINISH)(keys=keys, args=[expire_at])


def bucket_invalidate(*, board_slug: str, period: str, bucket: str) -> None:
    """Make a bucket cold: the next read warms it again from PostgreSQL."""
    with _guard():
        client().delete(ready_key(board_slug, period, bucket), bucket_key(board_slug, period, bucket))


def bucket_is_ready(*, board_slug: str, period: str, bucket: str) -> bool:
    with _guard():
        return bool(client().exists(ready_key(board_slug, period, bucket)))


def lock_acquire(*, board_slug: str, name: str, ttl_ms: int) -> str | None:
    """Take a named lock of a board; returns the token, or None if it is held."""
    token = uuid.uuid4().hex
    with _guard():
        ok = client().set(lock_key(board_slug, name), token, nx=True, px=ttl_ms)
    return token if ok else None


def lock_release(*, board_slug: str, name: str, token: str) -> None:
    with _guard():
        _script(_UNLOCK)(keys=[lock_key(board_slug, name)], args=[token])


def user_details_set(*, board_slug: str, user_id: str, fields: dict[str, str], ttl: int) -> None:
    key = user_key(board_slug, user_id)
    with _guard():
        pipe = client().pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, ttl)
        pipe.execute()


def user_details_get(*, board_slug: str, user_id: str) -> dict[str, str]:
    with _guard():
        return client().hgetall(user_key(board_slug, user_id))


def keys_delete(pattern: str) -> int:
    """Delete every key matching ``pattern`` (SCAN + UNLINK in batches)."""
    deleted = 0
    with _guard():
        conn = client()
        batch: list[str] = []
        for key in conn.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += conn.unlink(*batch)
                batch.clear()
        if batch:
            deleted += conn.unlink(*batch)
    return deleted


# --------------------------------------------------------------------------- reads


def top_range(
    *, board_slug: str, period: str, bucket: str, offset: int, limit: int, higher_is_better: bool
) -> RangeResult | None:
    """A page of a bucket in rank order, or None when the bucket is cold."""
    keys = [bucket_key(board_slug, period, bucket), ready_key(board_slug, period, bucket)]
    with _guard():
        raw = _script(_TOP)(keys=keys, args=[offset, limit, _flag(higher_is_better)])
    if raw[0] == 0:
        return None
    return RangeResult(total=int(raw[1]), start=offset, first_better=int(raw[2]), items=_pairs(raw[3]))


def around_range(
    *, board_slug: str, period: str, bucket: str, member: str, count: int, higher_is_better: bool
) -> RangeResult | None:
    """``count`` entries above and below ``member``; ``start`` is -1 when unranked."""
    keys = [bucket_key(board_slug, period, bucket), ready_key(board_slug, period, bucket)]
    with _guard():
        raw = _script(_AROUND)(keys=keys, args=[member, count, _flag(higher_is_better)])
    if raw[0] == 0:
        return None
    return RangeResult(total=int(raw[1]), start=int(raw[2]), first_better=int(raw[3]), items=_pairs(raw[4]))


@dataclass(frozen=True, slots=True)
class MembersResult:
    total: int
    found: dict[str, tuple[int, int]]  # user id -> (score, rank)


def members_ranks(
    *, board_slug: str, period: str, bucket: str, members: Sequence[str], higher_is_better: bool
) -> MembersResult | None:
    """Score and rank of each of ``members`` that is ranked, or None when cold."""
    keys = [bucket_key(board_slug, period, bucket), ready_key(board_slug, period, bucket)]
    with _guard():
        raw = _script(_MEMBERS)(keys=keys, args=[_flag(higher_is_better), *members])
    if raw[0] == 0:
        return None
    return MembersResult(total=int(raw[1]), found={m: (_score(s), int(r)) for m, s, r in raw[2]})


def bucket_members(*, board_slug: str, period: str, bucket: str, batch: int = 5000) -> Iterable[list[tuple[str, int]]]:
    """Every member of a bucket with its score, in batches (ZSCAN)."""
    key = bucket_key(board_slug, period, bucket)
    with _guard():
        conn = client()
        cursor = 0
        while True:
            cursor, found = conn.zscan(key, cursor=cursor, count=batch)
            if found:
                yield [(member, _score(score)) for member, score in found]
            if cursor == 0:
                break


def bucket_card(*, board_slug: str, period: str, bucket: str) -> int:
    with _guard():
        return int(client().zcard(bucket_key(board_slug, period, bucket)))


def server_info() -> dict[str, Any]:
    with _guard():
        conn = client()
        info = conn.info("memory")
        info.update(conn.info("stats"))
        info.update(conn.info("server"))
        return info


# --------------------------------------------------------------------------- heartbeats and rate limits


def heartbeat_key(name: str) -> str:
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:heartbeat:{name}"


def heartbeat_set(*, name: str, ttl: int = 3600) -> None:
    """Record that a background component is alive (value: unix time)."""
    with _guard():
        client().set(heartbeat_key(name), f"{time.time():.3f}", ex=ttl)


def heartbeat_age(*, name: str) -> float | None:
    """Seconds since the component last reported, or None if it never did."""
    with _guard():
        raw = client().get(heartbeat_key(name))
    return None if raw is None else max(0.0, time.time() - float(raw))


def rate_key(scope: str, ident: str, window: int) -> str:
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:rate:{scope}:{ident}:{int(time.time() // window)}"


_RATE_HIT = """
-- KEYS: window counter; ARGV: window seconds. Returns the count including this hit and the TTL.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


def rate_hit(*, scope: str, ident: str, window: int) -> tuple[int, int]:
    """Count one hit in the current fixed window; returns (hits so far, seconds left)."""
    with _guard():
        count, ttl = _script(_RATE_HIT)(keys=[rate_key(scope, ident, window)], args=[window])
    return int(count), max(1, int(ttl))


_RATE_COUNT = """
-- KEYS: window counter. Returns the count so far (without a hit) and the TTL.
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('TTL', KEYS[1])}
"""


def rate_count(*, scope: str, ident: str, window: int) -> tuple[int, int]:
    """The hits counted in the current fixed window, without counting one; (hits, seconds left)."""
    with _guard():
        count, ttl = _script(_RATE_COUNT)(keys=[rate_key(scope, ident, window)], args=[])
    return int(count), max(1, int(ttl))


def repair_pending_key() -> str:
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:repair-pending"


def repair_pending_add(*, marks: dict[str, str]) -> None:
    """Record buckets that may be behind PostgreSQL while PostgreSQL cannot take the mark.

    ``marks`` maps "<board id>|<period>|<bucket start ISO>" to a reason; the
    repair task moves them into PostgreSQL (``repair_pending_take``).
    """
    with _guard():
        client().hset(repair_pending_key(), mapping=marks)


def repair_pending_take() -> dict[str, str]:
    """The pending marks (not removed: ``repair_pending_done`` removes those moved)."""
    with _guard():
        return client().hgetall(repair_pending_key())


def repair_pending_done(*, fields: Sequence[str]) -> None:
    if fields:
        with _guard():
            client().hdel(repair_pending_key(), *fields)


def global_lock_key(name: str) -> str:
    return f"{settings.LEADERBOARD_REDIS_PREFIX}:lock:{name}"


def global_lock_acquire(*, name: str, ttl_ms: int) -> str | None:
    """A service-wide lock (e.g. one reconciliation at a time); the token, or None if held."""
    token = uuid.uuid4().hex
    with _guard():
        ok = client().set(global_lock_key(name), token, nx=True, px=ttl_ms)
    return token if ok else None


def global_lock_release(*, name: str, token: str) -> None:
    with _guard():
        _script(_UNLOCK)(keys=[global_lock_key(name)], args=[token])


def global_lock_held(*, name: str) -> bool:
    with _guard():
        return bool(client().exists(global_lock_key(name)))


def members_scores(*, board_slug: str, period: str, bucket: str, members: Sequence[str]) -> list[int | None]:
    """The score of each member in a bucket (None when absent): one ZMSCORE."""
    if not members:
        return []
    with _guard():
        raw = client().zmscore(bucket_key(board_slug, period, bucket), list(members))
    return [None if value is None else _score(value) for value in raw]


def memory_used() -> int:
    with _guard():
        return int(client().info("memory")["used_memory"])


def keys_count(pattern: str) -> int:
    """How many keys match ``pattern`` (SCAN; for status pages, not hot paths)."""
    with _guard():
        return sum(1 for _ in client().scan_iter(match=pattern, count=1000))


# --------------------------------------------------------------------------- live broadcasts


def live_key(board_slug: str, period: str, name: str) -> str:
    return f"{_tag(board_slug)}:live:{period}:{name}"


_LIVE_GATE = """
-- The throttle of one live group, shared by every process.
-- KEYS: last send (ms), pending trailing send (its owner's token), send in progress (its owner's token)
-- ARGV: interval (ms), token of a firing timer ('' for a new change), claim of a new change
-- Returns 0 = send now (the caller owns the in-progress mark and must release it),
--        -1 = nothing to do, n > 0 = (re)schedule the trailing send in n ms.
-- Redis' clock, so hosts with drifting clocks still agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, token, claim = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local busy = redis.call('EXISTS', KEYS[3]) == 1
if token ~= '' then
  -- Only the timer that owns the pending mark may send: a leading send may have
  -- taken its place, or a newer cycle may own it by now.
  if redis.call('GET', KEYS[2]) ~= token then return -1 end
  if busy then
    -- The previous send is still going out: sends never overlap, so they never arrive out of order.
    redis.call('PEXPIRE', KEYS[2], interval * 4)
    return 20
  end
  redis.call('SET', KEYS[3], token, 'PX', 5000)
  redis.call('SET', KEYS[1], now, 'PX', interval * 10)
  redis.call('DEL', KEYS[2])
  return 0
end
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if not busy and now - last >= interval then
  redis.call('SET', KEYS[3], claim, 'PX', 5000)
  redis.call('SET', KEYS[1], now, 'PX', interval * 10)
  redis.call('DEL', KEYS[2])
  return 0
end
if redis.call('SET', KEYS[2], claim, 'NX', 'PX', interval * 4) then
  return math.max(1, last + interval - now)
end
return -1
"""

_LIVE_RELEASE = """
-- KEYS: send in progress; ARGV: the owner's token
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def live_gate(*, board_slug: str, period: str, interval_ms: int, token: str = "", claim: str = "") -> int:
    """The shared (all processes) throttle of one live group: see the script above.

    A change calls it with ``claim`` (a fresh token it keeps if told to schedule);
    the timer it then starts calls it again with that ``token``. Whoever is told
    to send (0) calls ``live_release`` with its token or claim when done.
    """
    keys = [
        live_key(board_slug, period, "last"),
        live_key(board_slug, period, "pending"),
        live_key(board_slug, period, "sending"),
    ]
    with _guard():
        return int(_script(_LIVE_GATE)(keys=keys, args=[interval_ms, token, claim or "-"]))


def live_release(*, board_slug: str, period: str, token: str) -> None:
    """End a send started by ``live_gate`` (only its owner's token clears the mark)."""
    with _guard():
        _script(_LIVE_RELEASE)(keys=[live_key(board_slug, period, "sending")], args=[token])


def live_digest_swap(*, board_slug: str, period: str, digest: str) -> bool:
    """Record the digest of the top N about to be sent; False when it equals the last one sent."""
    with _guard():
        previous = client().set(live_key(board_slug, period, "digest"), digest, px=86_400_000, get=True)
    return previous != digest


def live_watch(*, board_slug: str, period: str, delta: int) -> None:
    """Count a subscription to a period (+1 on connect, -1 on disconnect) so submits know who watches.

    The counters expire after a day without changes: a crashed ASGI process can
    only leave them too high (a broadcast nobody receives), never too low for long.
    """
    _counter_add(live_key(board_slug, period, "subscribers"), delta)


def live_watch_user(*, board_slug: str, user_id: str, delta: int) -> None:
    """Count an authenticated subscription of one user (for rank_update)."""
    _counter_add(live_key(board_slug, "user", user_id), delta)


def _counter_add(key: str, delta: int) -> None:
    with _guard():
        pipe = client().pipeline(transaction=False)
        pipe.incrby(key, delta)
        pipe.expire(key, 86_400)
        pipe.execute()
