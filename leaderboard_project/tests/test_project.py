"""The project's own surfaces: health, API docs, settings, compose file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leaderboard.store import connection as store_connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_readyz_is_200_when_postgres_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable(client, settings, unused_tcp_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"
    store_connection.reset_clients()
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


@pytest.mark.django_db
def test_every_response_carries_a_request_id_and_error_bodies_quote_it(client):
    ok = client.get("/healthz")
    assert len(ok["X-Request-ID"]) == 32
    echoed = client.get("/healthz", HTTP_X_REQUEST_ID="trace-1234-abcd")
    assert echoed["X-Request-ID"] == "trace-1234-abcd"
    insane = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert insane["X-Request-ID"] != "bad id\nwith newline"
    missing = client.get("/api/v1/boards/no-such-board", HTTP_X_REQUEST_ID="trace-5678-efgh")
    assert missing.status_code == 404
    assert missing.json()["request_id"] == "trace-5678-efgh"


def test_json_logs_carry_the_request_id():
    import json
    import logging

    from leaderboard_project.observability import JsonFormatter, RequestIdFilter, request_id_var

    token = request_id_var.set("req-42-abcdefgh")
    try:
        record = logging.LogRecord("leaderboard", logging.ERROR, __file__, 1, "boom %s", ("now",), None)
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "boom now" and line["request_id"] == "req-42-abcdefgh" and line["level"] == "ERROR"


@pytest.mark.django_db
def test_metrics_are_exported_and_can_require_a_token(client, settings):
    from leaderboard import metrics

    metrics.SUBMITS.labels("any", "accepted").inc()
    body = client.get("/metrics").content.decode()
    assert "leaderboard_submits_total" in body and "django_http_requests" in body
    settings.METRICS_TOKEN = "s3cret-token-value"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-value").status_code == 200


@pytest.mark.django_db
def test_readyz_reports_the_celery_heartbeat_and_can_require_it(client, settings):
    from leaderboard.tasks import heartbeat

    degraded = client.get("/readyz")
    assert degraded.status_code == 200 and degraded.json()["status"] == "degraded"
    settings.READYZ_REQUIRE_WORKERS = True
    assert client.get("/readyz").status_code == 503
    heartbeat.delay()  # eager in tests: what beat and a worker do every 30 s
    fresh = client.get("/readyz")
    assert fresh.status_code == 200 and fresh.json()["status"] == "ok"


def _wsgi_environ(path: str, query: str = "", **extra) -> dict:
    import io

    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        **extra,
    }


@pytest.mark.django_db
def test_the_wsgi_entry_point_hands_over_whole_bodies_and_ends_the_request():
    from django.core.signals import request_finished

    from leaderboard_project.wsgi import application

    started: list[str] = []
    finished: list[bool] = []

    def on_finished(**_):
        finished.append(True)

    request_finished.connect(on_finished)
    try:
        body = application(_wsgi_environ("/healthz"), lambda status, headers, exc=None: started.append(status))
    finally:
        request_finished.disconnect(on_finished)
    assert started == ["200 OK"]
    assert isinstance(body, list) and b'"status"' in b"".join(body)
    assert finished == [True]  # closed here, as a server would after sending it


@pytest.mark.django_db
def test_content_negotiation_serves_json_and_refuses_what_it_cannot_render(client):
    from leaderboard.tests.factories import BoardFactory

    board = BoardFactory()
    url = f"/api/v1/boards/{board.slug}"
    for accept in ("*/*", "application/json", "application/json; indent=2", "text/html;q=0.5, */*;q=0.1"):
        response = client.get(url, HTTP_ACCEPT=accept)
        assert response.status_code == 200, accept
        assert response["Content-Type"].startswith("application/json")
    assert client.get(url, HTTP_ACCEPT="application/xml").status_code == 406
    assert client.get(url).status_code == 200  # no Accept header at all
