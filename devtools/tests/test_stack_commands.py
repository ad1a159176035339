"""The README's commands, run as a user runs them: in subprocesses, on real servers (issue 17).

These tests start the stack's own persistent PostgreSQL and Valkey in a
temporary data directory on free, non-default ports, never the servers of the
test session (their variables are removed from the children's environment).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from devtools.stack import ROOT, RunFile, free_port, port_open

PYTHON = str(Path(sys.executable))
# What the test session sets for itself and a user's shell would not have.
SESSION_ONLY = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CHANNELS_REDIS_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "STACK_REDIS_CLUSTER",
    "SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
    "PROMETHEUS_MULTIPROC_DIR",
    "EMBEDDED_POSTGRES_PORT",
    "EMBEDDED_REDIS_PORT",
    "PORT",
    "WS_PORT",
    "STACK_DATA_DIR",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
)


def user_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SESSION_ONLY}
    env.update(extra)
    return env


class Output:
    """A child's combined output, collected by a thread so that it never blocks on a full pipe."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(popen,), daemon=True)
        self._thread.start()

    def _pump(self, popen: subprocess.Popen[str]) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, *, timeout: float, popen: subprocess.Popen[str]) -> float:
        """Seconds until ``needle`` appeared; fails if the child exits or time runs out first."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if needle in self.text:
                return time.monotonic() - started
            assert popen.poll() is None, f"exited with {popen.returncode} before {needle!r}:\n{self.text}"
            time.sleep(0.1)
        raise AssertionError(f"no {needle!r} within {timeout}s:\n{self.text}")


def start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], Output]:
    popen = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    return popen, Output(popen)


def interrupt(popen: subprocess.Popen[str], *, timeout: float = 60) -> int:
    """Ctrl-C, as in a terminal (the stack runs in its own session here: signal it alone)."""
    popen.send_signal(signal.SIGINT)
    try:
        return popen.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        raise


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def pid_alive(pid: int) -> bool:
    from devtools.stack import _pid_alive

    return _pid_alive(pid)


def pg_answers(port: int) -> bool:
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def valkey_answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def data_dir(tmp_path_factory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("stack-data")
    yield path
    # Whatever a failed test left running on this directory is stopped, by pid.
    state = RunFile(path).read()
    for name in ("postgres", "valkey"):
        if state.get(name) and pid_alive(state[name]["pid"]):
            os.kill(state[name]["pid"], signal.SIGKILL)


def test_a_helper_uses_the_running_servers_and_the_last_command_stops_them(data_dir):
    """A helper without the port variables finds the running servers from the data directory.

    It must neither stop them (the bug: it took them for a crashed run's) nor start
    others; and servers a command started stay up while another live command uses them.
    """
    pg_port, rd_port = free_port(), free_port()
    services, output = start(
        [PYTHON, "-m", "devtools.stack", "services"],
        user_env(STACK_DATA_DIR=str(data_dir), EMBEDDED_POSTGRES_PORT=str(pg_port), EMBEDDED_REDIS_PORT=str(rd_port)),
    )
    try:
        output.wait_for("export REDIS_URL", timeout=90, popen=services)
        state = RunFile(data_dir).read()
        assert state["postgres"]["port"] == pg_port and state["valkey"]["port"] == rd_port
        postmaster = state["postgres"]["pid"]

        # `python` is the venv's (stack exec puts it first on PATH), and the URLs name the running servers.
        helper = run(
            [
                PYTHON,
                "-m",
                "devtools.stack",
                "exec",
                "--persistent",
                "--",
                "python",
                "-c",
                "import os, django; print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'])",
            ],
            user_env(STACK_DATA_DIR=str(data_dir)),
        )
        assert helper.returncode == 0, helper.stdout
        assert f"127.0.0.1:{pg_port}/leaderboard 127.0.0.1:{rd_port}" in helper.stdout.replace("redis://", "")
        assert "stopping" not in helper.stdout, helper.stdout
        assert pg_answers(pg_port) and valkey_answers(rd_port) and pid_alive(postmaster)

        # A helper still working when the command that started the servers ends keeps them up.
        slow, slow_output = start(
            [
                PYTHON,
                "-m",
                "devtools.stack",
                "exec",
                "--persistent",
                "--",
                "python",
                "-c",
                "import os, sys, time, psycopg\n"
                "print('started', flush=True)\n"
                "while not os.path.exists(sys.argv[1]): time.sleep(0.1)\n"
                "psycopg.connect(os.environ['DATABASE_URL']).execute('SELECT 1')\n"
                "print('database still there', flush=True)",
                str(data_dir / "go"),
            ],
            user_env(STACK_DATA_DIR=str(data_dir)),
        )
        slow_output.wait_for("started", timeout=30, popen=slow)
    finally:
        code = interrupt(services)
    assert code == 0, output.text
    assert "leaving PostgreSQL and Valkey running" in output.text
    assert pg_answers(pg_port) and valkey_answers(rd_port)
    (data_dir / "go").touch()
    assert slow.wait(60) == 0, slow_output.text
    assert "database still there" in slow_output.text
    # The last user stopped them.
    assert not pid_alive(postmaster) and not port_open(pg_port) and not port_open(rd_port)
    assert not (data_dir / "stack.json").exists()


def test_the_readme_commands_keep_the_system_ready(data_dir):
    """The run command, then the documented command forms while it runs, then Ctrl-C.

    "the system is up" is said only once every server answers and /readyz is
    ready with a fresh Celery heartbeat; a helper (without the port variables) and
    a second helper (with them) leave it ready; Ctrl-C leaves nothing running.
    """
    readme = (ROOT / "README.md").read_text()
    assert "./manage warm_cache" in readme and "make run" in readme
    ports = {name: free_port() for name in ("PORT", "WS_PORT", "EMBEDDED_POSTGRES_PORT", "EMBEDDED_REDIS_PORT")}
    lean = {"WEB_WORKERS": "1", "WS_WORKERS": "1", "CELERY_CONCURRENCY": "1"}  # two cores, shared
    run_env = user_env(
        STACK_DATA_DIR=str(data_dir),
        STATIC_ROOT=str(data_dir / "static"),
        **lean,
        **{k: str(v) for k, v in ports.items()},
    )
    system, output = start([PYTHON, "-m", "devtools.stack", "run"], run_env)
    try:
        output.wait_for("the system is up", timeout=150, popen=system)
        status, body = readyz(ports["PORT"])
        assert (status, body.get("status")) == (200, "ok"), body
        assert port_open(ports["WS_PORT"])
        state = RunFile(data_dir).read()

        # The documented form, from a shell that does not have the run's variables.
        helper = run(["./manage", "warm_cache"], user_env(STACK_DATA_DIR=str(data_dir)))
        assert helper.returncode == 0, helper.stdout
        assert "warmed" in helper.stdout and "stopping" not in helper.stdout, helper.stdout
        assert readyz(ports["PORT"])[0] == 200

        # A dev tool through the same command: ./manage runs with the dev settings (devtools installed).
        demo = run(["./manage", "seed_demo", "--users", "5", "--events", "20"], user_env(STACK_DATA_DIR=str(data_dir)))
        assert demo.returncode == 0, demo.stdout
        assert "events: 20" in demo.stdout and "done in" in demo.stdout, demo.stdout

        # The make form, with the run's port variables, and a command that failed before (periodic_sync's check).
        second = run(["make", "-s", "manage", "ARGS=periodic_sync status"], run_env)
        assert second.returncode == 0, second.stdout
        assert "hourly schedule: enabled" in second.stdout, second.stdout
        assert readyz(ports["PORT"])[0] == 200
    finally:
        code = interrupt(system)
    assert code == 0, output.text
    for port in ports.values():
        assert not port_open(port), f"port {port} still open:\n{output.text}"
    assert not pid_alive(state["postgres"]["pid"]) and not pid_alive(state["valkey"]["pid"])
    assert not (data_dir / "stack.json").exists()
    # No noise a newcomer has to ask about.
    assert "overcommit" not in output.text and "superuser privileges" not in output.text


def documented_commands() -> list[str]:
    """Every management command the README shows, in the documented form ``./manage <command>``."""
    found = sorted(set(re.findall(r"\./manage ([a-z_]+)", (ROOT / "README.md").read_text())))
    assert {"warm_cache", "seed_demo", "periodic_sync", "createsuperuser"} <= set(found), found
    return found


# The settings `./manage` runs commands with (the stack's): production's plus devtools (seed_demo).
HELP_EACH = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings_dev")
import django
django.setup()
from django.core.management import ManagementUtility
for command in sys.argv[1:]:
    try:
        ManagementUtility(["manage.py", command, "--help"]).execute()
    except SystemExit as exit:
        print(f"== {command} exited {exit.code}", flush=True)
"""


def test_every_documented_management_command_starts(live_server_env):
    """``<command> --help`` of each, in one subprocess (one Django start-up instead of one per command)."""
    commands = documented_commands()
    result = run([PYTHON, "-c", HELP_EACH, *commands], live_server_env, timeout=60)
    assert result.returncode == 0, result.stdout
    for command in commands:
        usage = re.search(rf"usage: manage.py {command} .*?== {command} exited (\S+)", result.stdout, re.S)
        assert usage and usage.group(1) in ("0", "None"), (command, result.stdout)


@pytest.mark.django_db(transaction=True)
def test_periodic_sync_status_runs(live_server_env):
    """It crashed: the command's own ``check`` method hid Django's system checks."""
    result = run([PYTHON, "manage.py", "periodic_sync", "status"], live_server_env, timeout=60)
    assert result.returncode == 0, result.stdout
    assert "hourly schedule:" in result.stdout and "last success:" in result.stdout


@pytest.fixture
def live_server_env(settings) -> dict[str, str]:
    """The environment of a management command on the test session's servers and test database."""
    from django.db import connection

    db = connection.settings_dict
    return user_env(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        # The session's broker and channel layer: with the store on a cluster they are another server.
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CHANNELS_REDIS_URL=settings.CHANNELS_REDIS_URL,
        SECRET_KEY="test-only-secret-key-of-at-least-fifty-characters-0123456789",
        SECURE_HTTPS="false",
    )


def test_make_superuser_without_a_terminal_or_variables_fails_and_says_why():
    result = subprocess.run(
        ["make", "-s", "superuser"],
        cwd=ROOT,
        env=user_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SUPERUSER_USERNAME" in result.stdout and "skipped" not in result.stdout
