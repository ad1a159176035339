"""The live page: served by Django, configured with the WebSocket endpoint, and driven in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.utils import timezone

from leaderboard import services
from leaderboard.models import Standing
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import bearer

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.django_db
def test_the_page_carries_the_boards_and_the_websocket_endpoint_from_settings(client, settings):
    BoardFactory(slug="tokyo-board", periods=["daily"])
    settings.LIVE_WEBSOCKET_PORT = "9123"
    settings.LIVE_WEBSOCKET_URL = ""
    page = client.get("/")
    assert page.status_code == 200
    config = json.loads(page.context["config"])
    assert config["websocketPort"] == "9123"
    assert {"slug": "tokyo-board", "name": "Tokyo-Board", "periods": ["daily"]} in config["boards"]
    assert b'type="module"' in page.content and b"viewport" in page.content


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def asgi_server(settings):
    """The real ASGI application under uvicorn, in a thread of this process (same settings)."""
    import uvicorn

    from leaderboard_project.asgi import application

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    settings.LIVE_WEBSOCKET_PORT = str(port)
    yield port
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def chromium(monkeypatch):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's ORM calls stay plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_page_shows_the_top_10_updates_live_and_finds_a_rank(
    live_server, asgi_server, chromium, monkeypatch, tmp_path, staff
):
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    board = BoardFactory(slug="arena", name="Arena", periods=["daily", "all_time"])
    now = timezone.now()
    for i in range(12):
        UserFactory(username=f"player{i:02d}")
    Standing.objects.bulk_create(
        Standing(
            board=board,
            period=b.period,
            bucket_start=b.start,
            user_id=f"player{i:02d}",
            score=1000 - 10 * i,
            created_at=now,
            updated_at=now,
        )
        for i in range(12)
        for b in board.live_buckets(now)
    )
    services.board_warm(board=board)

    page = chromium.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{live_server.url}/?board=arena&period=all_time")
    page.wait_for_selector("body[data-connection=live]", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('#entries tr[data-user]').length === 10", timeout=10_000)
    rows = page.locator("#entries tr[data-user]")
    assert rows.first.get_attribute("data-user") == "player00"

    # A submit through the API reaches the page within a second, without a reload.
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/boards/arena/scores",
        data=json.dumps({"value": 5000, "user_id": "player11"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": bearer(staff)},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    started = time.monotonic()
    page.wait_for_function(
        "document.querySelector('#entries tr[data-user]').dataset.user === 'player11'", timeout=1_000
    )
    assert time.monotonic() - started < 1.0
    assert page.locator("#entries tr[data-user]").first.inner_text().split() == ["1", "player11", "5,890"]

    page.fill("#user", "player03")
    page.click("#search button")
    page.wait_for_function("document.getElementById('result').dataset.rank === '5'", timeout=5_000)
    assert "rank 5 of 12" in page.inner_text("#result")

    shot = tmp_path / "live-page.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, "/tmp/live-page.png")
    assert shot.stat().st_size > 10_000
