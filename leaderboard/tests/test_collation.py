"""Ties listed as Redis lists them, whatever the database's default collation (issue 14).

Equal scores are listed by user id (``leaderboard.ranking``), and Redis compares
members byte by byte. The test server is initialised with the ``C`` collation, which
compares bytes too; ``docker-compose.yml``'s ``postgres:17`` and most managed
PostgreSQL default to ``en_US.UTF-8``, which ignores case and punctuation at first
("a-b", "a.b" and "A+b" sort together, before "alice"; "Bob" beside "bob"). These tests run
the PostgreSQL fallback on a database created with that collation, migrated from
scratch, and compare it with Redis entry for entry: pages, windows around every
player, chosen members, single ranks, and the reports' SQL.

The server needs the ``en_US.UTF-8`` locale of the operating system (Debian's
``locales`` package); it is generated here when missing, as ``.ci/run`` does. The
embedded server has no ICU, so a libc locale it is. Without the locale (not root, or
a remote server) the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from leaderboard import ranking, selectors, warming
from leaderboard.models import Board, Standing
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import submitted
from leaderboard_project.conftest_helpers import bearer

LOCALE = "en_US.UTF-8"
# Mixed case and punctuation: bytewise, "A+b" < "Bob" < "Zed" < "_x" < "a-b" < "a.b" < "alice" < "bob";
# glibc's en_US.UTF-8 (2.36) puts them "a-b" < "a.b" < "A+b" < "alice" < "bob" < "Bob" < "_x" < "Zed".
TIED = ["alice", "Bob", "bob", "_x", "Zed", "a.b", "a-b", "A+b"]
SCORES = {**dict.fromkeys(TIED, 50), "Top": 90, "a": 70, "Z": 70, "low": 10, "LOW": 10}


# --------------------------------------------------------------------------- the en_US.UTF-8 database


def _server_url(database: str) -> str:
    params = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=params["HOST"] or "127.0.0.1",
        port=str(params["PORT"] or 5432),
        user=params["USER"] or "postgres",
        password=params["PASSWORD"] or None,
        dbname=database,
    )


def _locale_generate() -> None:
    """Generate ``LOCALE`` with Debian's ``locales`` (installed if missing): root only.

    ``--no-archive`` writes a directory of its own. glibc reads the archive that
    ``locale-gen`` writes once per process, so a server started before that archive
    existed (the embedded one starts with ``LANG=C.UTF-8``) never sees what is added to
    it; a locale directory is looked up afresh at every ``CREATE DATABASE``.
    """
    if os.geteuid() != 0 or not shutil.which("localedef"):
        return
    if not os.path.exists("/usr/share/i18n/locales/en_US") and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "locales"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
    subprocess.run(["localedef", "--no-archive", "-i", "en_US", "-f", "UTF-8", LOCALE], capture_output=True)


def _admin(sql: str) -> None:
    """Run ``sql`` on the test server in a connection of its own (a new server process)."""
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(sql)


def _database_create(name: str) -> None:
    _admin(
        f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
        f"LOCALE_PROVIDER libc LC_COLLATE '{LOCALE}' LC_CTYPE '{LOCALE}'"
    )


@pytest.fixture(scope="module")
def en_us_database(django_db_setup, django_db_blocker) -> Iterator[str]:
    """A database of the test server created with ``en_US.UTF-8`` collation, migrated; yields its name."""
    name = f"lb_collation_{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        try:
            _database_create(name)
        except psycopg.errors.WrongObjectType:  # invalid LC_COLLATE locale name: the OS lacks it
            _locale_generate()
            try:
                # A new connection: the server process that failed remembers the locale as missing.
                _database_create(name)
            except psycopg.errors.WrongObjectType as exc:
                if os.environ.get("CI") == "true":
                    pytest.fail(f"{LOCALE} is missing: .ci/run installs Debian's locales and generates it ({exc})")
                pytest.skip(f"the PostgreSQL server has no {LOCALE} locale (Debian: apt-get install locales): {exc}")
        try:
            with _connected_to(name):
                call_command("migrate", verbosity=0, interactive=False)
            yield name
        finally:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _connected_to:
    """Point the default connection at another database of the same server, then back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.previous = ""

    def __enter__(self) -> None:
        connection.close()
        self.previous = connection.settings_dict["NAME"]
        connection.settings_dict["NAME"] = self.name

    def __exit__(self, *exc: object) -> None:
        connection.close()
        connection.settings_dict["NAME"] = self.previous


@pytest.fixture
def en_us(transactional_db, en_us_database) -> Iterator[str]:
    """This test's reads and writes go to the ``en_US.UTF-8`` database.

    It is not emptied between tests (it is dropped after the last): each test ranks a
    board of its own, and the users they share are created with ``get_or_create``.
    """
    from django.contrib.contenttypes.models import ContentType

    with _connected_to(en_us_database):
        ContentType.objects.clear_cache()  # ids from the test database mean nothing here
        try:
            yield en_us_database
        finally:
            ContentType.objects.clear_cache()


# --------------------------------------------------------------------------- helpers


def triples(page) -> list[tuple[str, int, int | None]]:
    return [(e.user_id, e.score, e.rank) for e in page.entries]


def bytewise(board: Board) -> list[str]:
    """Every user in rank order as Redis lists them: score, then user id compared byte by byte."""
    sign = -1 if board.higher_is_better else 1
    by_id = sorted(SCORES, key=lambda u: u.encode(), reverse=board.higher_is_better)
    return sorted(by_id, key=lambda u: sign * SCORES[u])


def both(board: Board, settings, reads: list[Callable[[], Any]]) -> tuple[list, list]:
    """Each read from Redis, then each from PostgreSQL (the board made cold before each: a miss warms it)."""
    hot = [read() for read in reads]
    assert all(r.cached for r in hot)
    settings.LEADERBOARD_INLINE_WARM_MAX = -1  # no inline warm: these reads must use PostgreSQL
    fallback = []
    for read in reads:
        store_connection.keys_delete(store_keys.board_pattern(board.slug))
        fallback.append(read())
    assert not any(r.cached for r in fallback)
    return hot, fallback


@pytest.fixture(params=[Board.SortOrder.DESC, Board.SortOrder.ASC], ids=["higher_is_better", "lower_is_better"])
def board(request, en_us) -> Board:
    created = BoardFactory(sort_order=request.param, operator=Board.Operator.BEST)
    submitted(created, SCORES)  # events (the reports' input), standings and Redis, as in production
    warming.board_warm(board=created)  # every bucket ready: the first reads come from Redis
    return created


# --------------------------------------------------------------------------- the tests


def test_the_database_really_sorts_user_ids_otherwise(en_us):
    """The premise: this database's default collation orders the tied ids unlike Redis."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        assert cursor.fetchone()[0] == LOCALE
        cursor.execute("SELECT x FROM unnest(%s::text[]) x ORDER BY x", [TIED])
        assert [row[0] for row in cursor.fetchall()] != sorted(TIED, key=str.encode)


def test_every_user_id_column_compares_bytes(en_us):
    """The username and the foreign keys pointing at it carry the ranking rule's collation."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE (table_name, column_name) IN (('accounts_user', 'username'), "
            "('leaderboard_standing', 'user_id'), ('leaderboard_scoreevent', 'user_id')) ORDER BY table_name"
        )
        assert cursor.fetchall() == [
            ("accounts_user", "username", ranking.USER_ID_COLLATION),
            ("leaderboard_scoreevent", "user_id", ranking.USER_ID_COLLATION),
            ("leaderboard_standing", "user_id", ranking.USER_ID_COLLATION),
        ]


def test_every_page_lists_tied_ids_as_redis_does(board, settings):
    pages = [(offset, 3) for offset in range(0, len(SCORES), 3)] + [(1, 2), (4, 2), (7, 2), (0, len(SCORES))]
    hot, fallback = both(
        board,
        settings,
        [partial(selectors.leaderboard_page, board=board, period="daily", offset=o, limit=n) for o, n in pages],
    )
    assert [triples(p) for p in fallback] == [triples(p) for p in hot]
    assert [user for user, _, _ in triples(hot[-1])] == bytewise(board)


def test_the_window_around_every_player_matches_redis(board, settings):
    hot, fallback = both(
        board,
        settings,
        [partial(selectors.leaderboard_around, board=board, period="weekly", user_id=u, count=2) for u in SCORES],
    )
    assert [(p.offset, triples(p)) for p in fallback] == [(p.offset, triples(p)) for p in hot]


def test_chosen_members_and_single_ranks_match_redis(board, settings):
    hot, fallback = both(
        board,
        settings,
        [
            partial(selectors.leaderboard_members, board=board, period="monthly", user_ids=list(SCORES)),
            *(partial(selectors.user_rank, board=board, period="monthly", user_id=u) for u in SCORES),
        ],
    )
    assert triples(fallback[0]) == triples(hot[0])
    assert [user for user, _, _ in triples(hot[0])] == bytewise(board)
    assert [(r.user_id, r.score, r.rank) for r in fallback[1:]] == [(r.user_id, r.score, r.rank) for r in hot[1:]]


def test_the_reports_list_tied_ids_as_redis_does(board):
    """The reports' SQL (``ranking.sql_order``), through their API: the leaderboard does not import reports."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(UserFactory(username="reader")))
    today = timezone.now().date().isoformat()
    response = client.get(
        "/api/v1/reports/top-players",
        {"board": board.slug, "start_date": today, "end_date": today, "limit": len(SCORES)},
    )
    assert response.status_code == 200, response.content
    live = selectors.leaderboard_page(board=board, period="daily", limit=len(SCORES))
    assert live.cached
    assert [(e["user_id"], e["score"], e["rank"]) for e in response.json()["entries"]] == triples(live)


def test_ranked_pages_are_read_from_the_index_without_a_sort(board):
    """``standing_rank`` is built in the columns' collation, so it gives the rank order as it is.

    A ``COLLATE "C"`` in the query over an index built in ``en_US.UTF-8`` would sort the
    tie group at the cut on every page. Sequential scans are off for this plan only: with a
    dozen rows the planner would rightly pick one, and what matters is that the index can.
    """
    bucket = board.bucket("daily", timezone.now())
    rows = Standing.objects.filter(board=board, period=bucket.period, bucket_start=bucket.start)
    page = rows.order_by(*ranking.order_by(board.higher_is_better)).values_list("user_id", "score")[:10]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = page.explain()
    assert "standing_rank" in plan and "Sort" not in plan, plan
