"""Moderation and erasure: remove a player's scores, ban and unban, erase (GDPR).

Guarantees, for every operation here:

* Atomic with respect to the player's submits. The operation's transaction
  locks the player's ``accounts_user`` row ``FOR UPDATE`` first; a submit
  share-locks that row before writing anything (``services._submit_sql_for``),
  so it waits for a moderation in progress and lands wholly before it (and is
  removed with the rest) or after it (and sees its outcome: a removal's
  player counts from zero, a banned player is refused with 403).
* Both stores. PostgreSQL commits first; then, per affected board, the
  player is removed from every affected sorted set and their cached details
  dropped, and only then their standings are re-read from PostgreSQL and
  written back (a submit that committed after the moderation may have
  mirrored before the removal). Each board's buckets are held under their
  warm locks meanwhile, so a warm that read PostgreSQL before the commit
  cannot bring the player back. Redis unreachable: the buckets are marked for
  repair (rebuilt from PostgreSQL), as for a submit.
* Audited. Each operation writes one ``ModerationAction`` (who, what, why,
  when). Removed scores keep their events, marked voided with who, when and
  why; removed standings are deleted rows. Archives already written stay as
  history (an erasure rewrites the erased id in them).

Bans remove standings without voiding events, so unbanning rebuilds them from
the events that were never voided.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.authentication import user_cache_clear
from leaderboard_project.exceptions import Conflict, Forbidden, InvalidInput, NotFound

from . import operators, signals, warming
from .models import (
    Board,
    ModerationAction,
    PeriodArchive,
    ReconciliationRun,
    ScoreEvent,
    Standing,
    SubmissionCount,
    in_buckets,
)
from .periods import Bucket, bucket_starting
from .store import buckets as store_buckets
from .store import keys, limits
from .store.connection import RedisUnavailable

logger = logging.getLogger(__name__)

WARM_LOCK_WAIT_SECONDS = 30
TOMBSTONE_PREFIX = "erased-"

# (board id, period, bucket start) of standings a moderation removed or rebuilt.
Touched = set[tuple[int, str, datetime]]


@dataclass
class ModerationResult:
    action: str
    user_id: str
    boards: list[str] = field(default_factory=list)
    standings_removed: int = 0
    standings_restored: int = 0
    events_voided: int = 0
    log_id: int | None = None


def _locked_player(user_id: str, *, may_touch_staff: bool):
    """The player's row, locked ``FOR UPDATE``: in-flight submits finish first, new ones wait.

    Staff accounts (operators, trusted servers) are refused unless ``may_touch_staff``
    (a superuser acting, or the account itself): a moderator must not be able to
    ban or erase the people and servers that run the service.
    """
    user = get_user_model().objects.select_for_update().filter(username=user_id).first()
    if user is None:
        raise NotFound(f"No user with user id {user_id!r}.")
    if (user.is_staff or user.is_superuser) and not may_touch_staff:
        raise Forbidden(f"{user_id!r} is a staff account: only a superuser may do this to it.")
    return user


def _reason(reason: str, *, required: bool = True) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput(fields={"reason": "Say why (it is recorded in the moderation log)."})
    return reason[:500]


def _standings_delete(user_id: str, board: Board | None = None) -> Touched:
    """Delete the player's standings (every bucket, current and ended); returns the buckets they were in."""
    sql = f"DELETE FROM {Standing._meta.db_table} WHERE user_id = %s"
    params: list[str | int] = [user_id]
    if board is not None:
        sql += " AND board_id = %s"
        params.append(board.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql + " RETURNING board_id, period, bucket_start", params)
        return {(b, p, s) for b, p, s in cursor.fetchall()}


def _last_event(user_id: str) -> int:
    """The id of the player's latest event (0 if none): read under their row lock, every
    event with a higher id was written after this moderation (``store.buckets`` fences)."""
    return ScoreEvent.objects.filter(user_id=user_id).aggregate(last=Max("id"))["last"] or 0


def _log(action: str, *, target: str, actor: str, reason: str, board: Board | None, detail: dict) -> ModerationAction:
    return ModerationAction.objects.create(
        action=action, target=target, actor=actor[:64], reason=reason, board=board.slug if board else "", detail=detail
    )


def _board_slugs(touched: Touched) -> list[str]:
    ids = {b for b, _, _ in touched}
    return sorted(Board.objects.filter(pk__in=ids).values_list("slug", flat=True))


# --------------------------------------------------------------------------- operations


def board_by_slug(slug: str) -> Board:
    """A board, active or not (scores on a deactivated board may still need removing)."""
    board = Board.objects.filter(slug=slug).first()
    if board is None:
        raise NotFound(f"No board {slug!r}.")
    return board


def scores_remove(
    *, user_id: str, reason: str, actor: str, board: Board | None = None, may_touch_staff: bool = False
) -> ModerationResult:
    """Remove a player's scores from ``board`` (every bucket, current and ended) or from every board.

    Their events stay, voided (``voided_at``/``voided_by``/``void_reason``): reports,
    rebuilds and unbans ignore them. Submits after the removal count from zero.
    """
    reason = _reason(reason)
    with transaction.atomic():
        _locked_player(user_id, may_touch_staff=may_touch_staff)
        touched = _standings_delete(user_id, board)
        events = ScoreEvent.objects.filter(user_id=user_id, voided_at__isnull=True)
        if board is not None:
            events = events.filter(board=board)
        voided = events.update(voided_at=timezone.now(), voided_by=actor[:64], void_reason=reason)
        result = ModerationResult(
            "remove", user_id, _board_slugs(touched), standings_removed=len(touched), events_voided=voided
        )
        detail = {"standings_removed": len(touched), "events_voided": voided, "boards": result.boards}
        result.log_id = _log("remove", target=user_id, actor=actor, reason=reason, board=board, detail=detail).pk
        fence = _last_event(user_id)
        transaction.on_commit(lambda: _converge(user_id, touched, fence=fence))
    return result


def player_ban(*, user_id: str, reason: str, actor: str, may_touch_staff: bool = False) -> ModerationResult:
    """Ban a player: refused submits (403), and absent from every read at once.

    Their standings are removed from both stores (events are kept, not voided),
    so totals, ranks and live updates are exact without a check on the read path.
    """
    reason = _reason(reason)
    with transaction.atomic():
        user = _locked_player(user_id, may_touch_staff=may_touch_staff)
        if user.banned_at is not None:
            raise Conflict(f"Player {user_id!r} is already banned.")
        user.banned_at = timezone.now()
        user.ban_reason = reason
        user.save(update_fields=["banned_at", "ban_reason"])
        touched = _standings_delete(user_id)
        result = ModerationResult("ban", user_id, _board_slugs(touched), standings_removed=len(touched))
        detail = {"standings_removed": len(touched), "boards": result.boards}
        result.log_id = _log("ban", target=user_id, actor=actor, reason=reason, board=None, detail=detail).pk
        fence = _last_event(user_id)
        transaction.on_commit(lambda: _converge(user_id, touched, fence=fence))
    return result


def player_unban(*, user_id: str, actor: str, reason: str = "") -> ModerationResult:
    """Lift a ban: the player's standings are rebuilt in every bucket from their non-voided events."""
    reason = _reason(reason, required=False)
    with transaction.atomic():
        user = _locked_player(user_id, may_touch_staff=True)  # lifting a ban harms nobody
        if user.banned_at is None:
            raise Conflict(f"Player {user_id!r} is not banned.")
        user.banned_at = None
        user.ban_reason = ""
        user.save(update_fields=["banned_at", "ban_reason"])
        touched = _standings_delete(user_id) | _standings_restore(user_id)
        restored = Standing.objects.filter(user_id=user_id).count()
        result = ModerationResult("unban", user_id, _board_slugs(touched), standings_restored=restored)
        detail = {"standings_restored": restored, "boards": result.boards}
        result.log_id = _log("unban", target=user_id, actor=actor, reason=reason, board=None, detail=detail).pk
        fence = _last_event(user_id)
        transaction.on_commit(lambda: _converge(user_id, touched, fence=fence))
    return result


def _standings_restore(user_id: str) -> Touched:
    """Rebuild the player's standings in every bucket of every board from their non-voided events.

    The per-user counterpart of ``services.standings_rebuild``, with the same
    aggregates (sum, best, latest by time then id). Events are placed with
    ``Board.bucket``: calendar buckets, restarted by the board's latest manual
    reset; an older reset superseded by a newer one is not known any more, so
    events after it count in its calendar bucket.
    """
    touched: Touched = set()
    events = (
        ScoreEvent.objects.filter(user_id=user_id, voided_at__isnull=True)
        .order_by("board_id", "created_at", "id")
        .values_list("board_id", "value", "created_at", "metadata")
    )
    per_board: dict[int, list[tuple[int, datetime, object]]] = defaultdict(list)
    for board_id, value, created_at, metadata in events.iterator(chunk_size=5000):
        per_board[board_id].append((value, created_at, metadata))
    rows = []
    for board in Board.objects.filter(pk__in=per_board):
        for period in board.ordered_periods:
            # bucket start -> [score, first, last, the entry's metadata]
            acc: dict[datetime, list] = {}
            for value, at, metadata in per_board[board.pk]:
                start = board.bucket(period, at).start
                found = acc.get(start)
                if found is None:
                    acc[start] = [value, at, at, metadata]
                    continue
                found[3] = operators.combine_metadata(board, found[0], found[3], value, metadata)
                found[0] = operators.combine(board, found[0], value)
                found[2] = at
            keeps = bool(board.entry_metadata_max_bytes)
            for start, (score, first, last, metadata) in acc.items():
                rows.append(
                    Standing(
                        board=board,
                        period=period,
                        bucket_start=start,
                        user_id=user_id,
                        score=score,
                        created_at=first,
                        updated_at=last,
                        metadata=metadata if keeps else None,
                    )
                )
                touched.add((board.pk, period, start))
    Standing.objects.bulk_create(rows, batch_size=1000)
    return touched


def player_erase(*, user_id: str, actor: str, reason: str = "", may_touch_staff: bool = False) -> ModerationResult:
    """Erase a player (GDPR): no trace of their id or personal data is left in either store.

    In one transaction: their standings are removed; their id is replaced by a
    tombstone (``erased-<random>``) in their kept events, in archives' winners
    and top entries, in reconciliation errors, in the moderation log and in the
    admin's history; their ``User`` row keeps its primary key (tokens and logs
    refer to it) but carries the tombstone as its id, no email or names, an
    unusable password, and is inactive (``get_user`` refuses it once a process'
    few-second user cache expires) and banned (nobody may submit for it). Every
    refresh token they hold is blacklisted. The erasure is logged under the
    tombstone, never the erased id. After the commit their Redis entries, cached
    details, live counters and submit rate counters are deleted.
    """
    reason = _reason(reason, required=False)
    with transaction.atomic():
        user = _locked_player(user_id, may_touch_staff=may_touch_staff)
        tombstone = f"{TOMBSTONE_PREFIX}{secrets.token_hex(8)}"
        touched = _standings_delete(user_id)
        fence = _last_event(user_id)
        # Their submission counts name them; erased, they submit no more (the foreign key is checked at commit).
        SubmissionCount.objects.filter(user_id=user_id).delete()
        # Foreign keys to the username are checked at commit: events follow the renamed row.
        ScoreEvent.objects.filter(user_id=user_id).update(user_id=tombstone)
        # Every event's metadata, not only theirs: other players' events may name them (an opponent).
        # A pass over the whole history, under their row lock only: erasures are rare.
        _json_rewrite(ScoreEvent._meta.db_table, ["metadata"], user_id, tombstone)
        _json_rewrite(Standing._meta.db_table, ["metadata"], user_id, tombstone)
        # Free text an operator wrote about them (reasons) names them too.
        _text_rewrite(ModerationAction._meta.db_table, ["reason"], user_id, tombstone)
        _text_rewrite(ScoreEvent._meta.db_table, ["void_reason"], user_id, tombstone)
        ScoreEvent.objects.filter(submitted_by=user_id).update(submitted_by=tombstone)
        ScoreEvent.objects.filter(voided_by=user_id).update(voided_by=tombstone)
        ModerationAction.objects.filter(target=user_id).update(target=tombstone)
        ModerationAction.objects.filter(actor=user_id).update(actor=tombstone)
        _json_rewrite(PeriodArchive._meta.db_table, ["winners", "top"], user_id, tombstone)
        _json_rewrite(ReconciliationRun._meta.db_table, ["errors"], user_id, tombstone)
        PeriodArchive.objects.filter(triggered_by=user_id).update(triggered_by=tombstone)
        _admin_history_rewrite(user, tombstone)
        signals.player_erased.send(sender=ModerationAction, user_id=user_id, tombstone=tombstone)
        user.username = tombstone
        user.email = ""
        user.first_name = ""
        user.last_name = ""
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.banned_at = timezone.now()
        user.ban_reason = "erased"
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
        for token in OutstandingToken.objects.filter(user=user):
            BlacklistedToken.objects.get_or_create(token=token)
        result = ModerationResult("erase", tombstone, _board_slugs(touched), standings_removed=len(touched))
        detail = {"standings_removed": len(touched), "boards": result.boards}
        result.log_id = _log("erase", target=tombstone, actor=actor, reason=reason, board=None, detail=detail).pk
        transaction.on_commit(lambda: _erase_redis(user_id, touched, fence))
    return result


def _json_rewrite(table: str, columns: list[str], old: str, new: str, where: tuple[str, str] | None = None) -> None:
    """Replace the JSON string ``old`` (a whole string value or key, never a substring) with ``new``.

    ``where`` (column, value) limits the rows (a player's own events, not the whole history).
    """
    only = f"AND {where[0]} = %(only)s" if where else ""
    with connection.cursor() as cursor:
        for column in columns:
            cursor.execute(
                f"""
                UPDATE {table}
                SET {column} = replace({column}::text, to_json(%(old)s::text)::text,
                                       to_json(%(new)s::text)::text)::jsonb
                WHERE strpos({column}::text, to_json(%(old)s::text)::text) > 0 {only}
                """,
                {"old": old, "new": new, "only": where[1] if where else None},
            )


def _text_rewrite(table: str, columns: list[str], old: str, new: str) -> None:
    """Replace ``old`` where it stands as a whole id in free text (not inside a longer id)."""
    # Not preceded or followed by a character user ids may hold (see accounts.models.handle_validator).
    pattern = f"(^|[^A-Za-z0-9_.@+-]){re.escape(old)}(?=[^A-Za-z0-9_.@+-]|$)"
    with connection.cursor() as cursor:
        for column in columns:
            cursor.execute(
                f"UPDATE {table} SET {column} = regexp_replace({column}, %(pattern)s, %(repl)s, 'g') "
                f"WHERE strpos({column}, %(old)s) > 0",
                {"pattern": pattern, "repl": "\\1" + new, "old": old},
            )


def _admin_history_rewrite(user, tombstone: str) -> None:
    """The admin's history names the user in ``object_repr``: keep the entries, under the tombstone."""
    content_type = ContentType.objects.get_for_model(type(user))
    LogEntry.objects.filter(content_type=content_type, object_id=str(user.pk)).update(object_repr=tombstone)


def _erase_redis(user_id: str, touched: Touched, fence: int) -> None:
    _converge(user_id, touched, fence=fence, forget=True)
    user_cache_clear()  # this process refuses the erased user at once; others within seconds
    try:
        limits.user_forget(user_id=user_id)
        for slug in Board.objects.values_list("slug", flat=True):
            store_buckets.member_sync(board_slug=slug, member=user_id, buckets=[], forget_watch=True, fence=fence)
        # Other players' entries may carry metadata naming them (an opponent): PostgreSQL's copy was
        # rewritten, Redis' copies are dropped and filled again from it by the next reads.
        for slug in Board.objects.filter(entry_metadata_max_bytes__gt=0).values_list("slug", flat=True):
            store_buckets.entry_metadata_forget(board_slug=slug)
    except RedisUnavailable as exc:
        # Rate counters expire within their window, cached details and counters within a day.
        logger.error("erasure: Redis keys of an erased player left to expire: %s", exc)


# --------------------------------------------------------------------------- Redis


def _converge(user_id: str, touched: Touched, *, fence: int, forget: bool = False) -> None:
    """After commit: make Redis hold exactly what PostgreSQL holds for the player on every touched board.

    Per board, under the warm lock of each bucket: remove the player from every
    touched bucket and from the board's live buckets, drop their cached details,
    then re-read their standings and write them back with the board's ZADD guard.
    """
    per_board: dict[int, set[tuple[str, datetime]]] = defaultdict(set)
    for board_id, period, start in touched:
        per_board[board_id].add((period, start))
    now = timezone.now()
    for board in Board.objects.filter(pk__in=per_board):
        buckets: dict[tuple[str, datetime], Bucket] = {
            (p, s): bucket_starting(p, s, board.time_zone) for p, s in per_board[board.pk]
        }
        for live in board.live_buckets(now):
            buckets.setdefault((live.period, live.start), live)
        try:
            _converge_board(board, user_id, list(buckets.values()), forget=forget, fence=fence)
        except RedisUnavailable as exc:
            logger.error("moderation of a player on %s: Redis unavailable, buckets marked: %s", board.slug, exc)
            warming.buckets_mark_for_repair(board=board, buckets=list(buckets.values()), reason="moderation")
            continue
        live_periods = {b.period for b in board.live_buckets(now) if (b.period, b.start) in buckets}
        for period in sorted(live_periods):
            signals.standings_changed.send(sender=Board, board=board, period=period)


def _converge_board(board: Board, user_id: str, buckets: list[Bucket], *, forget: bool, fence: int) -> None:
    held: list[tuple[str, str]] = []
    unlocked: list[Bucket] = []
    try:
        for bucket in buckets:
            token = _warm_lock(board, bucket)
            if token is None:
                unlocked.append(bucket)
            else:
                held.append((keys.warm_lock_name(bucket.period, bucket.key), token))
        absent = [store_buckets.MemberScore(b.period, b.key, None, 0) for b in buckets]
        # The fence first, in the same script: a submit that committed before this
        # moderation but mirrors after it must not put the player back.
        store_buckets.member_sync(
            board_slug=board.slug, member=user_id, buckets=absent, forget_watch=forget, fence=fence
        )
        current = {
            (p, s): score
            for p, s, score in Standing.objects.filter(in_buckets(buckets), board=board, user_id=user_id).values_list(
                "period", "bucket_start", "score"
            )
        }
        present = [
            store_buckets.MemberScore(b.period, b.key, current[(b.period, b.start)], warming.bucket_expire_at(b))
            for b in buckets
            if (b.period, b.start) in current
        ]
        if present:
            store_buckets.member_sync(
                board_slug=board.slug, member=user_id, buckets=present, zadd_flag=operators.zadd_flag(board)
            )
    finally:
        for name, token in held:
            store_buckets.lock_release(board_slug=board.slug, name=name, token=token)
    if unlocked:
        # A warm held the lock too long: rebuild those buckets from PostgreSQL instead.
        warming.buckets_mark_for_repair(board=board, buckets=unlocked, reason="moderation: warm lock busy")
        warming.repair_soon()


def _warm_lock(board: Board, bucket: Bucket) -> str | None:
    """The bucket's warm lock (``warming.bucket_warm`` takes the same one), waited for a while."""
    name = keys.warm_lock_name(bucket.period, bucket.key)
    deadline = time.monotonic() + WARM_LOCK_WAIT_SECONDS
    while True:
        token = store_buckets.lock_acquire(board_slug=board.slug, name=name, ttl_ms=60_000)
        if token is not None or time.monotonic() > deadline:
            return token
        time.sleep(0.05)
