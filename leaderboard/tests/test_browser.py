"""The live page in a real headless Chromium (Debian's package, never a downloaded browser).

The page and the API come from Django's live server (WSGI, in this process);
the WebSockets from uvicorn in a process of its own, as under the run command,
so a submit reaches the page through channels-redis across processes.
Without /usr/bin/chromium the test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone

from devtools.stack import free_port, websocket_command
from leaderboard import rollover, services, warming
from leaderboard.models import Board, Standing
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard_project.conftest_helpers import bearer, serving, session_database_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@contextlib.contextmanager
def uvicorn_on(port: int, redis_prefix: str) -> Iterator[None]:
    """uvicorn serving the real ASGI application against the test database and this test's Redis keys."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="leaderboard_project.settings_test",
        DATABASE_URL=session_database_url(),
        REDIS_URL=django_settings.REDIS_URL,
        LEADERBOARD_REDIS_PREFIX=redis_prefix,
        SECRET_KEY=django_settings.SECRET_KEY,
    )
    with serving(websocket_command(host="127.0.0.1", port=port), port, env, cwd=django_settings.BASE_DIR):
        yield


@pytest.fixture
def asgi_server(settings) -> Iterator[int]:
    port = free_port()
    with uvicorn_on(port, settings.LEADERBOARD_REDIS_PREFIX):
        settings.LIVE_WEBSOCKET_PORT = str(port)  # what the page is told
        yield port


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
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # While Playwright's loop runs, Django keeps this test's connections apart from the
        # thread's usual ones: close them here, or they outlive the test database.
        connections.close_all()


def seed_arena() -> None:
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
    warming.board_warm(board=board)


def test_the_page_shows_the_top_10_updates_live_and_finds_a_rank(live_server, asgi_server, chromium, tmp_path, staff):
    seed_arena()
    page = chromium.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{live_server.url}/?board=arena&period=all_time")
    page.wait_for_selector("body[data-connection=live]", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('#entries tr[data-user]').length === 10", timeout=10_000)
    rows = page.locator("#entries tr[data-user]")
    assert [rows.nth(i).get_attribute("data-user") for i in range(10)] == [f"player{i:02d}" for i in range(10)]
    assert page.locator("#connection").inner_text() == "live"

    # A submit through the API reaches the page within a second, without a reload.
    page.evaluate("window.notReloaded = true")
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
    assert page.evaluate("window.notReloaded") is True
    assert rows.first.inner_text().split() == ["1", "player11", "5,890"]
    assert rows.count() == 10

    assert page.inner_text("#meta").startswith("12 ranked players · ")

    # The search shows the API's own percentile (share of ranked players at or below this rank).
    for user, rank, text in [("player03", 5, "rank 5 of 12 with 970"), ("player10", 12, "rank 12 of 12 with 900")]:
        page.fill("#user", user)
        page.click("#search button")
        page.wait_for_function(f"document.getElementById('result').dataset.rank === '{rank}'", timeout=5_000)
        with urllib.request.urlopen(
            f"{live_server.url}/api/v1/boards/arena/leaderboard/all_time/rank/{user}", timeout=10
        ) as response:
            percentile = json.load(response)["percentile"]
        assert page.inner_text("#result") == f"{user}: {text}, ranks at or above {percentile}% of players"
    assert percentile == 8.33  # the last of 12

    shot = tmp_path / "live-page.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, "/tmp/live-page.png")
    assert shot.stat().st_size > 10_000


def test_a_search_shows_the_players_rank_history(live_server, asgi_server, chromium):
    seed_arena()
    board = Board.objects.get(slug="arena")
    now = timezone.now()
    # Three finished days, with ties: the history shows the final ranks the archives record.
    for days_ago in (1, 2, 3):
        start = board.bucket("daily", now - timedelta(days=days_ago)).start
        Standing.objects.bulk_create(
            Standing(
                board=board,
                period="daily",
                bucket_start=start,
                user_id=f"player{i:02d}",
                score=100 * days_ago - 10 * ((i + days_ago) // 2),
                created_at=now,
                updated_at=now,
            )
            for i in range(12 - days_ago)
        )
    rollover.buckets_finalise_ended()
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/?board=arena&period=daily")
    page.wait_for_function("document.querySelectorAll('#entries tr[data-user]').length === 10", timeout=10_000)
    assert page.locator("#history").is_hidden()

    page.fill("#user", "player03")
    page.click("#search button")
    page.wait_for_function("document.getElementById('history').dataset.user === 'player03'", timeout=5_000)
    with urllib.request.urlopen(f"{live_server.url}/api/v1/boards/arena/users/player03/history/daily", timeout=10) as r:
        history = json.load(r)["entries"]
    assert len(history) == 3
    rows = page.locator("#history-entries tr[data-bucket]")
    shown = [rows.nth(i).inner_text().split("\t") for i in range(rows.count())]
    assert shown == [
        [e["bucket"]["bucket"], f"{e['rank']} of {e['participants']}", f"{e['score']:,}", f"{e['percentile']:g}%"]
        for e in history
    ]
    assert shown[0][0] == (now - timedelta(days=1)).date().isoformat()  # newest first
    assert page.inner_text("#history h2") == "Past daily periods"
    page.screenshot(path="/tmp/live-history.png", full_page=True)

    # A player with no finished day gets the empty-state line; a period change hides the table.
    page.fill("#user", "nobody")
    page.click("#search button")
    page.wait_for_function("document.getElementById('history').dataset.user === 'nobody'", timeout=5_000)
    assert page.inner_text("#history-entries") == "No finished daily periods for nobody yet."
    page.select_option("#period", "all_time")
    assert page.locator("#history").is_hidden()


def test_one_ranked_player_is_counted_in_the_singular(live_server, asgi_server, chromium):
    board = BoardFactory(slug="solo", name="Solo", periods=["all_time"])
    services.score_submit(board=board, user_id=UserFactory(username="lonely").username, value=7)
    page = chromium.new_page()
    page.goto(f"{live_server.url}/?board=solo&period=all_time")
    page.wait_for_function("document.querySelectorAll('#entries tr[data-user]').length === 1", timeout=10_000)
    assert page.inner_text("#meta").startswith("1 ranked player · ")


def test_the_page_shows_when_it_is_offline_and_reconnects_by_itself(live_server, chromium, settings):
    seed_arena()
    port = free_port()
    settings.LIVE_WEBSOCKET_PORT = str(port)  # nothing listens there yet
    page = chromium.new_page()
    page.goto(f"{live_server.url}/?board=arena&period=daily")
    # The state and its text together: the offline state lasts one backoff step (0.5 s), after which
    # the page shows "connecting…" for the next attempt; read apart, a loaded machine could miss it.
    page.wait_for_function(
        "document.body.dataset.connection === 'offline'"
        " && document.querySelector('#connection').innerText.includes('retrying in')",
        timeout=10_000,
    )
    assert page.locator("#entries tr[data-user]").count() == 0
    with uvicorn_on(port, settings.LEADERBOARD_REDIS_PREFIX):
        # Backoff: 0.5 s, 1 s, 2 s, 4 s ... (with jitter), so the server is found again soon.
        page.wait_for_selector("body[data-connection=live]", timeout=15_000)
        page.wait_for_function("document.querySelectorAll('#entries tr[data-user]').length === 10", timeout=5_000)
