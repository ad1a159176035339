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
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import psycopg.errors
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, NotSupportedError, connection, transaction
from django.utils import timezone

from accounts.services import user_get_or_create_player
from leaderboard_project.exceptions import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    ServiceUnavailable,
)

from . import metrics, operators, signals
from .models import (
    METADATA_MAX_BYTES,
    SCORE_LIMIT,
    Board,
    ScoreEvent,
    Standing,
    SubmissionCount,
    in_buckets,
    metadata_json,
)
from .periods import Bucket, Period, parse_period
from .store import buckets as store_buckets
from .store.connection import RedisUnavailable
from .warming import bucket_expire_at, buckets_mark_for_repair, repair_soon

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


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
    # Period -> the entry's metadata PostgreSQL kept (compact JSON), on boards whose entries carry it.
    metadata: dict[str, str] | None = None


def score_submit_as(
    *,
    board: Board,
    caller: Any,
    named: object,
    value: int,
    idempotency_key: str | None = None,
    metadata: dict[str, Any] | None = None,
    ranks: Collection[str] | None = None,
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
        ranks=ranks,
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
        elif board.entry_metadata_max_bytes and len(metadata_json(metadata)) > board.entry_metadata_max_bytes:
            errors["metadata"] = (
                f"Must be at most {board.entry_metadata_max_bytes} bytes of JSON on board {board.slug!r}, "
                "whose entries carry it."
            )
    if errors:
        raise InvalidInput(fields=errors)


def _submit_sql(board: Board) -> str:
    kept = operators.metadata_expression(board) if board.entry_metadata_max_bytes else None
    return _submit_sql_for(operators.upsert_expression(board), kept)


@functools.cache
def _submit_sql_for(expr: str, metadata_expr: str | None = None) -> str:
    event_table = ScoreEvent._meta.db_table
    standing_table = Standing._meta.db_table
    # One round trip. ``b`` takes the board's shared advisory lock until the commit
    # (``leaderboard_board_submits_admit``, migration 0009): a manual reset or a rebuild
    # takes it exclusively (``board_submits_exclude``), so a submit either commits before
    # one starts or sees its new bucket. The function reads the board row after the lock,
    # with a snapshot of its own: this statement's snapshot was taken before any wait and
    # would miss a reset committed meanwhile. A row lock (``FOR KEY SHARE``) did the same
    # but made a multixact whenever two submits held it at once. No row of the board is
    # locked, and no foreign key checks it: ``b`` yields no row for a missing board, and
    # nothing is written. ``fresh`` says whether the buckets computed by the
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
    # ``pg_backend_pid()`` names the server process that ran it: through a pooler, not
    # the one the connection was opened with (``_backend_seen``).
    # A board whose entries carry metadata keeps it on the standing too (``metadata_expr``:
    # the submit's, or the old one where a ``best`` score did not improve) and returns it,
    # so Redis mirrors what PostgreSQL holds, as it does with scores.
    user_table = get_user_model()._meta.db_table
    md_column, md_value, md_set, md_returned = "", "", "", "NULL::jsonb"
    if metadata_expr is not None:
        md_column, md_value = ", metadata", ", %(metadata)s::jsonb"
        md_set, md_returned = f"metadata = {metadata_expr},", "s.metadata"
    return f"""
        WITH u AS (
            SELECT banned_at IS NULL AS ok FROM {user_table} WHERE username = %(user)s::text
            FOR KEY SHARE
        ), b AS (
            SELECT fresh, accepts
            FROM leaderboard_board_submits_admit(%(board)s::bigint, %(resets)s::jsonb, %(value)s::bigint)
        ), ev AS (
            INSERT INTO {event_table} (board_id, user_id, value, idempotency_key, metadata, submitted_by, created_at)
            SELECT %(board)s::bigint, %(user)s::text, %(value)s::bigint, %(key)s::text, %(metadata)s::jsonb,
                   %(by)s::text, %(now)s::timestamptz
            FROM b WHERE b.fresh AND b.accepts AND (SELECT ok FROM u)
            ON CONFLICT (board_id, user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id
        ), up AS (
            INSERT INTO {standing_table} AS s
                (board_id, period, bucket_start, user_id, score, created_at, updated_at{md_column})
            SELECT %(board)s::bigint, u.period, u.bucket_start, %(user)s::text, %(value)s::bigint,
                   %(now)s::timestamptz, %(now)s::timestamptz{md_value}
            FROM unnest(%(periods)s::text[], %(starts)s::timestamptz[]) AS u(period, bucket_start)
            WHERE EXISTS (SELECT 1 FROM ev)
            ON CONFLICT (board_id, period, bucket_start, user_id) DO UPDATE
            SET {md_set} score = {expr},
                updated_at = CASE WHEN {expr} IS DISTINCT FROM s.score THEN EXCLUDED.updated_at ELSE s.updated_at END
            RETURNING s.period, s.score, {md_returned} AS metadata
        )
        SELECT (SELECT id FROM ev), (SELECT fresh FROM b), (SELECT accepts FROM b), (SELECT ok FROM u),
               pg_backend_pid(), up.period, up.score, up.metadata
        FROM (SELECT 1) AS one LEFT JOIN up ON true
    """


@contextmanager
def _prepared_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor on Django's connection that binds parameters server-side and may prepare.

    Django's own cursors bind client-side, which for the submit statement costs
    more CPU than the rest of the call. Errors are Django's, as from
    ``connection.cursor()``. Django leaves psycopg's ``prepare_threshold`` at None,
    which ignores ``prepare=True``: the threshold is raised only while this cursor
    executes, so no other query is counted or kept.

    A prepared statement lives in one server session, which a transaction pooler
    (PgBouncer in transaction mode) does not give a client: its next transaction may
    run on a server connection where the name is missing ("does not exist"), taken
    ("already exists"), or, psycopg naming statements ``_pg3_<n>`` per client, another
    client's other statement (an ``increment`` board's submit run as a ``best``
    board's). So the cursor prepares only where ``_may_prepare`` says so: by default on
    a connection its first submit showed to reach PostgreSQL itself
    (``_backend_seen``). A connection on which the server refuses a prepared statement
    (``_prepare_refused``) never prepares again; nothing ran, so the caller may run
    the statement again.
    """
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    previous = raw.prepare_threshold
    if _may_prepare(raw):
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    try:
        with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            yield cursor
    except DatabaseError as exc:
        if _prepare_refused(exc):
            _connections_seen[raw] = "refused"  # for the rest of this connection's life
        raise
    finally:
        raw.prepare_threshold = previous


_ONLY_WHEN_ASKED = 2**31 - 1

# What each psycopg connection showed (a new one starts unknown): "direct" (it reaches
# PostgreSQL itself), "pooled" (through a pooler), or "refused" (the server refused a
# prepared statement on it).
_connections_seen: weakref.WeakKeyDictionary[psycopg.Connection[Any], str] = weakref.WeakKeyDictionary()
_pooler_logged = False


def _may_prepare(raw: psycopg.Connection[Any]) -> bool:
    """``DATABASE_PREPARED_STATEMENTS``: "auto" on a connection seen to be direct, "true" on every one, "false"
    on none; whatever the setting, never on a connection that refused a prepared statement."""
    setting = settings.DATABASE_PREPARED_STATEMENTS
    seen = _connections_seen.get(raw)
    if setting in ("false", False) or seen == "refused":
        return False
    return setting in ("true", True) or seen == "direct"


def _backend_seen(raw: psycopg.Connection[Any], server_pid: int) -> None:
    """Judge a connection by the server process that ran its statement, the first time.

    A direct connection's statements run in the process it was opened with (the
    BackendKeyData of its start-up); a pooler answers a client's start-up for itself
    (PgBouncer makes up a key) and runs its statements on server connections of its
    choosing. No round trip: the submit statement reports ``pg_backend_pid()``.
    """
    global _pooler_logged
    if raw in _connections_seen:
        return
    direct = server_pid == raw.info.backend_pid
    _connections_seen[raw] = "direct" if direct else "pooled"
    if not direct and not _pooler_logged:
        _pooler_logged = True
        logger.info(
            "PostgreSQL is reached through a pooler (server process %s, connection key %s): the submit statement "
            "runs unprepared on such connections (DATABASE_PREPARED_STATEMENTS=true prepares it anyway, "
            "for PgBouncer 1.21+ with max_prepared_statements)",
            server_pid,
            raw.info.backend_pid,
        )


def _prepare_refused(exc: BaseException) -> bool:
    """The server refused a prepared statement the way a transaction pooler makes it: nothing ran.

    Its name missing on this server connection (26000), taken by another client's
    statement (42P05), or naming another client's statement of other parameters
    (08P01 "bind message supplies 10 parameters, but prepared statement "_pg3_0"
    requires 1"). Each is reported before the statement executes.
    """
    cause = exc.__cause__
    if isinstance(cause, (psycopg.errors.InvalidSqlStatementName, psycopg.errors.DuplicatePreparedStatement)):
        return True
    return isinstance(cause, psycopg.errors.ProtocolViolation) and "prepared statement" in str(cause)


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
    ranks: Collection[str] | None = None,
) -> SubmitResult:
    """Record one submission in PostgreSQL, then mirror it into Redis.

    ``user_id`` must name an existing user, unless ``create_user`` (a trusted
    caller submitting for a player this service has not seen yet).
    ``result.ranks`` has the new rank of each period in ``ranks`` (every
    period when None) whose bucket Redis holds; ask only for what you answer:
    each rank costs Redis a count (``_mirror_buckets``).
    Must not be called inside an outer transaction that may roll back after
    it returns: the Redis write is registered with ``on_commit``.
    """
    _validate_submission(board, value, idempotency_key, metadata)
    refused = False
    for _attempt in range(5):
        try:
            outcome = _submit_once(board, user_id, value, idempotency_key, metadata, submitted_by, at, ranks)
        except NotSupportedError as exc:
            if not _stale_plan(exc) or connection.in_atomic_block:
                raise
            # Nothing was written; a new connection prepares the statement afresh.
            logger.warning("submit statement re-prepared after a schema change: %s", exc)
            connection.close()
            continue
        except DatabaseError as exc:
            if not _prepare_refused(exc):
                raise
            # The statement never ran (its transaction, if it had one, rolled back), and the
            # connection no longer prepares: running it once more is safe, but not inside the
            # caller's transaction, which the refusal aborted.
            if refused or connection.in_atomic_block:
                logger.error("submit for %s on %s refused by the database: %s", user_id, board.slug, exc)
                raise ServiceUnavailable(
                    "The database refused the submission's statement; nothing was written. Retry shortly."
                ) from exc
            logger.warning("prepared submit statement refused (a transaction pooler?); running it unprepared: %s", exc)
            refused = True
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
    ranks: Collection[str] | None = None,
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
    # A capped board counts the submission in the same transaction (``_submission_count``).
    capped = board.submission_cap is not None
    block = transaction.atomic() if idempotency_key is not None or capped else nullcontext()
    sent, backend = False, 0
    try:
        with block:
            with _prepared_cursor() as cursor:
                sent, backend = True, cursor.connection.info.backend_pid  # from here on it may commit
                cursor.execute(_submit_sql(board), params, prepare=True)
                rows = cursor.fetchall()
                event_id, fresh, accepts, allowed, server_pid = rows[0][:5]
                _backend_seen(cursor.connection, server_pid)
                if fresh is None:
                    raise NotFound(f"No board {board.slug!r}.")
                if allowed is False:
                    metrics.SUBMITS.labels(board.slug, "banned").inc()
                    raise Forbidden(f"Player {user_id!r} is banned: their scores are not accepted.")
                if allowed is None:
                    raise UnknownUser(user_id)
                if not accepts:
                    _board_recheck(board, value)  # raises, or the board accepts it again: retry
                    return None
                if not fresh:
                    return None
                if event_id is None:
                    return _replay(
                        board=board, user_id=user_id, value=value, idempotency_key=idempotency_key, metadata=metadata
                    )
                scores = {row[5]: int(row[6]) for row in rows}
                result = SubmitResult(event_id, board, user_id, value, now, scores)
                if capped:
                    _submission_count(cursor, board, user_id, buckets)  # raises past the cap: all rolls back
                if board.entry_metadata_max_bytes:
                    # JSON text as PostgreSQL returned it (Django's connection loads jsonb as text).
                    result.metadata = {row[5]: row[7] or "{}" for row in rows}
                if idempotency_key is not None:
                    stored = {"event_id": event_id, "scores": scores, "created_at": now.isoformat()}
                    cursor.execute(
                        f"UPDATE {ScoreEvent._meta.db_table} SET result = %s::jsonb WHERE id = %s",
                        [json.dumps(stored), event_id],
                    )
            transaction.on_commit(lambda: _mirror_submit(result, buckets, metadata, ranks))
    except IntegrityError as exc:
        if "standing_score_range" in str(exc):
            raise InvalidInput(
                fields={"value": f"The total would leave the supported range of ±{SCORE_LIMIT}."}
            ) from exc
        if "user_id" in str(exc) and "foreign key" in str(exc).lower():
            raise UnknownUser(user_id) from exc
        raise
    except DatabaseError as exc:
        # A refused prepared statement never ran, even when its error is of the connection class (08P01).
        if sent and _connection_lost(exc) and not _prepare_refused(exc):
            raise _InDoubt(now, backend) from exc
        raise
    metrics.SUBMITS.labels(board.slug, "accepted").inc()
    return result


class SubmissionCapReached(Conflict):
    """The player made the board's ``submission_cap`` submissions in the current bucket of its period.

    409, not 429: the refusal is not a rate, and no number of seconds of waiting
    lifts it; the next bucket of the cap's period (or a manual reset) does. The
    body says when in ``next_bucket_start`` (null for all-time: only a reset restarts it).
    """

    code = "submission_cap_reached"

    def __init__(self, board: Board, bucket: Bucket) -> None:
        self.cap = board.submission_cap
        self.period = bucket.period
        self.next_bucket_start = bucket.end.isoformat() if bucket.end is not None else None
        when = (
            f"the next {bucket.period} bucket starts at {self.next_bucket_start}"
            if self.next_bucket_start
            else "the all-time bucket restarts only when the board is reset"
        )
        super().__init__(
            f"Board {board.slug!r} accepts at most {self.cap} submissions per player per {bucket.period} bucket, "
            f"and this player has made them all: nothing was written; {when}."
        )

    def payload(self) -> dict[str, Any]:
        return {
            **super().payload(),
            "cap": self.cap,
            "period": self.period,
            "next_bucket_start": self.next_bucket_start,
        }


@functools.cache
def _count_sql() -> str:
    # The row lock of ``ON CONFLICT DO UPDATE`` queues one player's racing submits; a row at the
    # cap is left as it is and returns nothing. Parameters cast, as in the submit statement.
    table = SubmissionCount._meta.db_table
    return f"""
        INSERT INTO {table} AS c (board_id, period, bucket_start, user_id, count)
        VALUES (%(board)s::bigint, %(period)s::text, %(start)s::timestamptz, %(user)s::text, 1)
        ON CONFLICT (board_id, period, bucket_start, user_id) DO UPDATE SET count = c.count + 1
        WHERE c.count < %(cap)s::integer
        RETURNING c.count
    """


def _submission_count(cursor: psycopg.Cursor, board: Board, user_id: str, buckets: list[Bucket]) -> int:
    """Count an accepted submission of a capped board, in the submit's transaction; past the cap, refuse it.

    Runs after the submit statement wrote, so a ban, an unknown player, a board
    changed meanwhile, a stale bucket and an idempotent replay answer as on any
    board (a replay of an accepted submission gets its first answer even at the
    cap), and counts in the bucket of ``submission_cap_counted_in`` among the
    ``buckets`` that statement found fresh: a manual reset's new bucket starts a
    new count. Returns the player's count in that bucket. At the cap it raises
    ``SubmissionCapReached`` and the caller's transaction rolls the submission
    back: nothing is written beyond the cap, in PostgreSQL or (no commit, so no
    ``on_commit``) in Redis. A voided event does not give its submission back.
    """
    period = board.submission_cap_counted_in
    bucket = next(b for b in buckets if b.period == period)
    params = {"board": board.pk, "period": period, "start": bucket.start, "user": user_id, "cap": board.submission_cap}
    cursor.execute(_count_sql(), params, prepare=True)
    row = cursor.fetchone()
    if row is None:
        metrics.SUBMITS.labels(board.slug, "capped").inc()
        raise SubmissionCapReached(board, bucket)
    return int(row[0])


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


def _mirror_submit(
    result: SubmitResult,
    buckets: list[Bucket],
    metadata: dict[str, Any] | None = None,
    ranks: Collection[str] | None = None,
) -> None:
    """After commit: one atomic Redis round trip for every bucket of the submit, then ``submit_committed``."""
    try:
        _mirror_buckets(result, buckets, ranks)
    finally:
        signals.submit_committed.send(
            sender=Board,
            board=result.board,
            user_id=result.user_id,
            scores=result.scores,
            buckets={b.period: b for b in buckets},
            metadata=metadata or {},
        )


def _mirror_buckets(result: SubmitResult, buckets: list[Bucket], ranks_for: Collection[str] | None = None) -> None:
    """Mirror a committed submit into Redis; ``result.ranks`` gets the ranks of ``ranks_for`` (None: every period).

    ``result.ranks`` holds exactly the periods asked for (None where the bucket is
    cold), whoever watches. Redis counts a rank only for those, the periods
    somebody watches (the live updates need them) and, when the user watches,
    every period (their rank_update carries all): a rank count is the dearest part
    of the script, and most callers want one period or none.
    """
    board = result.board
    now_iso = timezone.now().isoformat()
    writes = [
        store_buckets.BucketWrite(
            b.period,
            b.key,
            result.scores[b.period],
            bucket_expire_at(b),
            None if result.metadata is None else result.metadata[b.period],
            # A period's buckets end, so they expire at a fixed time (set when warmed); all-time ones roll.
            expiry_fixed=b.end is not None,
        )
        for b in buckets
        if b.period in result.scores
    ]
    try:
        mirrored = store_buckets.apply_submit(
            board_slug=board.slug,
            member=result.user_id,
            writes=writes,
            zadd_flag=operators.zadd_flag(board),
            higher_is_better=board.higher_is_better,
            updated_at=result.created_at.isoformat(),
            cached_at=now_iso,
            user_ttl=store_buckets.USER_DETAILS_TTL,
            event_id=result.event_id,
            ranks_for=ranks_for,
        )
    except RedisUnavailable as exc:
        metrics.REDIS_ERRORS.labels("submit").inc()
        logger.error("Redis write failed after commit of event %s on %s: %s", result.event_id, board.slug, exc)
        buckets_mark_for_repair(board=board, buckets=buckets, reason=f"submit {result.event_id}: {exc}")
        return
    result.cache_updated = True
    computed = {w.period: rank for w, rank in zip(writes, mirrored.ranks, strict=True)}
    result.ranks = {p: r for p, r in computed.items() if ranks_for is None or p in ranks_for}
    totals = {w.period: t for w, t in zip(writes, mirrored.totals, strict=True) if t is not None}
    watched = {w.period for w, n in zip(writes, mirrored.subscribers, strict=True) if n > 0}
    if watched or mirrored.user_watching:
        signals.submit_mirrored.send(
            sender=Board,
            board=board,
            ranks={p: r for p, r in computed.items() if p in watched},
            user_id=result.user_id if mirrored.user_watching else "",
            scores=result.scores,
            all_ranks=computed,
            totals=totals,
        )


# --------------------------------------------------------------------------- rebuilds


def board_submits_exclude(*, board_id: int) -> None:
    """Wait for the board's submits in flight and hold back new ones until this transaction ends.

    The exclusive side of the board's advisory lock, whose shared side every submit
    statement takes (``_submit_sql_for``). Call it inside ``transaction.atomic``,
    before locking the board row (every holder takes the two in that order, so
    they cannot deadlock), and read the board only after it: each later statement
    sees what committed submits and resets wrote (READ COMMITTED).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT leaderboard_board_submits_exclude(%s)", [board_id])


def standings_rebuild(*, board: Board, at: datetime | None = None) -> dict[str, int]:
    """Recompute the standings of every live bucket from the score events.

    The events are the audit trail, so this is the truth for the live
    buckets (voided events and banned players count for nothing); used after
    bulk imports (``seed_demo``) and by operators. Runs in one transaction that
    holds the board's submits back like a reset (``board_submits_exclude``), so no
    submit interleaves, and a reset waits for it or it for the reset; the
    buckets' Redis copies are made cold afterwards. Every standing it writes names
    a user whose events it counted: the references the database no longer checks
    stay valid.
    """
    aggregate = operators.event_aggregate(board)
    # Entries keep the metadata of the event that set their score (boards whose entries carry it).
    md_column, md_value = "", ""
    if board.entry_metadata_max_bytes:
        md_column, md_value = ", metadata", f", {operators.event_metadata_aggregate(board)}"
    counts: dict[str, int] = {}
    with transaction.atomic():
        board_submits_exclude(board_id=board.pk)
        board = Board.objects.get(pk=board.pk)  # after the lock: with the resets it waited for
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
                        (board_id, period, bucket_start, user_id, score, created_at, updated_at{md_column})
                    SELECT %(board)s, %(period)s, %(start)s, e.user_id, {aggregate},
                           MIN(e.created_at), MAX(e.created_at){md_value}
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
            store_buckets.bucket_invalidate(board_slug=board.slug, period=bucket.period, bucket=bucket.key)
        store_buckets.board_users_forget(board_slug=board.slug)
    except RedisUnavailable:
        buckets_mark_for_repair(board=board, buckets=buckets, reason="standings rebuilt")
    return counts
