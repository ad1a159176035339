"""The read replica: which reads may lag, and why nothing that feeds Redis ever does (issue 14).

The ``replica`` alias (``settings_test``) reads the test database through
connections of its own, so each alias' queries can be counted. The lag tests
point it at a separate database on the same server, a copy of the test
database taken mid-test: a replica frozen in the past. Counts are Django's
(``CaptureQueriesContext``); warming streams its rows through a psycopg cursor
of its own, which no counter sees, so what it read is shown by what it put in
Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from asgiref.sync import async_to_sync
from django.db import connection, connections, transaction
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leaderboard import rendered, replica, rollover, selectors, services, sync, warming
from leaderboard.models import Board, PeriodArchive, ScoreEvent, Standing
from leaderboard.store import connection as store_connection
from leaderboard.store import keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import redis_members, seed
from leaderboard_project.conftest_helpers import command_env

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

SCORES = {"ann": 30, "bob": 20, "cat": 10}
STANDINGS = Standing._meta.db_table
EVENTS = ScoreEvent._meta.db_table


@pytest.fixture
def a_replica(settings) -> None:
    """A replica configured, as ``DATABASE_REPLICA_URL`` configures one (the alias is ``settings_test``'s)."""
    settings.DATABASE_REPLICA_URL = "postgres://replica.invalid/leaderboard"  # only its presence is read here
    settings.DATABASE_ROUTERS = ["leaderboard.replica.PrimaryRouter"]


@pytest.fixture
def board() -> Board:
    board = BoardFactory()
    seed(board, SCORES)
    return board


@dataclass
class Queries:
    primary: CaptureQueriesContext
    replica: CaptureQueriesContext

    @staticmethod
    def _sql(context: CaptureQueriesContext) -> list[str]:
        return [q["sql"] for q in context.captured_queries]

    def on_primary(self, table: str = "") -> list[str]:
        return [sql for sql in self._sql(self.primary) if table in sql]

    def on_replica(self, table: str = "") -> list[str]:
        return [sql for sql in self._sql(self.replica) if table in sql]


@contextlib.contextmanager
def queries() -> Iterator[Queries]:
    """What each alias runs meanwhile, on this thread's connections."""
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections["replica"]) as lag:
        yield Queries(primary, lag)


def redis_forgets(board: Board) -> None:
    """Redis is up but holds nothing of the board (restarted empty, evicted); the next read renders its page
    anew (as once the read-cache interval has passed)."""
    store_connection.keys_delete(keys.board_pattern(board.slug))
    rendered.forget_all()


def top_10(board: Board, period: str = "daily") -> str:
    return f"/api/v1/boards/{board.slug}/leaderboard/{period}?limit=10"


def entries(response) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.content
    return [(e["user_id"], e["score"]) for e in response.json()["entries"]]


@contextlib.contextmanager
def replica_frozen_now() -> Iterator[str]:
    """Point the ``replica`` alias at a copy of the test database as it is now: a replica that stops replaying.

    ``CREATE DATABASE ... TEMPLATE`` needs the source without connections: this
    process' own are closed, and any left (a thread's) are ended; the test database
    belongs to this test session only.
    """
    source = connection.settings_dict["NAME"]
    copy = f"{source}_lagging"
    db = connection.settings_dict
    admin = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname="postgres", autocommit=True
    )
    lagging = connections["replica"]
    mirrored = lagging.settings_dict  # the test mirror shares the primary's dict: replace it, never edit it
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        for attempt in range(50):
            connections.close_all()
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [source],
            )
            try:
                admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        lagging.settings_dict = {**mirrored, "NAME": copy}
        yield copy
    finally:
        lagging.close()
        lagging.settings_dict = mirrored
        admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        admin.close()


# --------------------------------------------------------------------------- the rule


def test_without_a_replica_every_read_uses_the_primary(board, api_client):
    redis_forgets(board)

    with replica.lag_allowed():
        assert replica.reads() == "default"
    with queries() as q:
        response = api_client.get(top_10(board))

    assert response.json()["cached"] is False and entries(response) == list(SCORES.items())
    assert q.on_replica() == [] and q.on_primary(STANDINGS)


def test_only_a_read_only_request_outside_a_transaction_may_read_the_replica(a_replica):
    assert replica.reads() == "default"  # no request: a task, a command, a timer
    with replica.lag_allowed():
        assert replica.reads() == "replica"
        with transaction.atomic():  # what a transaction reads belongs with what it writes
            assert replica.reads() == "default"
        assert replica.reads() == "replica"
    assert replica.reads() == "default"


def test_a_get_may_read_the_replica_and_the_mark_ends_with_the_request(a_replica, board, api_client):
    redis_forgets(board)

    with queries() as q:
        response = api_client.get(top_10(board))

    assert response.json()["cached"] is False and q.on_replica(STANDINGS)
    assert replica.reads() == "default"  # the request is over: this thread reads the primary again


# --------------------------------------------------------------------------- reads that go to the replica


def test_a_cold_top_10_read_answers_from_the_replica_and_warms_from_the_primary(a_replica, board, api_client):
    api_client.get(top_10(board))  # the process learns the board and the repair marks
    redis_forgets(board)

    with queries() as q:
        cold = api_client.get(top_10(board))

    assert cold.json()["cached"] is False and entries(cold) == list(SCORES.items())
    # The page, the total, the entries above the page: as the query-count tests pin, on the replica.
    assert len(q.on_replica()) == 3 and all(STANDINGS in sql for sql in q.on_replica())
    # The primary: the warm's, the bucket's size and the rows committed while it streamed (the rows
    # themselves came through its own cursor, which Django does not count, on the primary too).
    assert len(q.on_primary(STANDINGS)) == 2 and not any("ORDER BY" in sql for sql in q.on_primary(STANDINGS))
    rendered.forget_all()  # the read-cache interval passes: the page is rendered anew, from Redis
    with queries() as q:
        warm = api_client.get(top_10(board))
    assert warm.json()["cached"] is True and entries(warm) == entries(cold)
    assert q.on_replica() == [] and q.on_primary() == []


def test_every_fallback_read_answers_from_the_replica_when_redis_is_down(a_replica, disposable_redis, api_client):
    board = BoardFactory()
    seed(board, SCORES)
    base = f"/api/v1/boards/{board.slug}"
    disposable_redis.stop()

    with queries() as q:
        responses = [
            api_client.get(top_10(board)),
            api_client.get(f"{base}/leaderboard/daily/around/bob?limit=1"),
            api_client.get(f"{base}/leaderboard/daily/users?user_ids=cat,ann"),
            api_client.get(f"{base}/leaderboard/daily/rank/bob"),
            api_client.get(f"{base}/users/bob/stats"),
            api_client.get(f"{base}/users/bob/history/daily"),
        ]

    assert [r.status_code for r in responses] == [200] * 6, [r.content for r in responses]
    assert all(r.json()["cached"] is False for r in responses[:4])
    assert responses[3].json()["rank"] == 2 and responses[4].json()["scores"]["daily"] == 20
    assert q.on_replica(STANDINGS) and q.on_primary(STANDINGS) == []


def test_reports_read_the_replica(a_replica, auth_client):
    board = BoardFactory(slug="hs", operator=Board.Operator.BEST)
    for user_id, value in SCORES.items():
        services.score_submit(board=board, user_id=UserFactory(username=user_id).username, value=value)
    day = timezone.now().date().isoformat()

    with queries() as q:
        report = auth_client.get(f"/api/v1/reports/top-players?board=hs&start_date={day}&end_date={day}")
        archives = auth_client.get("/api/v1/reports/archives?board=hs")

    assert report.status_code == 200 and [e["user_id"] for e in report.json()["entries"]] == list(SCORES)
    assert archives.status_code == 200
    assert q.on_replica(EVENTS) and q.on_replica(PeriodArchive._meta.db_table)
    assert q.on_primary(EVENTS) == [] and q.on_primary(PeriodArchive._meta.db_table) == []


def test_a_replica_that_is_down_fails_only_the_reads_redis_cannot_answer(a_replica, board, api_client):
    lagging = connections["replica"]
    mirrored = lagging.settings_dict
    lagging.close()
    lagging.settings_dict = {**mirrored, "PORT": "1"}  # nothing listens there: connecting fails for real
    try:
        redis_forgets(board)
        cold = api_client.get(top_10(board))
        warm = api_client.get(top_10(board))
    finally:
        lagging.close()
        lagging.settings_dict = mirrored

    assert cold.status_code == 503, cold.content  # as the primary's failure would answer
    # The cold read had warmed the bucket from the primary: Redis answers the next one.
    assert warm.status_code == 200 and warm.json()["cached"] is True and entries(warm) == list(SCORES.items())


# --------------------------------------------------------------------------- what stays on the primary


def test_warming_repair_reconciliation_and_archives_read_the_primary_only(a_replica, board):
    now = timezone.now()
    daily = board.bucket("daily", now)
    redis_forgets(board)

    with replica.lag_allowed(), queries() as q:  # as inside a read-only request
        warming.bucket_warm(board=board, bucket=daily, trigger="test")
        warming.buckets_mark_for_repair(board=board, buckets=[daily], reason="test")
        assert warming.buckets_repair_marked() == 1
        run = sync.reconciliation_run(trigger="test")
        selectors.board_drift(board=board)
        rollover.bucket_finalise(board=board, bucket=daily, end=now, reason=PeriodArchive.Reason.RESET)

    assert run.status == "succeeded", run.detail
    assert q.on_replica() == []
    assert q.on_primary(STANDINGS)


def test_a_submit_writes_and_reads_the_primary_only(a_replica, board, auth_client):
    redis_forgets(board)

    with queries() as q:
        response = auth_client.post(f"/api/v1/boards/{board.slug}/scores", {"value": 5}, format="json")

    assert response.status_code == 201, response.content
    assert q.on_replica() == []


def test_reads_inside_a_transaction_use_the_primary(a_replica, board):
    redis_forgets(board)

    with replica.lag_allowed(), transaction.atomic(), queries() as q:
        page = selectors.leaderboard_page(board=board, period="daily")

    assert page.cached is False and q.on_replica() == []


def test_http_through_the_asgi_app_reads_the_primary(a_replica, board):
    """Django sends ``request_started`` there from a task whose context the view never sees: no mark, no replica."""
    redis_forgets(board)

    with queries() as q:
        response = async_to_sync(AsyncClient().get)(top_10(board))

    assert response.status_code == 200 and response.json()["cached"] is False
    assert q.on_replica() == []


def test_rows_read_on_the_replica_are_written_to_the_primary(a_replica, board):
    rollover.bucket_finalise(board=board, bucket=board.bucket("daily", timezone.now()), end=timezone.now())
    with replica.lag_allowed():
        archive = PeriodArchive.objects.using(replica.reads()).get(board=board)  # as the reports read archives
    assert archive._state.db == "replica"

    archive.triggered_by = "moderator"
    with queries() as q:
        archive.save(update_fields=["triggered_by"])

    assert q.on_replica() == [] and len(q.on_primary(PeriodArchive._meta.db_table)) == 1
    router = replica.PrimaryRouter()
    assert router.allow_migrate("default", "leaderboard") and not router.allow_migrate("replica", "leaderboard")


# --------------------------------------------------------------------------- a replica that lags


def test_a_lagging_replica_never_moves_redis_backwards(a_replica, board, api_client):
    with replica_frozen_now():
        services.score_submit(board=board, user_id="cat", value=50)  # cat: 10 -> 60 on the primary only
        daily = board.bucket("daily", timezone.now())
        redis_forgets(board)

        # The read answers from the replica (its view, as old as its lag), and warms from the primary.
        cold = api_client.get(top_10(board))
        assert cold.json()["cached"] is False
        assert entries(cold) == [("ann", 30), ("bob", 20), ("cat", 10)]
        assert redis_members(board, daily) == {"ann": 30, "bob": 20, "cat": 60}
        rendered.forget_all()  # the read-cache interval passes
        warm = api_client.get(top_10(board))
        assert warm.json()["cached"] is True
        assert entries(warm) == [("cat", 60), ("ann", 30), ("bob", 20)]

        # Warming, whoever calls it, and a user's details cached on a miss: the primary's scores.
        redis_forgets(board)
        with replica.lag_allowed():
            warming.bucket_warm(board=board, bucket=daily, trigger="test")
        assert redis_members(board, daily) == {"ann": 30, "bob": 20, "cat": 60}
        stats = api_client.get(f"/api/v1/boards/{board.slug}/users/cat/stats").json()
        assert stats["scores"]["daily"] == 60 and stats["cached"] is False
        assert api_client.get(f"/api/v1/boards/{board.slug}/users/cat/stats").json()["scores"]["daily"] == 60


def test_a_request_that_writes_answers_with_its_write_not_the_replicas_view(
    a_replica, disposable_redis, default_boards, settings
):
    """Seed 000's update answers the user's stats after its submit; with Redis down they come from PostgreSQL."""
    from rest_framework.test import APIClient

    from leaderboard_project.conftest_helpers import bearer

    trusted = APIClient()
    trusted.credentials(HTTP_AUTHORIZATION=bearer(UserFactory(is_staff=True)))
    update = "/api/redis-leaderboard/update"
    assert trusted.post(update, {"user_id": "user123", "count": 1}, format="json").status_code == 200

    with replica_frozen_now():
        disposable_redis.stop()
        after = trusted.post(update, {"user_id": "user123", "count": 2}, format="json")
        stats = trusted.get("/api/redis-leaderboard/user/user123")

    assert after.status_code == 200 and after.json()["daily_pomo"] == 3  # the primary: its own write
    assert stats.status_code == 200 and stats.json()["daily_pomo"] == 1  # a later GET: the replica's view


# --------------------------------------------------------------------------- settings


def configured_databases(**env: str) -> dict:
    """``DATABASES`` and ``DATABASE_ROUTERS`` as production's settings read them from ``env``."""
    script = (
        "import json; from leaderboard_project import settings as s; "
        "print(json.dumps({'DATABASES': s.DATABASES, 'ROUTERS': getattr(s, 'DATABASE_ROUTERS', [])}, default=str))"
    )
    base = command_env(redis_url="redis://127.0.0.1:1/0", redis_prefix="unused")
    found = subprocess.run(
        [sys.executable, "-c", script], env={**base, **env}, capture_output=True, text=True, check=True, cwd=os.getcwd()
    )
    return json.loads(found.stdout)


def test_the_replica_url_adds_an_alias_with_the_primarys_options_and_the_router():
    without = configured_databases()
    assert list(without["DATABASES"]) == ["default"] and without["ROUTERS"] == []

    configured = configured_databases(
        DATABASE_REPLICA_URL="postgres://reader:secret@replica.example:6432/leaderboard?sslmode=require",
        DATABASE_POOL="true",
    )
    default, lagging = configured["DATABASES"]["default"], configured["DATABASES"]["replica"]
    assert (lagging["HOST"], lagging["PORT"], lagging["USER"], lagging["NAME"]) == (
        "replica.example",
        6432,
        "reader",
        "leaderboard",
    )
    assert lagging["OPTIONS"] == {**default["OPTIONS"], "sslmode": "require"}
    assert lagging["CONN_MAX_AGE"] == default["CONN_MAX_AGE"] and lagging["TEST"] == {"MIRROR": "default"}
    assert configured["ROUTERS"] == ["leaderboard.replica.PrimaryRouter"]
