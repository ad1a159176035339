"""The write services (``leaderboard.services``): the dual write, PostgreSQL first, Redis after commit,
exactly once; and ``score_submit_as``, the one submit every surface calls (target, trust, player creation)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from leaderboard import services, warming
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import in_threads, pg_members, redis_members
from leaderboard_project.exceptions import Conflict, Forbidden, InvalidInput, NotFound

pytestmark = pytest.mark.django_db(transaction=True)


def warm(board):
    warming.board_warm(board=board)


def test_a_submit_appends_an_event_and_updates_every_period_in_both_stores():
    board = BoardFactory()
    warm(board)
    user = UserFactory()
    result = services.score_submit(board=board, user_id=user.username, value=7, metadata={"level": 3})
    assert result.scores == dict.fromkeys(["daily", "weekly", "monthly", "yearly", "all_time"], 7)
    assert result.cache_updated and result.ranks["daily"] == 1
    event = ScoreEvent.objects.get()
    assert (event.value, event.metadata) == (7, {"level": 3})
    assert Standing.objects.filter(board=board, user=user).count() == 5
    for bucket in board.live_buckets(result.created_at):
        assert redis_members(board, bucket) == {user.username: 7}


def test_a_submit_ranks_only_the_periods_asked_for_and_writes_every_bucket_all_the_same():
    board = BoardFactory()
    warm(board)
    user = UserFactory()
    result = services.score_submit(board=board, user_id=user.username, value=7, ranks=["all_time"])
    assert result.ranks == {"all_time": 1}
    assert services.score_submit(board=board, user_id=user.username, value=1, ranks=()).ranks == {}
    for bucket in board.live_buckets(result.created_at):
        assert redis_members(board, bucket) == {user.username: 8}


def test_fifty_threads_of_two_hundred_increments_total_exactly_ten_thousand():
    board = BoardFactory(max_value=10)
    warm(board)
    user = UserFactory()

    def work(_: int) -> None:
        for _ in range(200):
            services.score_submit(board=board, user_id=user.username, value=1)

    in_threads(50, work)
    assert ScoreEvent.objects.filter(board=board).count() == 10_000
    for bucket in board.live_buckets(ScoreEvent.objects.latest("id").created_at):
        assert pg_members(board, bucket) == {user.username: 10_000}
        assert redis_members(board, bucket) == {user.username: 10_000}


def test_racing_retries_with_one_idempotency_key_count_once():
    board = BoardFactory()
    warm(board)
    user = UserFactory()
    results = in_threads(
        20, lambda _: services.score_submit(board=board, user_id=user.username, value=5, idempotency_key="retry-1")
    )
    assert len({r.event_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert all(r.scores["all_time"] == 5 for r in results)
    assert ScoreEvent.objects.filter(board=board).count() == 1
    bucket = board.live_buckets(results[0].created_at)[-1]
    assert pg_members(board, bucket) == {user.username: 5}
    assert redis_members(board, bucket) == {user.username: 5}


def test_the_same_key_for_another_user_or_board_is_a_different_submission():
    board, other_board = BoardFactory(), BoardFactory()
    alice, bob = UserFactory(), UserFactory()
    services.score_submit(board=board, user_id=alice.username, value=1, idempotency_key="k")
    services.score_submit(board=board, user_id=bob.username, value=1, idempotency_key="k")
    services.score_submit(board=other_board, user_id=alice.username, value=1, idempotency_key="k")
    assert ScoreEvent.objects.count() == 3


def test_reusing_a_key_with_another_value_is_a_conflict_and_changes_nothing():
    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=5, idempotency_key="k")
    with pytest.raises(Conflict):
        services.score_submit(board=board, user_id=user.username, value=6, idempotency_key="k")
    assert list(Standing.objects.filter(period="all_time").values_list("score", flat=True)) == [5]


@pytest.mark.parametrize("value", [-1, 1_000_001, "7", 2.5, True, None])
def test_values_outside_the_bounds_or_not_integers_are_rejected_and_nothing_is_written(value):
    board = BoardFactory(min_value=0, max_value=1_000_000)
    user = UserFactory()
    with pytest.raises(InvalidInput) as caught:
        services.score_submit(board=board, user_id=user.username, value=value)
    assert "value" in caught.value.fields
    assert not ScoreEvent.objects.exists() and not Standing.objects.exists()


def test_a_total_beyond_the_exact_range_of_redis_scores_is_refused():
    board = BoardFactory(max_value=2**52)
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=2**52)
    with pytest.raises(InvalidInput):
        services.score_submit(board=board, user_id=user.username, value=2**52)
    assert Standing.objects.filter(period="all_time").get().score == 2**52
    assert ScoreEvent.objects.count() == 1


def test_best_keeps_the_highest_and_set_keeps_the_latest():
    best = BoardFactory(operator=Board.Operator.BEST)
    latest = BoardFactory(operator=Board.Operator.SET)
    warm(best)
    warm(latest)
    user = UserFactory()
    for value in (50, 80, 30):
        services.score_submit(board=best, user_id=user.username, value=value)
        services.score_submit(board=latest, user_id=user.username, value=value)
    bucket = best.live_buckets(ScoreEvent.objects.latest("id").created_at)[-1]
    assert pg_members(best, bucket) == redis_members(best, bucket) == {user.username: 80}
    assert pg_members(latest, bucket) == redis_members(latest, bucket) == {user.username: 30}
    # Every attempt is history, even the ones that did not improve the best.
    assert ScoreEvent.objects.filter(board=best).count() == 3


def test_lower_is_better_best_keeps_the_lowest():
    board = BoardFactory(operator=Board.Operator.BEST, sort_order=Board.SortOrder.ASC)
    warm(board)
    user = UserFactory()
    for value in (50, 30, 80):
        services.score_submit(board=board, user_id=user.username, value=value)
    bucket = board.live_buckets(ScoreEvent.objects.latest("id").created_at)[-1]
    assert pg_members(board, bucket) == redis_members(board, bucket) == {user.username: 30}


def test_a_cold_bucket_is_left_alone_by_submits_and_warmed_by_the_next_read():
    from leaderboard import selectors

    board = BoardFactory()
    alice, bob = UserFactory(), UserFactory()
    services.score_submit(board=board, user_id=alice.username, value=10)
    result = services.score_submit(board=board, user_id=bob.username, value=4)
    assert result.ranks == {} or all(rank is None for rank in result.ranks.values())
    first = selectors.leaderboard_page(board=board, period="all_time")
    assert not first.cached
    second = selectors.leaderboard_page(board=board, period="all_time")
    assert second.cached
    assert [(e.user_id, e.score, e.rank) for e in second.entries] == [(alice.username, 10, 1), (bob.username, 4, 2)]


def test_a_submit_with_a_stale_board_lands_in_the_bucket_a_reset_started():
    from datetime import timedelta

    from django.utils import timezone

    board = BoardFactory()
    user = UserFactory()
    stale = Board.objects.get(pk=board.pk)
    reset_at = timezone.now() - timedelta(seconds=1)
    Board.objects.filter(pk=board.pk).update(period_resets={"daily": reset_at.isoformat()})
    result = services.score_submit(board=stale, user_id=user.username, value=3)
    daily = Standing.objects.get(board=board, period="daily")
    assert daily.bucket_start == reset_at
    assert result.scores["daily"] == 3
    weekly = Standing.objects.get(board=board, period="weekly")
    assert weekly.bucket_start == board.bucket("weekly", result.created_at).start != reset_at


def test_the_submit_statement_is_prepared_once_per_connection_and_nothing_else_is():
    board = BoardFactory()
    users = UserFactory.create_batch(3)
    from django.db import connection

    for user in users:
        services.score_submit(board=board, user_id=user.username, value=1)
        list(Board.objects.filter(pk=board.pk))  # an ordinary ORM query, repeated
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1
    assert "INSERT INTO leaderboard_scoreevent" in prepared[0]
    assert Standing.objects.filter(board=board).count() == 3 * 5


def test_a_schema_change_under_a_prepared_submit_is_survived_without_losing_or_doubling_scores():
    from django.db import connection

    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=2)  # unprepared: shows the connection direct
    services.score_submit(board=board, user_id=user.username, value=2)  # prepared
    with connection.cursor() as cursor:  # what a migration changing a returned column does
        cursor.execute("ALTER TABLE leaderboard_standing ALTER COLUMN period TYPE varchar(24)")
    try:
        result = services.score_submit(board=board, user_id=user.username, value=3)
        assert result.scores["all_time"] == 7
        assert ScoreEvent.objects.filter(board=board).count() == 3
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE leaderboard_standing ALTER COLUMN period TYPE varchar(16)")


def test_reusing_a_key_with_the_same_value_but_other_metadata_is_a_conflict():
    """A careful client expects a replay to be the same submission, metadata included (finding 15)."""
    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=5, idempotency_key="k", metadata={"car": "red"})
    same = services.score_submit(
        board=board, user_id=user.username, value=5, idempotency_key="k", metadata={"car": "red"}
    )
    assert same.replayed
    with pytest.raises(Conflict) as caught:
        services.score_submit(board=board, user_id=user.username, value=5, idempotency_key="k", metadata={"car": "x"})
    assert "idempotency_key" in caught.value.fields
    with pytest.raises(Conflict):
        services.score_submit(board=board, user_id=user.username, value=5, idempotency_key="k")
    assert ScoreEvent.objects.filter(board=board).count() == 1
    assert ScoreEvent.objects.get(board=board).metadata == {"car": "red"}


# --------------------------------------------------------------------------- score_submit_as


def test_a_player_who_names_nobody_books_to_themselves():
    board, ann = BoardFactory(), UserFactory(username="ann")
    result = services.score_submit_as(board=board, caller=ann, named=None, value=4)
    assert (result.user_id, result.scores["daily"]) == ("ann", 4)
    assert ScoreEvent.objects.get().submitted_by == ""  # their own score: no separate submitter


def test_a_player_may_not_book_to_someone_else_and_nothing_is_written():
    board, ann = BoardFactory(), UserFactory(username="ann")
    UserFactory(username="bob")
    with pytest.raises(Forbidden):
        services.score_submit_as(board=board, caller=ann, named="bob", value=4)
    assert not ScoreEvent.objects.exists()


def test_a_trusted_server_creates_an_unknown_player_and_is_recorded_as_submitter():
    board, server = BoardFactory(), UserFactory(username="game-server", is_staff=True)
    result = services.score_submit_as(board=board, caller=server, named="newcomer", value=9, metadata={"lvl": 2})
    assert result.user_id == "newcomer" and get_user_model().objects.filter(username="newcomer").exists()
    event = ScoreEvent.objects.get()
    assert (event.submitted_by, event.metadata) == ("game-server", {"lvl": 2})


def test_a_player_naming_an_unknown_user_creates_nobody():
    board, ann = BoardFactory(), UserFactory(username="ann")
    with pytest.raises(Forbidden):
        services.score_submit_as(board=board, caller=ann, named="ghost", value=1)
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_an_authoritative_board_refuses_a_player_even_for_themselves():
    board, ann = BoardFactory(authoritative=True), UserFactory(username="ann")
    with pytest.raises(Forbidden):
        services.score_submit_as(board=board, caller=ann, named=None, value=1)


def test_a_trusted_server_submitting_as_itself_for_an_unknown_account_is_not_found():
    board = BoardFactory()
    server = UserFactory(username="game-server", is_staff=True)
    server.delete()  # the token's user is gone: it is never created back by its own submit
    with pytest.raises(NotFound):
        services.score_submit_as(board=board, caller=server, named=None, value=1)


# --------------------------------------------------------------------------- the board's advisory lock


def _session():
    """A psycopg session of its own on the test database (not Django's connection), in a transaction."""
    import psycopg
    from django.db import connection

    real = connection.settings_dict
    return psycopg.connect(
        host=real["HOST"] or None,
        port=int(real["PORT"]) if real["PORT"] else None,
        dbname=real["NAME"],
        user=real["USER"],
        password=real["PASSWORD"] or None,
    )


def _wait_until_someone_waits_for_an_advisory_lock(timeout: float = 10.0) -> None:
    import time

    with _session() as watcher:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            watcher.rollback()  # a new snapshot of pg_locks each time
            if row and row[0]:
                return
            time.sleep(0.01)
    raise AssertionError("nobody waited for the board's advisory lock")


def _reset_while_a_statement_waits(board: Board, statement, new_resets: dict) -> object:
    """Hold the board's exclusive lock, run ``statement()`` in a thread (it waits), commit new resets, join.

    Returns what ``statement()`` returned. The resets committed while it waited for the lock.
    """
    import threading

    found: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        from django.db import connection

        try:
            found.append(statement())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    with _session() as holder:
        holder.execute("SELECT leaderboard_board_submits_exclude(%s)", [board.pk])
        thread = threading.Thread(target=run)
        thread.start()
        _wait_until_someone_waits_for_an_advisory_lock()
        holder.execute(
            f"UPDATE {Board._meta.db_table} SET period_resets = %s::jsonb WHERE id = %s",
            [json.dumps(new_resets), board.pk],
        )
        holder.commit()
    thread.join(30)
    assert not errors, errors
    return found[0]


def test_a_statement_that_waits_for_a_lock_still_reads_the_board_as_of_its_start():
    """The premise: in one statement, a lock taken inline does not refresh its snapshot (no EvalPlanQual).

    So the submit statement cannot simply take the advisory lock in a CTE and read the board row itself.
    """
    from django.db import connection

    board = BoardFactory(periods=["daily"])

    def inline_lock() -> object:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(1279414852, %(board)s::integer))
                SELECT b.period_resets FROM l, {Board._meta.db_table} b WHERE b.id = %(board)s
                """,
                {"board": board.pk},
            )
            return cursor.fetchone()[0]

    seen = _reset_while_a_statement_waits(board, inline_lock, {"daily": "2026-11-30T12:00:00+00:00"})
    assert (json.loads(seen) if isinstance(seen, str) else seen) == {}  # not the reset it waited for


def test_the_submit_statement_reads_the_board_after_its_lock_in_a_snapshot_of_its_own():
    """``leaderboard_board_submits_admit`` is VOLATILE: its read sees a reset committed while it waited."""
    from django.db import connection

    board = BoardFactory(periods=["daily"])
    resets = {"daily": "2026-11-30T12:00:00+00:00"}

    def admit() -> object:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT fresh FROM leaderboard_board_submits_admit(%s, %s::jsonb, 1)", [board.pk, json.dumps(resets)]
            )
            return cursor.fetchone()[0]

    assert _reset_while_a_statement_waits(board, admit, resets) is True


def test_a_submit_waiting_for_a_reset_lands_in_the_new_bucket():
    """The submit computed its buckets before a reset committed: it sees the reset, writes nothing, and retries."""
    from datetime import UTC, datetime, timedelta

    board = BoardFactory(periods=["daily", "all_time"])
    user = UserFactory()
    stale = Board.objects.get(pk=board.pk)  # the submit's copy, from before the reset
    reset_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    def submit() -> object:
        return services.score_submit(board=stale, user_id=user.username, value=3)

    result = _reset_while_a_statement_waits(board, submit, {"daily": reset_at.isoformat(), "daily.sequence": 2})
    assert isinstance(result, services.SubmitResult)
    assert result.scores == {"daily": 3, "all_time": 3}
    daily = Standing.objects.get(board=board, period="daily")
    assert daily.bucket_start == reset_at  # not the calendar day's bucket, which the stale copy computed
    assert ScoreEvent.objects.filter(board=board).count() == 1


def _multixacts() -> int:
    """The cluster's next multixact id, as of a checkpoint taken now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        cursor.execute("SELECT next_multixact_id::text::bigint FROM pg_control_checkpoint()")
        return cursor.fetchone()[0]


def test_concurrent_submits_to_one_board_create_no_multixact():
    """300 submits from 3 connections at once: no row is share-locked by two of them (docs/scaling.md).

    Each thread submits for players of its own: two submits of one player share-lock
    the player's row (``u``), as they must against a moderation.
    """
    board = BoardFactory()
    warm(board)
    players = [[UserFactory().username for _ in range(10)] for _ in range(3)]
    for mine in players:  # every standing exists: the submits below update, as most do
        for user_id in mine:
            services.score_submit(board=board, user_id=user_id, value=1)

    def work(i: int) -> None:
        for n in range(100):
            services.score_submit(board=board, user_id=players[i][n % 10], value=1)

    before = _multixacts()
    in_threads(3, work)
    assert _multixacts() - before == 0
    assert ScoreEvent.objects.filter(board=board).count() == 330
