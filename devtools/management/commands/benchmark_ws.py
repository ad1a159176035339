"""Live-update benchmark: 1,000 WebSocket clients on one board, 200 submits/s for 20 s.

Starts the real servers on free ports (uvicorn for /ws/, granian for the API),
holds the WebSocket clients in a few processes of their own (one Python process
takes about 50 ms just to read a message on 1,000 sockets, which is the load
generator's time, not the server's), submits through the HTTP API from this
process, and prints the delay from each submit's response to its receipt by the clients (p50/p99),
broadcasts per second per group, and dropped clients. Target on our 2-core
machine (issue 18): p99 under 150 ms, none dropped.

The delay has a floor set by coalescing: a submit that lands just after a
broadcast waits for the next one, up to ``LEADERBOARD_LIVE_MIN_INTERVAL_MS``.
``--interval-ms`` runs the servers with another interval to show that trade-off.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.typing import Origin
from websockets.uri import parse_uri

from devtools.stack import free_port, web_command, websocket_command

SUBMITTER = "runner"
# The trusted account the submits are sent as (submit_for_others): it exists only while the command runs.
SERVER_ACCOUNT = "bench-live-server"


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise CommandError(f"nothing listens on {port}")


def submit_loop(
    port: int, slug: str, token: str, rate: int, duration: int
) -> tuple[list[tuple[float, int]], list[str]]:
    """Paced submits from 8 threads with keep-alive connections.

    Returns (response time, score after) per accepted submit, and the failures.
    ``time.monotonic`` is one clock for every process on Linux, so the times
    compare with the clients' receipt times.
    """
    total = rate * duration
    started = time.monotonic()
    results: list[tuple[float, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))
    body = json.dumps({"value": 1, "user_id": SUBMITTER})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", "Host": "localhost"}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            delay = started + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            conn.request("POST", f"/api/v1/boards/{slug}/scores", body=body, headers=headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            with lock:
                if response.status == 201:
                    results.append((time.monotonic(), payload["scores"]["all_time"]))
                else:
                    failures.append(f"{response.status} {payload}")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, failures


Receipt = tuple[float, int, float | None]  # (monotonic receipt time, leader's score, the broadcast's sent_at)


class LightClient(asyncio.Protocol):
    """A WebSocket client on websockets' sans-I/O protocol, driven straight from the transport.

    The asyncio client of websockets costs about 50 us a message in futures and
    queues; on one machine with the server that is CPU taken from the server and
    shows up as delivery delay. This one only stamps each text frame's arrival
    (and answers pings), so the figures are the server's.
    """

    def __init__(self, url: str, opened: asyncio.Future[None], inbox: list[tuple[float, bytes]]) -> None:
        self.protocol = ClientProtocol(parse_uri(url), origin=Origin("http://localhost"), max_size=None)
        self.opened = opened
        self.inbox = inbox
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.protocol.send_request(self.protocol.connect())
        self.flush()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.inbox.append((now, event.data))
            elif not self.opened.done():  # the handshake's response
                if self.protocol.handshake_exc is None:
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(self.protocol.handshake_exc)
        self.flush()

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data and self.transport is not None and not self.transport.is_closing():
                self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))


def client_process(url: str, port: int, first: int, count: int, conn: Connection) -> None:
    """Hold ``count`` clients (numbered from ``first``) until told to stop; runs in its own process.

    Sends ("ready", connected, dropped) once every client has connected or failed,
    waits for "stop", then sends (receipts per client, dropped).
    """
    received: list[list[tuple[float, bytes]]] = [[] for _ in range(count)]
    clients: list[LightClient | None] = [None] * count
    dropped: set[int] = set()

    async def connect(i: int) -> None:
        loop = asyncio.get_running_loop()
        opened = loop.create_future()
        try:
            _, clients[i] = await loop.create_connection(
                lambda: LightClient(url, opened, received[i]), "127.0.0.1", port
            )
            await asyncio.wait_for(opened, 60)
        except Exception:
            dropped.add(first + i)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, count, 50):
            await asyncio.gather(*(connect(i) for i in range(start, min(count, start + 50))))
        # Our own garbage collection would stall every client at once and look like server
        # latency: collect now, then not during the run.
        gc.collect()
        gc.freeze()
        gc.disable()
        conn.send(("ready", count - len(dropped), sorted(dropped)))
        await loop.run_in_executor(None, conn.recv)  # "stop"
        for i, client in enumerate(clients):
            if client is not None and client.closed and first + i not in dropped:
                dropped.add(first + i)  # the server closed it during the run
            if client is not None and client.transport is not None:
                client.transport.close()

    # uvloop (uvicorn's own loop) keeps the load generator's share of the delay small.
    uvloop.run(main())
    receipts: list[list[Receipt]] = []
    for inbox in received:
        mine = []
        for at, raw in inbox:
            message = json.loads(raw)
            mine.append((at, message["entries"][0]["score"], message.get("sent_at")))
        receipts.append(mine)
    conn.send((receipts, sorted(dropped)))


@dataclass
class Run:
    connected: int = 0
    dropped: set[int] = field(default_factory=set)
    received: list[list[Receipt]] = field(default_factory=list)
    responses: list[tuple[float, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    submit_seconds: float = 0.0


class Command(BaseCommand):
    help = "Benchmark live updates: WebSocket clients, submit rate, delay percentiles, dropped clients."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clients", type=int, default=1000)
        parser.add_argument("--rate", type=int, default=200, help="submits per second")
        parser.add_argument("--duration", type=int, default=20, help="seconds of submitting")
        parser.add_argument(
            "--interval-ms",
            type=int,
            default=settings.LEADERBOARD_LIVE_MIN_INTERVAL_MS,
            help="the servers' LEADERBOARD_LIVE_MIN_INTERVAL_MS (default: this process's setting)",
        )
        parser.add_argument("--client-processes", type=int, default=2, help="processes holding the clients")
        parser.add_argument("--per-broadcast", action="store_true", help="also print each broadcast's fan-out")

    def handle(self, *args, clients: int, rate: int, duration: int, interval_ms: int, **options) -> None:
        # Here, not at the top: the client processes (spawned) import this module without Django set up.
        from rest_framework_simplejwt.tokens import RefreshToken

        from devtools import demo

        with demo.staff_user_temporary(username=SERVER_ACCOUNT) as server_account:
            token = str(RefreshToken.for_user(server_account).access_token)
            run = self.measure(token, clients, rate, duration, interval_ms, options)
        self.report(
            run,
            clients=clients,
            rate=rate,
            duration=duration,
            interval_ms=interval_ms,
            per_broadcast_table=options["per_broadcast"],
        )

    def measure(self, token: str, clients: int, rate: int, duration: int, interval_ms: int, options: dict) -> Run:
        """Start the servers, run the clients and the submits, stop the servers."""
        board = self.prepare()
        env = dict(
            os.environ,
            SECURE_HTTPS="false",
            LOG_LEVEL="WARNING",
            SECRET_KEY=settings.SECRET_KEY,
            DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
            LEADERBOARD_REDIS_PREFIX=settings.LEADERBOARD_REDIS_PREFIX,
            LEADERBOARD_LIVE_MIN_INTERVAL_MS=str(interval_ms),
        )
        ws_port, http_port = free_port(), free_port()
        # The same servers as the run command.
        commands = [
            websocket_command(host="127.0.0.1", port=ws_port),
            web_command(host="127.0.0.1", port=http_port, workers=2, threads=2),
        ]
        servers = [
            subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True) for command in commands
        ]
        try:
            wait_port(ws_port)
            wait_port(http_port)
            time.sleep(1)
            run = self.run(board.slug, ws_port, http_port, token, clients, rate, duration, options["client_processes"])
        finally:
            for server in servers:
                server.send_signal(signal.SIGINT)  # the leader stops its own workers
            for server in servers:
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:  # keep-alive connections can hold a graceful stop
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait(10)
        return run

    def prepare(self):
        """A fresh board with 30 players (a full top 10)."""
        from accounts.services import user_get_or_create_player
        from leaderboard import services, warming
        from leaderboard.models import Board, ScoreEvent, Standing
        from leaderboard.store import connection as store_connection
        from leaderboard.store import keys

        board, _ = Board.objects.update_or_create(
            slug="bench-live",
            defaults={
                "name": "Live benchmark",
                "operator": "increment",
                "periods": ["all_time"],
                "period_resets": {},
                "is_active": True,
                "min_value": 1,
                "max_value": 1000,
                "rate_limit_user": "1000000/min",
            },
        )
        Standing.objects.filter(board=board).delete()
        ScoreEvent.objects.filter(board=board).delete()
        store_connection.keys_delete(keys.board_pattern(board.slug))
        user_get_or_create_player(user_id=SUBMITTER)
        for i in range(30):
            services.score_submit(board=board, user_id=f"bench-player-{i:02d}", value=1, create_user=True)
        warming.board_warm(board=board)
        return board

    def run(self, slug, ws_port, http_port, token, clients, rate, duration, processes) -> Run:
        url = f"ws://127.0.0.1:{ws_port}/ws/boards/{slug}/all_time/"
        context = multiprocessing.get_context("spawn")
        share = -(-clients // processes)
        groups = []
        for first in range(0, clients, share):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=client_process, args=(url, ws_port, first, min(share, clients - first), theirs)
            )
            process.start()
            groups.append((process, ours))
        run = Run()
        try:
            for _, conn in groups:
                if not conn.poll(120):
                    raise CommandError("the clients did not connect within 120 s")
                _, connected, dropped = conn.recv()
                run.connected += connected
                run.dropped.update(dropped)
            self.stdout.write(f"{run.connected} clients connected, submitting for {duration} s ...")
            started = time.monotonic()
            run.responses, run.failures = submit_loop(http_port, slug, token, rate, duration)
            run.submit_seconds = time.monotonic() - started
            time.sleep(2)  # the trailing broadcast and the slowest clients
            for _, conn in groups:
                conn.send("stop")
            for _, conn in groups:
                receipts, dropped = conn.recv()
                run.received.extend(receipts)
                run.dropped.update(dropped)  # clients that lost their connection during the run
        finally:
            for process, _ in groups:
                process.join(30)
                if process.is_alive():
                    process.kill()
        return run

    def report(
        self, run: Run, *, clients: int, rate: int, duration: int, interval_ms: int, per_broadcast_table: bool
    ) -> None:
        to_wall = time.time() - time.monotonic()
        # Per broadcast: each client's delay since it was sent.
        per_broadcast: dict[float, list[float]] = {}
        for inbox in run.received:
            for at, _, sent_at in inbox:
                if sent_at:  # the snapshot on connect has none
                    per_broadcast.setdefault(sent_at, []).append(at + to_wall - sent_at)
        updates = [[(at, score) for at, score, _ in inbox] for inbox in run.received]
        alive = [u for i, u in enumerate(updates) if i not in run.dropped]

        # Each submit's delay: from its response to the first update showing its score, per client.
        responses = sorted(run.responses, key=lambda r: r[1])
        delays: list[float] = []
        for received in alive[:: max(1, len(alive) // 200)]:  # 200 clients x every submit
            j = 0
            for responded, score in responses:
                while j < len(received) and received[j][1] < score:
                    j += 1
                if j == len(received):
                    break
                delays.append(max(0.0, received[j][0] - responded))

        def ms(values: list[float], q: float) -> str:
            return f"{values[min(len(values) - 1, int(len(values) * q))] * 1000:.0f} ms" if values else "n/a"

        delays.sort()
        fan_out = sorted(d for ds in per_broadcast.values() for d in ds)
        last_client = sorted(max(ds) for ds in per_broadcast.values())
        first = min((r[0] for r in responses), default=0.0)
        last = max((r[0] for r in responses), default=0.0)
        # The group's rate during the storm: broadcasts sent, over the time between the first and the last.
        sent = sorted(t for t in per_broadcast if first + to_wall <= t <= last + to_wall + 1)
        rate_sent = (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 else 0.0
        final = max((r[1] for r in responses), default=0)
        missing = sum(1 for received in alive if not received or received[-1][1] < final)

        write = self.stdout.write
        write(f"clients: {clients}, connected {run.connected}, dropped {len(run.dropped)}")
        write(
            f"submits: {len(responses)} accepted, {len(run.failures)} failed, at {rate}/s for {duration} s "
            f"(took {run.submit_seconds:.1f} s); live interval {interval_ms} ms"
        )
        for failure in run.failures[:5]:
            write(f"  failed: {failure}")
        write(
            f"delay from submit response to client receipt: p50 {ms(delays, 0.5)}, p90 {ms(delays, 0.9)}, "
            f"p99 {ms(delays, 0.99)}, max {ms(delays, 1.0)} (target p99 < 150 ms) "
            f"over {len(delays):,} (submit, client) pairs"
        )
        write(
            f"  of which fan-out, broadcast to receipt: p50 {ms(fan_out, 0.5)}, p99 {ms(fan_out, 0.99)}; "
            f"until the last client has it: p50 {ms(last_client, 0.5)}, max {ms(last_client, 1.0)}"
        )
        write(
            f"broadcasts per second per group: {rate_sent:.1f} ({len(sent)} during the storm; "
            f"at most {1000 / interval_ms:.1f}/s allowed)"
        )
        write(f"clients without the final state ({final}): {missing}")
        if per_broadcast_table:
            write("sent at (s)   clients  first / median / last receipt")
            for sent_at in sorted(per_broadcast):
                ds = sorted(per_broadcast[sent_at])
                write(f"{sent_at % 1000:10.3f}  {len(ds):7d}  {ms(ds, 0)} / {ms(ds, 0.5)} / {ms(ds, 1.0)}")
