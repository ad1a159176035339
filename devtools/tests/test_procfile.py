"""The process list is written once, in the Procfile: `make run`, the image and compose start its lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from devtools import stack

ROOT = stack.ROOT
LAUNCHER = str(stack.LAUNCHER)
# The commands `make run` started before the Procfile existed, with its default variables; since
# then the WebSocket server names its protocol (websockets-sansio: a faster fan-out, see Procfile).
STACK_COMMANDS_BEFORE = {
    "web": "granian --interface wsgi --host 127.0.0.1 --port 8000 --workers 2 --blocking-threads 2 --no-ws "
    "--log-level warning leaderboard_project.wsgi:application",
    "ws": "uvicorn leaderboard_project.asgi:application --host 127.0.0.1 --port 8001 --ws websockets-sansio "
    "--ws-per-message-deflate false "
    "--workers 2 --no-access-log --log-level warning",
    "worker": "celery -A leaderboard_project worker --loglevel info --concurrency 2",
    "beat": "celery -A leaderboard_project beat --loglevel info "
    "--scheduler leaderboard.beat:SingleBeatScheduler --pidfile=",
}


def test_make_run_starts_every_procfile_process_through_the_launcher():
    names = list(stack.procfile())
    assert names == ["web", "ws", "worker", "beat"]
    started = stack.run_processes()
    assert [argv[-2:] for _, argv in started] == [[LAUNCHER, name] for name in names]
    assert [process for process, _ in started] == [stack.PROCESSES[name] for name in names]


def expand(name: str, tmp_path: Path, **variables: str) -> list[str]:
    """The argv ``deploy/proc name`` execs, caught by stand-ins for the servers that print theirs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for program in ("granian", "uvicorn", "celery"):
        fake = bin_dir / program
        fake.write_text('#!/bin/sh\nprintf "%s\\n" "$(basename "$0")" "$@"\n')
        fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", **variables}
    run = subprocess.run([LAUNCHER, name], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def test_each_line_is_the_command_the_stack_ran_before(tmp_path):
    for name, command in STACK_COMMANDS_BEFORE.items():
        assert expand(name, tmp_path) == command.split(), name


def test_the_lines_take_the_stacks_and_the_images_variables(tmp_path):
    web = expand("web", tmp_path, HOST="0.0.0.0", PORT="9000", WEB_WORKERS="4", WEB_THREADS="3")
    assert web[web.index("--host") + 1 :][:7] == [
        "0.0.0.0",
        "--port",
        "9000",
        "--workers",
        "4",
        "--blocking-threads",
        "3",
    ]
    ws = expand("ws", tmp_path, HOST="0.0.0.0", WS_PORT="9001", WS_WORKERS="1")
    assert ws[2:6] == ["--host", "0.0.0.0", "--port", "9001"] and ws[ws.index("--workers") + 1] == "1"
    assert expand("worker", tmp_path, CELERY_CONCURRENCY="1")[-2:] == ["--concurrency", "1"]


def test_the_launcher_becomes_the_server_so_signals_reach_it(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"probe: {sys.executable} -c 'import os; print(os.getpid())'\n")
    argv = stack.procfile_command("probe", PROCFILE=procfile)
    child = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out, _ = popen.communicate(timeout=30)
    assert child.stdout.strip().isdigit() and int(out) == popen.pid


def test_the_launcher_refuses_unknown_names(tmp_path):
    for name in ("nope", "", "web;id", "../x"):
        run = subprocess.run([LAUNCHER, name], capture_output=True, text=True, timeout=30, env=dict(os.environ))
        assert run.returncode == 2, name
        assert "Procfile" in run.stderr


def test_the_image_and_compose_start_the_procfile_lines_and_write_no_command_line():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["/app/deploy/proc", "web"]' in dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "command" not in services["web"]  # the image's CMD
    for name in ("ws", "worker", "beat"):
        assert services[name]["command"] == ["/app/deploy/proc", name], name
    started = {"web"} | {n for n in ("ws", "worker", "beat") if services[n]["command"][0] == "/app/deploy/proc"}
    assert started == set(stack.procfile())
    # No server command line written a second time (healthchecks may still ask celery for a ping).
    for text in (dockerfile, yaml.safe_dump({k: v.get("command") for k, v in services.items()})):
        for fragment in ("granian", "uvicorn", "SingleBeatScheduler", "--concurrency"):
            assert fragment not in text
