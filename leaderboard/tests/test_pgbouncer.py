"""Behind PgBouncer in transaction mode, with the default settings (issue 14).

A transaction pooler lends each transaction whichever server connection is free, so
a statement prepared by name in one transaction is missing from the next one's
server ("prepared statement "_pg3_0" does not exist"), or another client's statement
already holds that name there ("already exists"), or worse, holds it for another SQL
text: psycopg names statements ``_pg3_<n>`` per client connection, so two clients'
``_pg3_0`` may be the submit of an ``increment`` board and of a ``best`` board, and
running the other's would silently apply the wrong operator.

The submit therefore prepares only on a connection that talks to PostgreSQL itself
(its first submit compares the server process that ran it with the one the connection
was opened with; a pooler answers for its own), and a connection on which the server
refuses a prepared statement runs it unprepared from then on, the refused submit
running once more (nothing was written).

The PgBouncer here is Debian's package (installed if missing, as ``.ci/run`` does),
in transaction mode with two server connections shared by sixteen clients, in front of
the test session's PostgreSQL. Each client is a thread of its own with its own Django
connection (persistent, as production's ``CONN_MAX_AGE``) and its own API client.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg.pq
import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from devtools.stack import Child, free_port, port_open, wait_until
from leaderboard import services, warming
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import redis_members
from leaderboard_project.conftest_helpers import bearer
from leaderboard_project.exceptions import ServiceUnavailable, api_exception_handler

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 16
SUBMITS = 1_000
POOL_SIZE = 2  # server connections PgBouncer keeps per database and user, shared by every client


# --------------------------------------------------------------------------- PgBouncer


def pgbouncer_binary() -> str | None:
    """Debian's pgbouncer, installed with apt-get if missing (root only); None if it cannot be."""
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "pgbouncer"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(install, env=env, capture_output=True)
    return "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None


def pgbouncer_version(binary: str) -> tuple[int, ...]:
    first = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.split()
    return tuple(int(part) for part in first[1].split(".")[:2])  # "PgBouncer 1.18.0"


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[int]:
    """A PgBouncer in transaction mode in front of the test PostgreSQL; yields its port."""
    binary = pgbouncer_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pgbouncer is missing: .ci/run installs Debian's pgbouncer package")
        pytest.skip("Debian's pgbouncer is not installed and cannot be (apt-get install pgbouncer)")
    database = django_settings.DATABASES["default"]
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="lb-pgbouncer-"))
    workdir.chmod(0o755)  # PgBouncer refuses to run as root: it runs as nobody then, and reads these files
    (workdir / "users.txt").write_text(f'"{database["USER"]}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={database['HOST'] or '127.0.0.1'} port={database['PORT'] or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {workdir / 'users.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {POOL_SIZE}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                "max_client_conn = 200",
                "query_wait_timeout = 20",
                "ignore_startup_parameters = extra_float_digits,options",
                # 1.21+ can keep prepared statements per client; these tests are about a PgBouncer that does not.
                *(["max_prepared_statements = 0"] if pgbouncer_version(binary) >= (1, 21) else []),
                "",
            ]
        )
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (workdir / name).chmod(0o644)
    log = (workdir / "pgbouncer.log").open("wb")
    popen = subprocess.Popen(
        [binary, str(workdir / "pgbouncer.ini")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        user="nobody" if os.geteuid() == 0 else None,
    )
    child = Child("pgbouncer", popen)
    try:
        wait_until(lambda: port_open(port) or not child.alive(), timeout=20, what="PgBouncer")
        assert child.alive(), (workdir / "pgbouncer.log").read_text()
        yield port
    finally:
        child.stop()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def through_pgbouncer(pgbouncer, transactional_db, settings) -> Iterator[int]:
    """Every Django connection opened meanwhile, in any thread, goes through PgBouncer.

    Connections persist as in production (``CONN_MAX_AGE``), so a client keeps its
    connection to PgBouncer across requests while PgBouncer lends it server
    connections transaction by transaction. Rate limits are off: the clients are
    many requests from one address.
    """
    settings.LEADERBOARD_SUBMIT_RATE_USER = ""
    settings.LEADERBOARD_SUBMIT_RATE_IP = ""
    real = {key: connection.settings_dict[key] for key in ("HOST", "PORT", "CONN_MAX_AGE")}
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(pgbouncer), CONN_MAX_AGE=60)
    try:
        yield pgbouncer
    finally:
        connection.close()
        connection.settings_dict.update(real)


def clients_run(count: int, work: Callable[[int], Counter[int]]) -> tuple[Counter[int], float]:
    """``work(i)`` on ``count`` threads at once, each with its own connection; their statuses added up, seconds."""
    start = threading.Barrier(count)
    results: list[Counter[int]] = [Counter() for _ in range(count)]
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported by the test, not lost in a thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise failures[0]
    return sum(results, Counter()), elapsed


def api_client(user) -> APIClient:
    """A client that answers a server error with its response (a 500), as a real one would."""
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def scores(board: Board) -> list[int]:
    return list(Standing.objects.filter(board=board, period="all_time").values_list("score", flat=True))


def all_time_total(board: Board) -> int:
    return sum(scores(board))


# --------------------------------------------------------------------------- under load


def test_a_thousand_submits_from_sixteen_clients_through_pgbouncer_answer_no_5xx_and_total_exactly(
    through_pgbouncer,
):
    board = BoardFactory()
    warming.board_warm(board=board)  # Redis holds the board: each submit is mirrored there too
    users = UserFactory.create_batch(CLIENTS)
    rng = random.Random(14)
    values = [rng.randint(1, 100) for _ in range(SUBMITS)]
    shares = [values[i::CLIENTS] for i in range(CLIENTS)]  # 62 or 63 submits each

    def client(i: int) -> Counter[int]:
        api = api_client(users[i])
        statuses: Counter[int] = Counter()
        for value in shares[i]:
            response = api.post(f"/api/v1/boards/{board.slug}/scores", {"value": value}, format="json")
            statuses[response.status_code] += 1
        return statuses

    statuses, elapsed = clients_run(CLIENTS, client)

    figures = f"{SUBMITS} submits from {CLIENTS} clients through PgBouncer in {elapsed:.1f} s: {dict(statuses)}"
    print(figures)
    assert statuses == {201: SUBMITS}, figures
    assert ScoreEvent.objects.filter(board=board).count() == SUBMITS
    assert all_time_total(board) == sum(values)
    bucket = board.bucket("all_time", timezone.now())
    assert sum(redis_members(board, bucket).values()) == sum(values)


def test_idempotency_keys_replayed_by_sixteen_clients_through_pgbouncer_count_once(through_pgbouncer):
    board = BoardFactory()
    user = UserFactory()
    keyed = {f"key-{n}": n + 1 for n in range(20)}  # each client sends every key, in an order of its own

    def client(i: int) -> Counter[int]:
        api = api_client(user)
        statuses: Counter[int] = Counter()
        for key in random.Random(i).sample(sorted(keyed), len(keyed)):
            response = api.post(
                f"/api/v1/boards/{board.slug}/scores",
                {"value": keyed[key], "idempotency_key": key},
                format="json",
            )
            statuses[response.status_code] += 1
        return statuses

    statuses, elapsed = clients_run(CLIENTS, client)

    figures = f"{CLIENTS} clients x {len(keyed)} keys through PgBouncer in {elapsed:.1f} s: {dict(statuses)}"
    print(figures)
    assert statuses == {201: len(keyed), 200: (CLIENTS - 1) * len(keyed)}, figures
    assert ScoreEvent.objects.filter(board=board).count() == len(keyed)
    assert all_time_total(board) == sum(keyed.values())


def test_boards_of_different_operators_through_pgbouncer_each_keep_their_own(through_pgbouncer):
    """Two clients' ``_pg3_0`` on one server connection may be two different submit statements."""
    summed = BoardFactory(operator=Board.Operator.INCREMENT)
    best = BoardFactory(operator=Board.Operator.BEST)
    users = UserFactory.create_batch(CLIENTS)
    rounds = 12

    def client(i: int) -> Counter[int]:
        api = api_client(users[i])
        board = summed if i % 2 else best
        statuses: Counter[int] = Counter()
        for n in range(rounds):
            response = api.post(f"/api/v1/boards/{board.slug}/scores", {"value": n + 1}, format="json")
            statuses[response.status_code] += 1
        return statuses

    statuses, _ = clients_run(CLIENTS, client)

    assert statuses == {201: CLIENTS * rounds}
    # Each player submitted 1, 2, ..., 12: the increment board adds them up, the best board keeps 20.
    assert scores(summed) == [rounds * (rounds + 1) // 2] * (CLIENTS // 2)
    assert scores(best) == [rounds] * (CLIENTS // 2)


class ServerConnections:
    """PgBouncer's server connections (``POOL_SIZE`` of them), steered: a transaction held open keeps one busy."""

    def __init__(self, port: int) -> None:
        database = connection.settings_dict
        self.dsn = f"host=127.0.0.1 port={port} dbname={database['NAME']} user={database['USER']}"
        held = [self.hold() for _ in range(POOL_SIZE)]
        self.pids = [pid for _, pid in held]
        for conn, _ in held:
            conn.execute("DEALLOCATE ALL")  # what earlier tests left prepared there
            self.release(conn)

    def hold(self) -> tuple[psycopg.Connection, int]:
        conn = psycopg.connect(self.dsn)
        row = conn.execute("SELECT pg_backend_pid()").fetchone()  # opens a transaction: the server is ours
        assert row is not None
        return conn, int(row[0])

    @staticmethod
    def release(conn: psycopg.Connection) -> None:
        """End the transaction first: PgBouncer closes a server connection its client left in one."""
        conn.rollback()
        conn.close()

    @contextlib.contextmanager
    def only(self, pid: int) -> Iterator[None]:
        """Every server connection but ``pid`` busy meanwhile: clients' transactions all run on ``pid``."""
        held = [self.hold() for _ in range(POOL_SIZE - 1)]
        if any(got == pid for _, got in held):
            held.append(self.hold())
            for conn, got in held:
                if got == pid:
                    self.release(conn)
            held = [(conn, got) for conn, got in held if got != pid]
        try:
            yield
        finally:
            for conn, _ in held:
                self.release(conn)


@pytest.mark.parametrize(
    ("setting", "total"),
    [("auto", 5 + 3), ("true", 5)],
    ids=["by-default-its-own", "forced-on-with-pgbouncer-1.18-the-other-clients"],
)
def test_a_submit_through_pgbouncer_runs_its_own_statement_not_another_clients_of_the_same_name(
    through_pgbouncer, settings, setting, total
):
    """Client A's ``_pg3_0`` (an increment board's submit) prepared on one server connection, client B's
    (a best board's) on the other; A's next submit lands on B's. Forced on (``true``, which is for PgBouncer
    1.21+ with ``max_prepared_statements``), PgBouncer runs B's statement with A's values, without an
    error: GREATEST(5, 3), not 5 + 3. By default neither client prepares behind PgBouncer."""
    settings.DATABASE_PREPARED_STATEMENTS = setting
    summed = BoardFactory(operator=Board.Operator.INCREMENT)
    best = BoardFactory(operator=Board.Operator.BEST)
    a, b = UserFactory(), UserFactory()
    servers = ServerConnections(through_pgbouncer)
    first, second = servers.pids

    def client_b() -> None:
        try:
            services.score_submit(board=best, user_id=b.username, value=7)
        finally:
            connection.close()

    with servers.only(first):
        services.score_submit(board=summed, user_id=a.username, value=5)
    with servers.only(second):
        other = threading.Thread(target=client_b)
        other.start()
        other.join()
        services.score_submit(board=summed, user_id=a.username, value=3)

    assert scores(summed) == [total]
    assert scores(best) == [7]


# --------------------------------------------------------------------------- what the connection sends


@contextlib.contextmanager
def protocol_trace() -> Iterator[list[str]]:
    """The messages this thread's connection sends meanwhile (libpq's trace), one line each."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        try:
            yield lines
        finally:
            pgconn.untrace()
            trace.seek(0)
            lines += [line.rstrip() for line in trace if line.startswith("F\t")]


def named_statements(lines: list[str]) -> list[str]:
    """The Parse and Bind messages that name a prepared statement (psycopg's are ``_pg3_<n>``)."""
    return [line for line in lines if line.split("\t")[2:3] in (["Parse"], ["Bind"]) and '"_pg3_' in line]


def test_behind_pgbouncer_the_submit_never_names_a_prepared_statement(through_pgbouncer):
    board = BoardFactory()
    user = UserFactory()

    with protocol_trace() as sent:
        for value in range(1, 6):
            services.score_submit(board=board, user_id=user.username, value=value)

    assert named_statements(sent) == []
    assert all_time_total(board) == 15


def test_on_a_direct_connection_the_submit_is_prepared_from_its_second_run(transactional_db):
    """The first submit on a connection runs unprepared and tells a direct connection from a pooler's."""
    board = BoardFactory()
    user = UserFactory()

    with protocol_trace() as sent:
        for value in range(1, 5):
            services.score_submit(board=board, user_id=user.username, value=value)

    named = named_statements(sent)
    assert [line.split("\t")[2] for line in named] == ["Parse", "Bind", "Bind", "Bind"]
    assert all_time_total(board) == 10


def test_with_prepared_statements_off_a_direct_connection_prepares_nothing(transactional_db, settings):
    settings.DATABASE_PREPARED_STATEMENTS = "false"
    board = BoardFactory()
    user = UserFactory()

    with protocol_trace() as sent:
        for value in range(1, 5):
            services.score_submit(board=board, user_id=user.username, value=value)

    assert named_statements(sent) == []


# --------------------------------------------------------------------------- a refused prepared statement


def deallocate_all() -> None:
    """What a pooler's server switch looks like to a prepared connection: its statements are gone."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")


def prepared_here() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("key", [None, "once"], ids=["keyless", "keyed"])
def test_a_prepared_statement_missing_on_the_server_is_run_again_unprepared_and_counted_once(transactional_db, key):
    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)
    services.score_submit(board=board, user_id=user.username, value=2)  # now prepared
    assert prepared_here() == 1
    deallocate_all()

    result = services.score_submit(board=board, user_id=user.username, value=4, idempotency_key=key)
    replay = services.score_submit(board=board, user_id=user.username, value=4, idempotency_key=key)

    assert result.scores["all_time"] == 7 and not result.replayed
    assert replay.replayed == (key is not None)
    assert all_time_total(board) == (7 if key else 11)
    assert ScoreEvent.objects.filter(board=board).count() == (3 if key else 4)
    assert prepared_here() == 0  # that connection runs it unprepared from then on


def test_a_statement_name_taken_on_the_server_is_run_again_unprepared(transactional_db):
    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)  # the connection is direct
    with connection.cursor() as cursor:  # another client's statement under the name psycopg picks next
        cursor.execute("PREPARE _pg3_0 AS SELECT 1")

    result = services.score_submit(board=board, user_id=user.username, value=2)

    assert result.scores["all_time"] == 3
    assert ScoreEvent.objects.filter(board=board).count() == 2


def test_a_refused_prepared_statement_inside_the_callers_transaction_is_a_503(transactional_db):
    """The caller's transaction is aborted: the submit cannot run again in it, and says so as a 503."""
    board = BoardFactory()
    user = UserFactory()
    services.score_submit(board=board, user_id=user.username, value=1)
    services.score_submit(board=board, user_id=user.username, value=2)
    deallocate_all()

    with pytest.raises(ServiceUnavailable) as refused, transaction.atomic():
        services.score_submit(board=board, user_id=user.username, value=4)

    response = api_exception_handler(refused.value, {})
    assert response is not None and response.status_code == 503 and response["Retry-After"]
    assert "nothing was written" in response.data["detail"]
    assert ScoreEvent.objects.filter(board=board).count() == 2


def test_prepared_statements_forced_on_behind_pgbouncer_fall_back_per_connection_without_a_5xx(
    through_pgbouncer, settings
):
    """``DATABASE_PREPARED_STATEMENTS=true`` is for PgBouncer 1.21+ with ``max_prepared_statements``; without
    it, each connection's first refusal turns preparing off for that connection, and the submit runs again."""
    settings.DATABASE_PREPARED_STATEMENTS = "true"
    board = BoardFactory()
    users = UserFactory.create_batch(CLIENTS)
    rounds = 10

    def client(i: int) -> Counter[int]:
        api = api_client(users[i])
        statuses: Counter[int] = Counter()
        for n in range(rounds):
            response = api.post(f"/api/v1/boards/{board.slug}/scores", {"value": n + 1}, format="json")
            statuses[response.status_code] += 1
        return statuses

    statuses, _ = clients_run(CLIENTS, client)

    assert statuses == {201: CLIENTS * rounds}
    assert all_time_total(board) == CLIENTS * rounds * (rounds + 1) // 2
