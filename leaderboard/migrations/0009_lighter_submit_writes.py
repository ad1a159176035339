"""A lighter write path (issue 18): fewer index entries, no foreign-key checks, no board row lock.

* The single-column indexes Django gives every foreign key (``board_id``, ``user_id`` and
  its ``_like`` twin, on events and standings) go: composite indexes lead with the same
  columns (``standing_rank``, ``standing_unique_user``, ``standing_user``,
  ``scoreevent_user_time``). A five-period submit writes 23 index entries instead of 41.
  The events' board leads only partial indexes: a query by board alone (a board's
  deletion check) scans the table; boards are deleted rarely, events written always.
* The foreign-key constraints go (``db_constraint=False``): each checked the parent on
  every insert and share-locked it at commit. The submit statement itself checks the
  player and the board. What the constraints also refused, a parent deleted or a user
  renamed while rows still name it, deferred constraint triggers refuse instead
  (``leaderboard_user_refs_*``, ``leaderboard_board_refs``), checked at commit as the
  foreign keys were, so an erasure may still rename events before their user. They cost
  nothing per submit: they fire on the parents' rare deletions and renames.
* A submit no longer share-locks the board row (two open transactions holding one row's
  share lock make a multixact, 0.6-0.75 per submit under concurrency). It takes a shared
  advisory lock on the board instead (``leaderboard_board_submits_admit``), and every
  writer that must exclude submits (a manual reset, a standings rebuild, a board's
  update and deletion) takes it exclusively (``leaderboard_board_submits_exclude``).
  The lock and the read of the board row that says whether the submit's buckets are
  still current live in one VOLATILE function: PostgreSQL gives each query of a
  volatile function a new snapshot (READ COMMITTED), so the read sees a reset that
  committed while the submit waited for the lock. The calling statement's own snapshot,
  taken before the wait, would not: a row lock re-read the newest row version
  (EvalPlanQual), an advisory lock re-reads nothing.

The advisory key is the two-integer form: (``BOARD_LOCK_CLASS``, board id), a key space
apart from the single-bigint keys other apps use (``leagues``). Board ids past 2^31 share
a key with a smaller id: such boards would only wait for each other's resets.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# 'LBRD' as an integer: the class of the board's advisory lock.
BOARD_LOCK_CLASS = 1279414852

# One statement per paragraph (RunSQL would split a string with sqlparse, dollar quotes and all).
FUNCTIONS = f"""
CREATE FUNCTION leaderboard_board_submits_admit(p_board bigint, p_resets jsonb, p_value bigint)
RETURNS TABLE (fresh boolean, accepts boolean) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Until the transaction ends: a reset (exclusive) waits for this submit, or this for it.
    PERFORM pg_advisory_xact_lock_shared({BOARD_LOCK_CLASS}, (p_board & 2147483647)::integer);
    -- A new snapshot, taken after the lock: it sees a reset that committed meanwhile.
    RETURN QUERY
        SELECT b.period_resets = p_resets,
               b.is_active AND b.min_value <= p_value AND p_value <= b.max_value
        FROM leaderboard_board b WHERE b.id = p_board;
END
$$;

CREATE FUNCTION leaderboard_board_submits_exclude(p_board bigint) RETURNS void LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock({BOARD_LOCK_CLASS}, (p_board & 2147483647)::integer)
$$;

CREATE FUNCTION leaderboard_user_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- At commit, as a foreign key would: the id may have been taken again meanwhile.
    IF EXISTS (SELECT 1 FROM accounts_user WHERE username = OLD.username) THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM leaderboard_scoreevent WHERE user_id = OLD.username)
       OR EXISTS (SELECT 1 FROM leaderboard_standing WHERE user_id = OLD.username) THEN
        RAISE EXCEPTION 'user % is still named by score events or standings', OLD.username
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER leaderboard_user_refs_delete AFTER DELETE ON accounts_user
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION leaderboard_user_refs_check();

CREATE CONSTRAINT TRIGGER leaderboard_user_refs_rename AFTER UPDATE OF username ON accounts_user
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
    EXECUTE FUNCTION leaderboard_user_refs_check();

CREATE FUNCTION leaderboard_board_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Submits in flight hold the board's shared lock and may not have committed their
    -- event yet: wait for them; later ones find no board.
    PERFORM leaderboard_board_submits_exclude(OLD.id);
    IF EXISTS (SELECT 1 FROM leaderboard_scoreevent WHERE board_id = OLD.id)
       OR EXISTS (SELECT 1 FROM leaderboard_standing WHERE board_id = OLD.id) THEN
        RAISE EXCEPTION 'board % still has score events or standings', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER leaderboard_board_refs AFTER DELETE ON leaderboard_board
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION leaderboard_board_refs_check();
"""

DROP_FUNCTIONS = """
DROP TRIGGER leaderboard_board_refs ON leaderboard_board;
DROP FUNCTION leaderboard_board_refs_check();
DROP TRIGGER leaderboard_user_refs_rename ON accounts_user;
DROP TRIGGER leaderboard_user_refs_delete ON accounts_user;
DROP FUNCTION leaderboard_user_refs_check();
DROP FUNCTION leaderboard_board_submits_exclude(bigint);
DROP FUNCTION leaderboard_board_submits_admit(bigint, jsonb, bigint);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboard", "0008_tiers_entry_metadata"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="scoreevent",
            name="board",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="leaderboard.board",
            ),
        ),
        migrations.AlterField(
            model_name="scoreevent",
            name="user",
            field=models.ForeignKey(
                db_column="user_id",
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="score_events",
                to=settings.AUTH_USER_MODEL,
                to_field="username",
            ),
        ),
        migrations.AlterField(
            model_name="standing",
            name="board",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="standings",
                to="leaderboard.board",
            ),
        ),
        migrations.AlterField(
            model_name="standing",
            name="user",
            field=models.ForeignKey(
                db_column="user_id",
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="standings",
                to=settings.AUTH_USER_MODEL,
                to_field="username",
            ),
        ),
        migrations.RunSQL(
            [sql for sql in FUNCTIONS.split("\n\n") if sql.strip()],
            [sql for sql in DROP_FUNCTIONS.splitlines() if sql.strip()],
        ),
    ]
