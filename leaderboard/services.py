"""Writes of the leaderboard engine: the dual write, warming and repair.

The dual write lives here and only here. ``score_submit`` guarantees:

* PostgreSQL first: one transaction appends the ``ScoreEvent`` and upserts the
  user's ``Standing`` in every live bucket of the board, with the operator
  applied by PostgreSQL itself (``score + value``, ``GREATEST``...), so
  concurrent submits for one user never lose an update.
* Exactly once: a submission with an idempotency key is claimed by a unique
  index (``ON CONFLICT DO NOTHING``); a retry, even one racing the first
  attempt, gets the first response back and counts nothing.
* Redis after the commit, in one atomic script covering every bucket and the
  user's cached details, with the absolute scores PostgreSQL committed. If
  Redis fails, the submit still succeeds; the buckets are marked for repair.
* PostgreSQL down: the error propagates (HTTP 503) and Redis is not touched.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
import psycopg.errors
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, NotSupportedError, connection, transaction
from django.utils import timezone

from leaderboard_project.exceptions import Conflict, Forbidden, InvalidInput, NotFound, OutcomeUnknown

from . import metrics, redis_store, repair_marks
from .models import SCORE_LIMIT, Board, BucketRepair, ScoreEvent, Standing, in_buckets
from .periods import Bucket, Period, bucket_starting

logger = logging.getLogger(__name__)

METADATA_MAX_BYTES = 4096
USER_DETAILS_TTL = 7 * 24 * 3600
WARM_BATCH = 10_000


# --------------------------------------------------------------------------- helpers


def bucket_expire_at(bucket: Bucket, now: datetime | None = None) -> int:
    """When a bucket's Redis keys may go: some days after its period ends."""
    grace = timedelta(days=settings.LEADERBOARD_BUCKET_GRACE_DAYS)
    if bucket.end is None:
        # All-time keys are refreshed by every write and warm; idle ones go cold.
        return int(((now or timezone.now()) + timedelta(days=30)).timestamp())
    return int((bucket.end + grace).timestamp())


def zadd_flag(board: Board) -> str:
    """The ZADD guard that makes a late or repeated Redis write harmless.

    ``best`` scores only move towards "better"; ``increment`` scores only grow
    when values cannot be negative. ``set`` (and negative increments) move
    both ways: there the last write wins and the reconciliation repairs a rare
    out-of-order pair.
    """
    if board.operator == Board.Operator.BEST:
        return "GT" if board.higher_is_better else "LT"
    if board.operator == Board.Operator.INCREMENT and board.min_value >= 0:
        return "GT"
    return ""


_board_cache: dict[str, tuple[float, Board]] = {}


def board_get(*, slug: str) -> Board:
    """An active board by slug, from a short per-process cache.

    Boards change rarely and every API call needs one, so a few seconds of
    staleness (``LEADERBOARD_BOARD_CACHE_SECONDS``) buys a database round trip
    per request. Submits do not depend on it: their SQL re-checks the board's
    resets, activity and bounds. Saving a board clears this process' cache at once.
    """
    now = time.monotonic()
    cached = _board_cache.get(slug)
    if cached is not None and cached[0] > now:
        return _board_copy(cached[1])
    board = Board.objects.filter(slug=slug, is_active=True).first()
    if board is None:
        _board_cache.pop(slug, None)
        raise NotFound(f"No board {slug!r}.")
    _board_cache[slug] = (now + settings.LEADERBOARD_BOARD_CACHE_SECONDS, board)
    return _board_copy(board)


def _board_copy(board: Board) -> Board:
    """A copy a caller may change (``copy.copy`` of a model pickles it: several times slower)."""
    clone = Board.__new__(Board)
    clone.__dict__.update(board.__dict__)
    clone._state = copy.copy(board._state)
    clone._state.fields_cache = {}
    clone.period_resets = dict(board.period_resets or {})
    clone.periods = list(board.periods or [])
    return clone


def board_cache_clear(**_: Any) -> None:
    _board_cache.clear()


def period_check(*, board: Board, period: str) -> str:
    from .periods import parse_period

    parsed = parse_period(period)
    if parsed is None:
        raise NotFound(f"Unknown period {period!r}; use one of {', '.join(Period.values)}.")
    if not board.keeps(parsed):
        raise NotFound(f"Board {board.slug!r} keeps no {parsed} leaderboard; it keeps {', '.join(board.periods)}.")
    return str(parsed)


# --------------------------------------------------------------------------- submit


class UnknownUser(Exception):
    """The submission names a user id that has no account (internal)."""


@dataclass
class SubmitResult:
    event_id: int
    board: Board
    user_id: str
    value: int
    created_at: datetime
    scores: dict[str, int]
    ranks: dict[str, int | None] = field(default_factory=dict)
    replayed: bool = False
    cache_updated: bool = False


def score_submit_as(
    *,
    board: Board,
    caller: Any,
    named: object,
    value: int,
    idempotency_key: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> SubmitResult:
    """A caller's submission: whom it is booked to, whether the caller may, then ``score_submit``.

    The one place every surface (the core API, the seeds' adapters) submits for a
    caller. ``named`` is the user id the request names (None when the surface
    books to its caller): the target is ``submit_target``'s, so the rule the
    rate limits were charged by is the rule that books the score. A trusted
    caller's first submit for a player this service has not seen creates the
    player (``_may_create_players``). The caller is recorded as the submitter.
    Raises ``Forbidden`` when the caller may not submit there, and whatever
    ``score_submit`` raises.
    """
    user_id = submit_target(board=board, caller=caller, named=named)
    return score_submit(
        board=board,
        user_id=user_id,
        value=value,
        idempotency_key=idempotency_key,
        metadata=metadata,
        submitted_by=caller.get_username(),
        create_user=_may_create_players(caller=caller, user_id=user_id),
    )


def submit_target(*, board: Board, caller: Any, named: object) -> str:
    """The user a submission is booked to, once the caller is allowed to book it there.

    ``named`` is the user id the request names (raw or validated; None when the
    surface books to its caller). Raises ``Forbidden`` like
    ``_submit_permission_check``. A name of a type no user id can have is left to
    the input validation (a 400), and the submission is then the caller's own.
    The submit permission (and so the rate limits) and ``score_submit_as`` both
    decide the target here.
    """
    user_id = str(named)[:64] if isinstance(named, (str, int)) and not isinstance(named, bool) and named != "" else ""
    user_id = user_id or caller.get_username()
    _submit_permission_check(board=board, caller=caller, user_id=user_id)
    return user_id


def _submit_permission_check(*, board: Board, caller: Any, user_id: str) -> None:
    """Who may submit: a user for themselves; others and authoritative boards need trust.

    A caller with rights (a service key) needs the ``submit`` right on this
    board, and always submits for a named player (it has no scores of its own).
    """
    has_right = getattr(caller, "has_right", None)
    if has_right is not None:
        if not has_right("submit", board.slug):
            raise Forbidden(f"This key may not submit to board {board.slug!r}.")
        if user_id == caller.get_username():
            raise Forbidden("A service key has no scores of its own: name the player (user_id).")
    trusted = bool(getattr(caller, "can_submit_for_others", lambda: False)())
    if board.authoritative and not trusted:
        raise Forbidden(f"Board {board.slug!r} only accepts scores from trusted servers.")
    if user_id != caller.get_username() and not trusted:
        raise Forbidden("You may only submit scores for yourself.")


def _may_create_players(*, caller: Any, user_id: str) -> bool:
    """Whether a submit by ``caller`` for ``user_id`` may create that player if unknown.

    Only for someone else (past ``_submit_permission_check``, so a trusted
    caller); a service key also needs its ``create_players`` right.
    """
    if user_id == caller.get_username():
        return False
    has_right = getattr(caller, "has_right", None)
    return has_right is None or bool(has_right("create_players", None))


def _validate_submission(board: Board, value: Any, idempotency_key: str | None, metadata: Any) -> None:
    errors: dict[str, str] = {}
    if isinstance(value, bool) or not isinstance(value, int):
        errors["value"] = "A whole number is required."
    elif not board.min_value <= value <= board.max_value:
        errors["value"] = f"Must be between {board.min_value} and {board.max_value} on board {board.slug!r}."
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 128 and idempotency_key.isprintable()):
        # Printable only: a header may carry a NUL or an unpaired surrogate, which PostgreSQL cannot store.
        errors["idempotency_key"] = "Must be 1 to 128 printable characters."
    if metadata is not None:
        if not isinstance(metadata, dict):
            errors["metadata"] = "Must be a JSON object."
        elif len(json.dumps(metadata)) > METADATA_MAX_BYTES:
            errors["metadata"] = f"Must be at most {METADATA_MAX_BYTES} bytes of JSON."
    if errors:
        raise InvalidInput(fields=errors)


def _score_expression(board: Board) -> str:
    if board.operator == Board.Operator.INCREMENT:
        return "s.score + EXCLUDED.score"
    if board.operator == Board.Operator.BEST:
        return "GREATEST(s.score, EXCLUDED.score)" if board.higher_is_better else "LEAST(s.score, EXCLUDED.score)"
    return "EXCLUDED.score"


def _submit_sql(board: Board) -> str:
    return _submit_sql_for(_score_expression(board))


@functools.cache
def _submit_sql_for(expr: str) -> str:
    board_table = Board._meta.db_table
    event_table = ScoreEvent._meta.db_table
    standing_table = Standing._meta.db_table
    # One round trip. ``b`` share-locks the board row: a manual reset holds it
    # FOR UPDATE, so a submit either commits before a reset starts or sees the
    # reset's new bucket; ``fresh`` says whether the buckets computed by the
    # caller still match the board's resets (if not, nothing is written and
    # the caller recomputes); ``accepts`` re-checks the board's activity and
    # bounds, which the caller validated against a copy cached for seconds (if
    # not, nothing is written). The event then claims its idempotency key, and
    # only if it did are the standings of every live bucket upserted. Rows are
    # locked in the same (period) order by every submitter, so concurrent
    # submits queue instead of deadlocking.
    # ``u`` share-locks the player's row first (a moderation holds it FOR UPDATE, so a
    # submit lands wholly before a removal or ban, or after it and sees it: a locking
    # read re-evaluates the newest row version) and says whether they are banned. An
    # unknown player yields no row (NULL): nothing is written and the caller creates the
    # player if it may, without a foreign-key violation in PostgreSQL's log.
    # Every parameter is cast: the statement is prepared once per connection with
    # server-side binding, so PostgreSQL must know each type without a value.
    user_table = get_user_model()._meta.db_table
    return f"""
        WITH u AS (
            SELECT banned_at IS NULL AS ok FROM {user_table} WHERE username = %(user)s::text
            FOR KEY SHARE
        ), b AS (
            SELECT period_resets = %(resets)s::jsonb AS fresh,
                   is_active AND min_value <= %(value)s::bigint AND %(value)s::bigint <= max_value AS accepts
            FROM {board_table} WHERE id = %(board)s::bigint
            FOR KEY SHARE
        ), ev AS (
            INSERT INTO {event_table} (board_id, user_id, value, idempotency_key, metadata, submitted_by, created_at)
            SELECT %(board)s::bigint, %(user)s::text, %(value)s::bigint, %(key)s::text, %(metadata)s::jsonb,
                   %(by)s::text, %(now)s::timestamptz
            FROM b WHERE b.fresh AND b.accepts AND (SELECT ok FROM u)
            ON CONFLICT (board_id, user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id
        ), up AS (
            INSERT INTO {standing_table} AS s (board_id, period, bucket_start, user_id, score, created_at, updated_at)
            SELECT %(board)s::bigint, u.period, u.bucket_start, %(user)s::text, %(value)s::bigint,
                   %(now)s::timestamptz, %(now)s::timestamptz
            FROM unnest(%(periods)s::text[], %(starts)s::timestamptz[]) AS u(period, bucket_start)
            WHERE EXISTS (SELECT 1 FROM ev)
            ON CONFLICT (board_id, period, bucket_start, user_id) DO UPDATE
            SET score = {expr},
                updated_at = CASE WHEN {expr} IS DISTINCT FROM s.score THEN EXCLUDED.updated_at ELSE s.updated_at END
            RETURNING s.period, s.score
        )
        SELECT (SELECT id FROM ev), (SELECT fresh FROM b), (SELECT accepts FROM b), (SELECT ok FROM u),
               up.period, up.score
        FROM (SELECT 1) AS one LEFT JOIN up ON true
    """


@contextmanager
def _prepared_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor on Django's connection that binds parameters server-side and may prepare.

    Django's own cursors bind client-side, which for the submit statement costs
    more CPU than the rest of the call. Errors are Django's, as from
    ``connection.cursor()``. Django leaves psycopg's ``prepare_threshold`` at None,
    which ignores ``prepare=True``: the threshold is raised only while this cursor
    executes, so no other query is counted or kept (``DATABASE_PREPARED_STATEMENTS``
    turns preparing off behind a pooler that cannot keep prepared statements).
    """
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    previous = raw.prepare_threshold
    if settings.DATABASE_PREPARED_STATEMENTS:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    try:
        with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            yield cursor
    finally:
        raw.prepare_threshold = previous


_ONLY_WHEN_ASKED = 2**31 - 1


def _stale_plan(exc: BaseException) -> bool:
    """A prepared statement whose result type a migration changed ("cached plan must not change")."""
    return isinstance(exc.__cause__, psycopg.errors.FeatureNotSupported)


def score_submit(
    *,
    board: Board,
    user_id: str,
    value: int,
    idempotency_key: str | None = None,
    metadata: dict[str, Any] | None = None,
    submitted_by: str = "",
    at: datetime | None = None,
    create_user: bool = False,
) -> SubmitResult:
    """Record one submission in PostgreSQL, then mirror it into Redis.

    ``user_id`` must name an existing user, unless ``create_user`` (a trusted
    caller submitting for a player this service has not seen yet).
    Must not be called inside an outer transaction that may roll back after
    it returns: the Redis write is registered with ``on_commit``.
    """
    _validate_submission(board, value, idempotency_key, metadata)
    for _attempt in range(5):
        try:
            outcome = _submit_once(board, user_id, value, idempotency_key, metadata, submitted_by, at)
        except NotSupportedError as exc:
            if not _stale_plan(exc) or connection.in_atomic_block:
                raise
            # Nothing was written; a new connection prepares the statement afresh.
            logger.warning("submit statement re-prepared after a schema change: %s", exc)
            connection.close()
            continue
        except _InDoubt as doubt:
            resolved = _in_doubt_resolve(board, user_id, value, idempotency_key, doubt)
            if resolved is None:
                continue  # it never committed
            return resolved
        except UnknownUser:
            if not create_user:
                raise NotFound(f"No user with user id {user_id!r}.") from None
            # A trusted caller's first submit for a player: create them, then submit once more
            # (only this path pays for it; the statement wrote nothing and logged no error).
            from accounts.services import user_get_or_create_player

            user_get_or_create_player(user_id=user_id)
            create_user = False
            continue
        if outcome is not None:
            return outcome
        # A manual reset committed since ``board`` was loaded: use its buckets.
        board.refresh_from_db(fields=["period_resets"])
    raise Conflict("The board was reset repeatedly during this submission; retry it.")


def _submit_once(
    board: Board,
    user_id: str,
    value: int,
    idempotency_key: str | None,
    metadata: dict[str, Any] | None,
    submitted_by: str,
    at: datetime | None,
) -> SubmitResult | None:
    now = at or timezone.now()
    buckets = board.live_buckets(now)
    params = {
        "board": board.pk,
        "resets": json.dumps(board.period_resets or {}),
        "user": user_id,
        "value": value,
        "key": idempotency_key,
        "metadata": json.dumps(metadata or {}),
        "by": submitted_by if submitted_by != user_id else "",
        "now": now,
        # Array literals: psycopg's list adapter costs more than the rest of the parameters.
        "periods": "{" + ",".join(b.period for b in buckets) + "}",
        "starts": "{" + ",".join(f'"{b.start.isoformat()}"' for b in buckets) + "}",
    }
    # Without an idempotency key the whole write is one statement, which
    # PostgreSQL runs as one transaction: no BEGIN and COMMIT round trips.
    block = transaction.atomic() if idempotency_key is not None else nullcontext()
    sent, backend = False, 0
    try:
        with block:
            with _prepared_cursor() as cursor:
                sent, backend = True, cursor.connection.info.backend_pid  # from here on it may commit
                cursor.execute(_submit_sql(board), params, prepare=True)
                rows = cursor.fetchall()
                event_id, fresh, accepts, allowed = rows[0][:4]
                if fresh is None:
                    raise NotFound(f"No board {board.slug!r}.")
                if allowed is False:
                    metrics.SUBMITS.labels(board.slug, "banned").inc()
                    raise Forbidden(f"Player {user_id!r} is banned: their scores are not accepted.")
                if allowed is None:
                    raise UnknownUser(user_id)
                if not accepts:
                    return _board_recheck(board, value)
                if not fresh:
                    return None
                if event_id is None:
                    return _replay(
                        board=board, user_id=user_id, value=value, idempotency_key=idempotency_key, metadata=metadata
                    )
                scores = {period: int(score) for *_, period, score in rows}
                result = SubmitResult(event_id, board, user_id, value, now, scores)
                if idempotency_key is not None:
                    stored = {"event_id": event_id, "scores": scores, "created_at": now.isoformat()}
                    cursor.execute(
                        f"UPDATE {ScoreEvent._meta.db_table} SET result = %s::jsonb WHERE id = %s",
                        [json.dumps(stored), event_id],
                    )
            transaction.on_commit(lambda: _mirror_submit(result, buckets))
    except IntegrityError as exc:
        if "standing_score_range" in str(exc):
            raise InvalidInput(
                fields={"value": f"The total would leave the supported range of ±{SCORE_LIMIT}."}
            ) from exc
        if "user_id" in str(exc) and "foreign key" in str(exc).lower():
            raise UnknownUser(user_id) from exc
        raise
    except DatabaseError as exc:
        if sent and _connection_lost(exc):
            raise _InDoubt(now, backend) from exc
        raise
    metrics.SUBMITS.labels(board.slug, "accepted").inc()
    return result


def _backend_gone(pid: int, *, wait: float = 5.0) -> bool:
    """Make sure the server process that ran a lost submit can no longer commit it.

    A server notices a vanished client only when it next talks to it: a submit
    waiting on a lock could still commit after we looked for its event. So
    the old backend is asked to stop (same role: no privilege needed) and we
    wait until it is gone. False if it outlives ``wait``. Behind a pooler the
    pid is the pooler's, not found here, which counts as gone (see README).
    """
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s", [pid])
        while cursor.fetchone() is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
    return True


class _InDoubt(Exception):
    """The connection died after the submit was sent: whether it committed is unknown (internal)."""

    def __init__(self, at: datetime, backend: int) -> None:
        super().__init__(at, backend)
        self.at = at
        self.backend = backend  # the server process that ran it, which may still be running it


def _connection_lost(exc: DatabaseError) -> bool:
    """Whether ``exc`` is the connection going away (not an error the server reported for the statement).

    Decided from the error, not the connection: Django's atomic block may
    already have replaced a broken connection by the time the error arrives.
    """
    cause = exc.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    # No SQLSTATE: the client lost the connection; 08: connection exceptions; 57P01-03: server shutdown.
    state = cause.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _in_doubt_resolve(
    board: Board, user_id: str, value: int, idempotency_key: str | None, doubt: _InDoubt
) -> SubmitResult | None:
    """Find out on a new connection whether a submit whose answer was lost committed.

    Its event is identified by what this process chose for it (board, user,
    value, key and the microsecond ``created_at``). Committed: the submit's
    result, read back, with its buckets marked and repaired at once (its Redis
    write never ran). Not committed: None, and running it again is safe.
    PostgreSQL unreachable: ``OutcomeUnknown`` (a 503 the client can tell from
    "nothing written"), with the buckets marked for repair in Redis, since the
    submit may yet prove committed when PostgreSQL returns.
    """
    at = doubt.at
    buckets = board.live_buckets(at)
    connection.close()
    try:
        if not _backend_gone(doubt.backend):
            raise OutcomeUnknown()
        event_id = (
            ScoreEvent.objects.filter(
                board=board, user_id=user_id, value=value, idempotency_key=idempotency_key, created_at=at
            )
            .values_list("pk", flat=True)
            .first()
        )
        if event_id is None:
            logger.warning(
                "submit for %s on %s lost its connection before committing; running it again", user_id, board.slug
            )
            return None
        scores = dict(
            Standing.objects.filter(in_buckets(buckets), board=board, user_id=user_id).values_list("period", "score")
        )
    except (DatabaseError, OutcomeUnknown) as exc:
        connection.close()
        logger.error("submit for %s on %s: outcome unknown (%s)", user_id, board.slug, exc)
        buckets_mark_for_repair(board=board, buckets=buckets, reason=f"submit outcome unknown: {exc}")
        metrics.SUBMITS.labels(board.slug, "outcome_unknown").inc()
        raise OutcomeUnknown() from exc
    logger.warning("submit %s on %s committed but its answer was lost; its buckets are repaired", event_id, board.slug)
    buckets_mark_for_repair(board=board, buckets=buckets, reason=f"submit {event_id}: answer lost after commit")
    repair_soon()
    metrics.SUBMITS.labels(board.slug, "accepted").inc()
    return SubmitResult(event_id, board, user_id, value, at, scores)


def _board_recheck(board: Board, value: int) -> None:
    """The submit's SQL found the board inactive or ``value`` out of its bounds: say why, as validation would.

    ``board`` was a copy cached for seconds (``board_get``) and another process
    changed the board since. This reloads it (and drops this process' cached
    copy), then raises what the request would have got with the current board:
    404 for an inactive board, the 400 field message for a value out of bounds.
    Returns None (the caller retries, nothing was written) when the board
    accepts the value again by now.
    """
    _board_cache.pop(board.slug, None)
    current = Board.objects.filter(pk=board.pk).values("is_active", "min_value", "max_value", "period_resets").first()
    if current is None or not current["is_active"]:
        raise NotFound(f"No board {board.slug!r}.")
    for name, stored in current.items():
        setattr(board, name, stored)
    _validate_submission(board, value, None, None)
    return None


def _replay(
    *, board: Board, user_id: str, value: int, idempotency_key: str | None, metadata: dict[str, Any] | None
) -> SubmitResult:
    """The first submission's result, if this one is the same submission (value and metadata)."""
    event = ScoreEvent.objects.get(board=board, user_id=user_id, idempotency_key=idempotency_key)
    if event.value != value:
        raise Conflict(fields={"idempotency_key": "This key was already used for a submission with a different value."})
    if event.metadata != (metadata or {}):
        raise Conflict(
            fields={"idempotency_key": "This key was already used for a submission with different metadata."}
        )
    stored = event.result or {}
    metrics.SUBMITS.labels(board.slug, "replayed").inc()
    return SubmitResult(
        event_id=event.pk,
        board=board,
        user_id=user_id,
        value=event.value,
        created_at=event.created_at,
        scores={k: int(v) for k, v in stored.get("scores", {}).items()},
        replayed=True,
    )


def _mirror_submit(result: SubmitResult, buckets: list[Bucket]) -> None:
    """After commit: one atomic Redis round trip for every bucket of the submit."""
    board = result.board
    now_iso = timezone.now().isoformat()
    writes = [
        redis_store.BucketWrite(b.period, b.key, result.scores[b.period], bucket_expire_at(b))
        for b in buckets
        if b.period in result.scores
    ]
    try:
        mirrored = redis_store.apply_submit(
            board_slug=board.slug,
            member=result.user_id,
            writes=writes,
            zadd_flag=zadd_flag(board),
            higher_is_better=board.higher_is_better,
            updated_at=result.created_at.isoformat(),
            cached_at=now_iso,
            user_ttl=USER_DETAILS_TTL,
            event_id=result.event_id,
        )
    except redis_store.RedisUnavailable as exc:
        metrics.REDIS_ERRORS.labels("submit").inc()
        logger.error("Redis write failed after commit of event %s on %s: %s", result.event_id, board.slug, exc)
        buckets_mark_for_repair(board=board, buckets=buckets, reason=f"submit {result.event_id}: {exc}")
        return
    result.cache_updated = True
    result.ranks = {w.period: (r[0] if r else None) for w, r in zip(writes, mirrored.ranks, strict=True)}
    watched = {w.period for w, n in zip(writes, mirrored.subscribers, strict=True) if n > 0}
    if watched or mirrored.user_watching:
        from . import broadcasts

        broadcasts.submit_committed(
            board=board,
            ranks={p: r for p, r in result.ranks.items() if p in watched},
            user_id=result.user_id if mirrored.user_watching else "",
            score=result.scores,
            all_ranks=result.ranks,
        )


def buckets_mark_for_repair(*, board: Board, buckets: list[Bucket], reason: str) -> None:
    """Record buckets whose Redis copy is behind PostgreSQL (repaired by a task)."""
    try:
        _marks_upsert([(board, b.period, b.start, reason) for b in buckets])
    except Exception:  # the database failing too must not hide the first error
        logger.exception("could not mark buckets of %s for repair in PostgreSQL", board.slug)
        _mark_in_redis(board=board, buckets=buckets, reason=reason)
        return
    for b in buckets:
        repair_marks.note(board_id=board.pk, period=b.period, bucket_start=b.start)
    metrics.BUCKETS_MARKED.inc(len(buckets))


def _mark_in_redis(*, board: Board, buckets: list[Bucket], reason: str) -> None:
    """PostgreSQL cannot take a mark: leave it in Redis for the repair task to move there."""
    marks = {f"{board.pk}|{b.period}|{b.start.isoformat()}": reason[:300] for b in buckets}
    try:
        redis_store.repair_pending_add(marks=marks)
    except redis_store.RedisUnavailable as exc:
        # Neither store takes the mark: the hourly reconciliation is what repairs these buckets.
        logger.error("buckets of %s may be behind and could not be marked anywhere: %s", board.slug, exc)
        return
    metrics.BUCKETS_MARKED.inc(len(buckets))


def _pending_marks_move() -> None:
    """Move marks left in Redis (PostgreSQL was down) into PostgreSQL, where repairs read them."""
    pending = redis_store.repair_pending_take()
    if not pending:
        return
    boards = Board.objects.in_bulk({int(name.split("|", 1)[0]) for name in pending})
    marks = []
    for name, reason in pending.items():
        board_id, period, start = name.split("|", 2)
        if int(board_id) in boards:
            marks.append((boards[int(board_id)], period, datetime.fromisoformat(start), reason))
    _marks_upsert(marks)
    redis_store.repair_pending_done(fields=list(pending))


def _marks_upsert(marks: list[tuple[Board, str, datetime, str]]) -> None:
    """Write repair marks; a bucket marked again gets the new reason and time (a repair that
    started earlier then keeps the mark, see ``buckets_repair_marked``)."""
    now = timezone.now()
    BucketRepair.objects.bulk_create(
        [BucketRepair(board=b, period=p, bucket_start=t, reason=r[:300], created_at=now) for b, p, t, r in marks],
        update_conflicts=True,
        unique_fields=["board", "period", "bucket_start"],
        update_fields=["reason", "created_at"],
    )


def repair_soon() -> None:
    """Start repairing marked buckets now (a read found one), not at the next minute's beat.

    At most one task is queued every few seconds across every process (a short
    Redis lock, which also proves Redis answers again); without Redis nothing is queued.
    """
    try:
        token = redis_store.global_lock_acquire(name="repair-kick", ttl_ms=5_000)
    except redis_store.RedisUnavailable:
        return
    if token is not None:
        from .tasks import repair_marked_buckets

        transaction.on_commit(repair_marked_buckets.delay)


# --------------------------------------------------------------------------- warming


@dataclass
class WarmResult:
    board: str
    period: str
    bucket: str
    members: int
    seconds: float
    caught_up: int = 0
    skipped: bool = False


def _standings(board: Board, bucket: Bucket):
    return Standing.objects.filter(board=board, period=bucket.period, bucket_start=bucket.start)


def bucket_warm(
    *, board: Board, bucket: Bucket, trigger: str = "manual", wait: bool = False, only_if_cold: bool = False
) -> WarmResult:
    """Rebuild one bucket's sorted set from PostgreSQL, single flight.

    Rows stream through a server-side cursor into a staging key, which then
    replaces the live key atomically, so readers never see a half-built set
    and memory stays flat. Submits that commit while the staging key fills
    are applied again afterwards from their ``updated_at`` (idempotent).
    Returns ``skipped`` when another process holds the bucket's warm lock, or
    (``only_if_cold``) when the bucket turned warm while this call waited.
    """
    lock_name = f"warm:{bucket.period}:{bucket.key}"
    deadline = time.monotonic() + (120 if wait else 0)
    token = redis_store.lock_acquire(board_slug=board.slug, name=lock_name, ttl_ms=300_000)
    while token is None and time.monotonic() < deadline:
        time.sleep(0.1)
        token = redis_store.lock_acquire(board_slug=board.slug, name=lock_name, ttl_ms=300_000)
    if token is None:
        return WarmResult(board.slug, bucket.period, bucket.key, 0, 0.0, skipped=True)
    try:
        # Checked under the lock: a reader that saw the bucket cold may arrive
        # just after another one finished warming it.
        if only_if_cold and redis_store.bucket_is_ready(board_slug=board.slug, period=bucket.period, bucket=bucket.key):
            return WarmResult(board.slug, bucket.period, bucket.key, 0, 0.0, skipped=True)
        return _bucket_warm_locked(board, bucket, trigger)
    finally:
        redis_store.lock_release(board_slug=board.slug, name=lock_name, token=token)


def _bucket_warm_locked(board: Board, bucket: Bucket, trigger: str) -> WarmResult:
    started = time.perf_counter()
    # Commits may land with an updated_at slightly before they become visible.
    since = timezone.now() - timedelta(seconds=settings.LEADERBOARD_WARM_CATCHUP_SECONDS)
    staging = redis_store.warm_begin(board_slug=board.slug, period=bucket.period, bucket=bucket.key)
    count = 0
    # PostgreSQL streams batches through a server-side cursor while a second
    # thread writes the previous batch to Redis: both sides stay busy, and at
    # most two batches are in memory at once.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm") as writer:
        pending = None
        for batch in standing_batches(board, bucket):
            if pending is not None:
                pending.result()
            pending = writer.submit(redis_store.warm_add, staging_key=staging, batch=batch)
            count += len(batch)
        if pending is not None:
            pending.result()
    redis_store.warm_finish(
        board_slug=board.slug,
        period=bucket.period,
        bucket=bucket.key,
        staging_key=staging,
        expire_at=bucket_expire_at(bucket),
    )
    late = list(_standings(board, bucket).filter(updated_at__gte=since).values_list("user_id", "score"))
    redis_store.scores_apply(
        board_slug=board.slug, period=bucket.period, bucket=bucket.key, scores=late, zadd_flag=zadd_flag(board)
    )
    elapsed = time.perf_counter() - started
    metrics.WARMS.labels(trigger).inc()
    metrics.WARM_SECONDS.observe(elapsed)
    logger.info("warmed %s %s %s: %d members in %.2fs", board.slug, bucket.period, bucket.key, count, elapsed)
    return WarmResult(board.slug, bucket.period, bucket.key, count, elapsed, caught_up=len(late))


def standing_batches(board: Board, bucket: Bucket, size: int = WARM_BATCH) -> Iterator[list[tuple[str, int]]]:
    """(user id, score) rows of a bucket in batches, from a server-side cursor (flat memory)."""
    sql = (
        f"SELECT user_id, score FROM {Standing._meta.db_table} "
        "WHERE board_id = %s AND period = %s AND bucket_start = %s"
    )
    with transaction.atomic():  # a named (server-side) cursor lives in a transaction
        connection.ensure_connection()
        with connection.connection.cursor(name=f"warm_{uuid.uuid4().hex[:8]}") as cursor:
            cursor.itersize = size
            cursor.execute(sql, [board.pk, bucket.period, bucket.start])
            while rows := cursor.fetchmany(size):
                yield rows


def bucket_warm_on_miss(*, board: Board, bucket: Bucket) -> None:
    """A read found a bucket cold: warm it once, not once per request.

    Small buckets are warmed in this request by whoever takes the lock (the
    others read PostgreSQL meanwhile); large ones are handed to a worker.
    """
    inline_max = settings.LEADERBOARD_INLINE_WARM_MAX
    size = _standings(board, bucket)[: inline_max + 1].count()
    try:
        if size <= inline_max:
            bucket_warm(board=board, bucket=bucket, trigger="miss", only_if_cold=True)
            return
        token = redis_store.lock_acquire(
            board_slug=board.slug, name=f"warm-queued:{bucket.period}:{bucket.key}", ttl_ms=60_000
        )
    except redis_store.RedisUnavailable:
        return
    if token is not None:
        from .tasks import warm_bucket

        transaction.on_commit(lambda: warm_bucket.delay(board.pk, bucket.period, bucket.start.isoformat()))


def board_warm(*, board: Board, periods: list[str] | None = None, at: datetime | None = None) -> list[WarmResult]:
    """Warm the live bucket of each kept period of a board (cache initialisation)."""
    now = at or timezone.now()
    chosen = [p for p in board.ordered_periods if periods is None or p in periods]
    return [bucket_warm(board=board, bucket=board.bucket(p, now), wait=True) for p in chosen]


def buckets_repair_marked(*, limit: int = 100) -> int:
    """Rewarm buckets marked for repair; a mark is removed only after success.

    Marks left in Redis while PostgreSQL was unreachable are moved to
    PostgreSQL first, so they are repaired like the others.
    """
    try:
        _pending_marks_move()
    except redis_store.RedisUnavailable as exc:
        logger.warning("repair postponed: Redis unavailable (%s)", exc)
        return 0
    repaired = 0
    for mark in BucketRepair.objects.select_related("board").order_by("created_at")[:limit]:
        bucket = bucket_starting(mark.period, mark.bucket_start, mark.board.time_zone)
        try:
            outcome = bucket_warm(board=mark.board, bucket=bucket, trigger="repair", wait=True)
        except redis_store.RedisUnavailable as exc:
            logger.warning("repair of %s postponed: Redis still unavailable (%s)", mark, exc)
            break
        if not outcome.skipped:
            # Cached user details may have missed the same writes.
            redis_store.keys_delete(redis_store.user_keys_pattern(mark.board.slug))
            # Delete only the mark we read: a newer failure refreshes created_at.
            BucketRepair.objects.filter(pk=mark.pk, created_at=mark.created_at).delete()
            repaired += 1
    if repaired:
        repair_marks.forget_all()
    return repaired


def cache_clear() -> int:
    """Delete every leaderboard key from Redis; reads rewarm from PostgreSQL."""
    return redis_store.keys_delete(redis_store.all_keys_pattern())


# --------------------------------------------------------------------------- rebuilds


_AGGREGATES = {
    Board.Operator.INCREMENT: "SUM(e.value)",
    Board.Operator.SET: "(ARRAY_AGG(e.value ORDER BY e.created_at DESC, e.id DESC))[1]",
}


def standing_aggregate(board: Board) -> str:
    """The SQL aggregate over events ``e`` that gives a standing under the board's operator."""
    if board.operator == Board.Operator.BEST:
        return "MAX(e.value)" if board.higher_is_better else "MIN(e.value)"
    return _AGGREGATES[board.operator]


def standings_rebuild(*, board: Board, at: datetime | None = None) -> dict[str, int]:
    """Recompute the standings of every live bucket from the score events.

    The events are the audit trail, so this is the truth for the live
    buckets (voided events and banned players count for nothing); used after
    bulk imports (``seed_demo``) and by operators. Runs in
    one transaction that locks the board row like a reset, so no submit
    interleaves; the buckets' Redis copies are made cold afterwards.
    """
    aggregate = standing_aggregate(board)
    counts: dict[str, int] = {}
    with transaction.atomic():
        board = Board.objects.select_for_update().get(pk=board.pk)
        buckets = board.live_buckets(at or timezone.now())
        with connection.cursor() as cursor:
            for bucket in buckets:
                cursor.execute(
                    f"DELETE FROM {Standing._meta.db_table} WHERE board_id = %s AND period = %s AND bucket_start = %s",
                    [board.pk, bucket.period, bucket.start],
                )
                cursor.execute(
                    f"""
                    INSERT INTO {Standing._meta.db_table}
                        (board_id, period, bucket_start, user_id, score, created_at, updated_at)
                    SELECT %(board)s, %(period)s, %(start)s, e.user_id, {aggregate},
                           MIN(e.created_at), MAX(e.created_at)
                    FROM {ScoreEvent._meta.db_table} e
                    WHERE e.board_id = %(board)s AND e.created_at >= %(start)s
                      AND (%(end)s::timestamptz IS NULL OR e.created_at < %(end)s)
                      AND e.voided_at IS NULL
                      AND e.user_id NOT IN (SELECT username FROM {get_user_model()._meta.db_table}
                                            WHERE banned_at IS NOT NULL)
                    GROUP BY e.user_id
                    """,
                    {"board": board.pk, "period": bucket.period, "start": bucket.start, "end": bucket.end},
                )
                counts[bucket.period] = cursor.rowcount
    try:
        for bucket in buckets:
            redis_store.bucket_invalidate(board_slug=board.slug, period=bucket.period, bucket=bucket.key)
        redis_store.keys_delete(redis_store.user_keys_pattern(board.slug))
    except redis_store.RedisUnavailable:
        buckets_mark_for_repair(board=board, buckets=buckets, reason="standings rebuilt")
    return counts
