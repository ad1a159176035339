"""The project's own surfaces: health, API docs, settings, compose file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_readyz_is_200_when_postgres_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable(client, settings, unused_tcp_port):
    from leaderboard import redis_store

    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"
    redis_store.reset_clients()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


def test_healthz_needs_no_dependency(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/auth/me", "/api/v1/boards/{slug}/scores"):
        assert path in paths
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_admin_login_page_is_served(client):
    assert client.get("/admin/login/").status_code == 200


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECURE_HTTPS", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
        SECRET_KEY="a-production-secret-that-is-long-enough-and-random-0123456789-abcdefghij",
        ALLOWED_HOSTS="leaderboard.example.com",
        **extra,
    )
    return env


def test_check_deploy_is_clean_with_production_variables():
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_settings_refuse_to_start_without_a_secret_key():
    env = production_env()
    env.pop("SECRET_KEY")
    run = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "SECRET_KEY" in run.stderr


def test_debug_is_off_unless_set():
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; import django; django.setup(); print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert run.stdout.strip() == "False", run.stderr


def test_compose_file_names_the_services_and_uses_the_settings_variables():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert name in services, name
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert "DATABASE_URL" in environment and "REDIS_URL" in environment


@pytest.mark.django_db
def test_the_openapi_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert "jwtAuth" in schema["components"]["securitySchemes"]
