"""Model rules (``leaderboard.models``): field validators, bucket filters, and the write path's schema."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from leaderboard.models import Board, ScoreEvent, Standing, in_buckets, validate_periods, validate_rate
from leaderboard.tests.factories import BoardFactory, UserFactory


@pytest.mark.parametrize("value", [["daily", "daily"], ["hourly"], ["Daily"]])
def test_periods_must_be_known_and_unique(value):
    with pytest.raises(ValidationError):
        validate_periods(value)


@pytest.mark.parametrize("value", ["60/min", "1/s", "10/hour", "5/day", ""])
def test_rates_accept_a_count_per_unit(value):
    validate_rate(value)


@pytest.mark.parametrize("value", ["0/min", "lots", "60/fortnight", "-1/s", "1/"])
def test_rates_refuse_anything_else(value):
    with pytest.raises(ValidationError):
        validate_rate(value)


@pytest.mark.django_db
def test_in_buckets_selects_exactly_the_given_buckets():
    board: Board = BoardFactory(periods=["daily", "all_time"])
    user = UserFactory()
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    yesterday = datetime(2026, 11, 29, 12, tzinfo=UTC)
    wanted = board.live_buckets(now)
    rows = [(b.period, b.start) for b in wanted] + [("daily", board.bucket("daily", yesterday).start)]
    for period, start in rows:
        Standing.objects.create(
            board=board, period=period, bucket_start=start, user=user, score=1, created_at=now, updated_at=now
        )
    found = set(Standing.objects.filter(in_buckets(wanted), board=board).values_list("period", "bucket_start"))
    assert found == {(b.period, b.start) for b in wanted}
    assert not Standing.objects.filter(in_buckets([])).exists()


# --------------------------------------------------------------------------- the write path's schema


def _indexes(table: str) -> list[tuple[str, list[int], bool, str | None]]:
    """(name, key columns, unique, predicate) of every index on ``table``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, (i.indkey::int2[])[0:i.indnkeyatts - 1], i.indisunique,
                   pg_get_expr(i.indpred, i.indrelid)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass ORDER BY c.relname
            """,
            [table],
        )
        return [(name, list(keys), unique, predicate) for name, keys, unique, predicate in cursor.fetchall()]


@pytest.mark.django_db
@pytest.mark.parametrize("model", [ScoreEvent, Standing])
def test_no_index_of_the_submits_tables_is_a_prefix_of_another(model):
    """Every index costs an entry per submit: one whose key columns lead another's adds nothing.

    A redundant index: not unique (a unique one enforces something), its key columns the
    leading key columns of another index covering at least its rows (no predicate, or
    the same one). Django's implicit single-column foreign-key indexes were such
    duplicates (``db_index=False`` now).
    """
    found = _indexes(model._meta.db_table)
    redundant = [
        f"{name} {keys} leads {other} {other_keys}"
        for name, keys, unique, predicate in found
        for other, other_keys, _, other_predicate in found
        if other != name and not unique and other_keys[: len(keys)] == keys and other_predicate in (None, predicate)
    ]
    assert redundant == []
    assert len(found) == 4  # pkey and three composite indexes: the figure docs/scaling.md counts


@pytest.mark.django_db
def test_the_submits_tables_have_no_foreign_key_constraints():
    """The submit checks the player and the board itself; triggers guard the parents (migration 0009)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid IN (%s::regclass, %s::regclass)",
            [ScoreEvent._meta.db_table, Standing._meta.db_table],
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rows", ["event", "standing"])
def test_the_database_refuses_deleting_or_renaming_a_user_its_scores_name(rows):
    """What the foreign keys refused, at commit as they did: the ORM's PROTECT aside (raw SQL, a rename)."""
    from django.db import IntegrityError, connection, transaction

    board: Board = BoardFactory()
    user = UserFactory()
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    if rows == "event":
        ScoreEvent.objects.create(board=board, user=user, value=1, created_at=now)
    else:
        Standing.objects.create(
            board=board, period="daily", bucket_start=now, user=user, score=1, created_at=now, updated_at=now
        )
    table = user._meta.db_table
    for sql in (f"DELETE FROM {table} WHERE id = %s", f"UPDATE {table} SET username = 'renamed' WHERE id = %s"):
        with (
            pytest.raises(IntegrityError, match="still named by score events or standings"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [user.pk])
    assert type(user).objects.filter(username=user.username).exists()
    # Other changes of the row are not checked (the trigger fires on a changed id only).
    type(user).objects.filter(pk=user.pk).update(email="x@example.com")


@pytest.mark.django_db(transaction=True)
def test_a_user_without_scores_may_still_be_deleted_and_an_erasure_still_renames():
    from leaderboard import moderation

    UserFactory().delete()
    board: Board = BoardFactory()
    user = UserFactory()
    ScoreEvent.objects.create(board=board, user=user, value=1, created_at=datetime(2026, 11, 30, tzinfo=UTC))
    result = moderation.player_erase(user_id=user.username, actor="test")
    assert ScoreEvent.objects.get().user_id == result.user_id != user.username


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_deleting_a_board_with_scores():
    from django.db import IntegrityError, connection, transaction

    board: Board = BoardFactory()
    user = UserFactory()
    ScoreEvent.objects.create(board=board, user=user, value=1, created_at=datetime(2026, 11, 30, tzinfo=UTC))
    with (
        pytest.raises(IntegrityError, match="still has score events or standings"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {Board._meta.db_table} WHERE id = %s", [board.pk])
    assert Board.objects.filter(pk=board.pk).exists()
    BoardFactory().delete()  # a board without scores may go
