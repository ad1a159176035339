"""The operators' admin: list pages with bounded queries, actions against real servers."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leaderboard import warming
from leaderboard.admin import CappedCountPaginator
from leaderboard.models import Board, ScoreEvent, Standing
from leaderboard.store import buckets as store_buckets
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.tests.factories import BoardFactory
from leaderboard.tests.helpers import pg_members, redis_members, submitted
from leaderboard.tests.test_browser import chromium  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("ops", "ops@example.com", "a strong operator password")
    client.force_login(admin_user)
    return client


def seed(board, count):
    submitted(board, {f"a{board.pk}-{i:03d}": i + 1 for i in range(count)})


@pytest.mark.parametrize("url", ["/admin/leaderboard/standing/", "/admin/leaderboard/scoreevent/"])
def test_list_pages_use_the_same_few_queries_whatever_the_table_size(operator, url):
    board = BoardFactory()
    seed(board, 5)
    with CaptureQueriesContext(connection) as small:
        assert operator.get(url).status_code == 200
    seed(board, 60)
    with CaptureQueriesContext(connection) as large:
        assert operator.get(url).status_code == 200
    assert len(large) == len(small) <= 8
    # No unbounded COUNT over the table on the list page (show_full_result_count is off).
    counts = [q["sql"] for q in large.captured_queries if "COUNT(" in q["sql"].upper()]
    assert all("LIMIT" in sql.upper() or "WHERE" in sql.upper() for sql in counts), counts


def test_score_events_are_read_only_in_the_admin(operator):
    board = BoardFactory()
    seed(board, 1)
    event = ScoreEvent.objects.get()
    assert operator.get(f"/admin/leaderboard/scoreevent/{event.pk}/delete/").status_code == 403
    response = operator.post(f"/admin/leaderboard/scoreevent/{event.pk}/change/", {"value": 999})
    assert response.status_code == 403
    assert ScoreEvent.objects.get().value == event.value


def test_rebuild_cache_asks_for_confirmation_then_rebuilds_redis_from_postgres(operator):
    board = BoardFactory()
    seed(board, 10)
    warming.cache_clear()
    action = {"action": "rebuild_cache", "_selected_action": [board.pk]}
    confirm = operator.post("/admin/leaderboard/board/", action)
    assert confirm.status_code == 200 and b"Yes, rebuild" in confirm.content
    bucket = board.bucket("daily", timezone.now())
    assert not store_buckets.bucket_is_ready(board_slug=board.slug, period="daily", bucket=bucket.key)
    done = operator.post("/admin/leaderboard/board/", {**action, "confirm": "yes"}, follow=True)
    assert b"10 members" in done.content or b"50 members" in done.content
    assert redis_members(board, bucket) == pg_members(board, bucket)


def test_the_drift_view_shows_members_per_store(operator):
    board = BoardFactory()
    warming.board_warm(board=board)
    seed(board, 4)
    bucket = board.bucket("daily", timezone.now())
    store_buckets.members_remove(board_slug=board.slug, period="daily", bucket=bucket.key, members=[f"a{board.pk}-000"])
    page = operator.get(f"/admin/leaderboard/board/{board.pk}/drift/")
    assert page.status_code == 200
    rows = {row["period"]: row for row in page.context["rows"]}
    assert rows["daily"]["postgres"] == 4 and rows["daily"]["redis"] == 3 and rows["daily"]["drift"] == -1
    assert rows["weekly"]["drift"] == 0


def test_boards_can_be_created_in_the_admin(operator):
    response = operator.post(
        "/admin/leaderboard/board/add/",
        {
            "slug": "speedrun",
            "name": "Speedrun",
            "description": "",
            "operator": "best",
            "sort_order": "asc",
            "periods": ["all_time", "weekly"],
            "time_zone": "Europe/Paris",
            "min_value": 0,
            "max_value": 3600000,
            "is_active": "on",
            "tier_basis": "",
            "tiers": "[]",
            "entry_metadata_max_bytes": 0,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    board = Board.objects.get(slug="speedrun")
    assert board.periods == ["weekly", "all_time"] and not board.higher_is_better
    bad = operator.post(
        "/admin/leaderboard/board/add/",
        {
            "slug": "bad",
            "name": "Bad",
            "operator": "increment",
            "sort_order": "desc",
            "periods": ["hourly"],
            "time_zone": "Mars/Olympus",
            "min_value": 5,
            "max_value": 1,
        },
    )
    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert {"periods", "time_zone"} <= set(errors)
    assert not Standing.objects.exists()


def test_searching_standings_by_user_id_uses_an_exact_indexed_match(operator):
    board = BoardFactory()
    seed(board, 3)
    with CaptureQueriesContext(connection) as queries:
        page = operator.get("/admin/leaderboard/standing/", {"q": f"a{board.pk}-001"})
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == 5  # one row per period
    listing = [q["sql"] for q in queries.captured_queries if "leaderboard_standing" in q["sql"] and "LIMIT" in q["sql"]]
    assert listing and all("UPPER(" not in sql and "accounts_user" not in sql for sql in listing), listing


def test_reset_period_action_archives_and_restarts(operator):
    from leaderboard.models import PeriodArchive

    board = BoardFactory()
    seed(board, 3)
    action = {"action": "reset_period", "_selected_action": [board.pk]}
    confirm = operator.post("/admin/leaderboard/board/", action)
    assert confirm.status_code == 200 and b"Yes, reset" in confirm.content
    assert not PeriodArchive.objects.exists()
    operator.post("/admin/leaderboard/board/", {**action, "confirm": "yes", "period": "weekly"}, follow=True)
    archive = PeriodArchive.objects.get(board=board)
    assert (archive.period, archive.reason, archive.participants, archive.triggered_by) == ("weekly", "reset", 3, "ops")
    assert selectors_page(board, "weekly") == []


def selectors_page(board, period):
    from leaderboard import selectors

    board.refresh_from_db()
    return selectors.leaderboard_page(board=board, period=period).entries


def test_reconcile_action_records_a_run_shown_in_the_admin(operator):
    from leaderboard.models import ReconciliationRun

    board = BoardFactory()
    warming.board_warm(board=board)
    seed(board, 2)
    bucket = board.bucket("daily", timezone.now())
    store_connection.client().zadd(store_keys.bucket(board.slug, "daily", bucket.key), {"ghost": 1})
    action = {"action": "reconcile", "_selected_action": [board.pk]}
    assert b"Yes, run it" in operator.post("/admin/leaderboard/board/", action).content
    operator.post("/admin/leaderboard/board/", {**action, "confirm": "yes", "dry_run": "on"})
    operator.post("/admin/leaderboard/board/", {**action, "confirm": "yes"})
    dry, real = ReconciliationRun.objects.order_by("id")
    assert (dry.dry_run, dry.deleted, real.dry_run, real.deleted) == (True, 1, False, 1)
    listing = operator.get("/admin/leaderboard/reconciliationrun/")
    assert listing.status_code == 200 and b"admin" in listing.content
    assert operator.get("/admin/django_celery_beat/periodictask/").status_code == 200


def test_the_admin_refuses_to_change_the_time_zone_or_operator_of_a_board_holding_standings(operator):
    board = BoardFactory(time_zone="UTC")
    seed(board, 1)
    form = {
        "slug": board.slug,
        "name": board.name,
        "description": "",
        "operator": board.operator,
        "sort_order": board.sort_order,
        "periods": list(board.periods),
        "time_zone": board.time_zone,
        "min_value": board.min_value,
        "max_value": board.max_value,
        "is_active": "on",
        "tier_basis": "",
        "tiers": "[]",
        "entry_metadata_max_bytes": 0,
    }
    url = f"/admin/leaderboard/board/{board.pk}/change/"
    refused = operator.post(url, {**form, "time_zone": "Asia/Tokyo", "operator": "best"})
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert set(errors) == {"time_zone", "operator"}
    assert "holds standings" in errors["time_zone"][0]
    board.refresh_from_db()
    assert (board.time_zone, board.operator) == ("UTC", "increment")
    # Anything that keeps the history's meaning still saves.
    assert operator.post(url, {**form, "name": "Renamed", "max_value": 10}).status_code == 302
    board.refresh_from_db()
    assert (board.name, board.max_value) == ("Renamed", 10)


def board_form(board: Board, **changes) -> dict:
    """The admin change form of ``board`` as a browser posts it (periods: one value per checkbox)."""
    form = {
        "slug": board.slug,
        "name": board.name,
        "description": board.description,
        "operator": board.operator,
        "sort_order": board.sort_order,
        "periods": list(board.periods),
        "time_zone": board.time_zone,
        "min_value": board.min_value,
        "max_value": board.max_value,
        "is_active": "on",
        "tier_basis": board.tier_basis,
        "tiers": json.dumps(board.tiers),
        "entry_metadata_max_bytes": board.entry_metadata_max_bytes,
    }
    form.update(changes)
    return form


def test_the_board_form_offers_periods_as_checkboxes(operator):
    board = BoardFactory(periods=["daily", "all_time"])
    page = operator.get(f"/admin/leaderboard/board/{board.pk}/change/").content.decode()
    for period in ("daily", "weekly", "monthly", "yearly", "all_time"):
        assert f'type="checkbox" name="periods" value="{period}"' in page
    checked = re.findall(r'<input type="checkbox" name="periods" value="(\w+)"[^>]*checked', page)
    assert checked == ["daily", "all_time"]


def test_periods_chosen_with_checkboxes_are_saved_in_period_order(operator):
    board = BoardFactory(periods=["daily"])
    url = f"/admin/leaderboard/board/{board.pk}/change/"
    saved = operator.post(url, board_form(board, periods=["all_time", "weekly", "daily"]))
    assert saved.status_code == 302, saved.content[:2000]
    board.refresh_from_db()
    assert board.periods == ["daily", "weekly", "all_time"]
    none = operator.post(url, board_form(board, periods=[]))
    assert none.status_code == 200 and "periods" in none.context["adminform"].form.errors


def test_the_form_refuses_dropping_a_period_that_holds_standings(operator):
    board = BoardFactory(periods=["daily", "weekly", "all_time"])
    seed(board, 1)
    url = f"/admin/leaderboard/board/{board.pk}/change/"
    refused = operator.post(url, board_form(board, periods=["daily", "all_time"]))
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "holds standings in weekly" in errors["periods"][0]
    board.refresh_from_db()
    assert board.periods == ["daily", "weekly", "all_time"]
    # Adding one is fine.
    assert operator.post(url, board_form(board, periods=[*board.periods, "monthly"])).status_code == 302


def test_the_drift_and_confirmation_pages_show_their_heading_once(operator):
    board = BoardFactory()
    page = operator.get(f"/admin/leaderboard/board/{board.pk}/drift/").content.decode()
    assert page.count(f"Drift of {board.slug}</h1>") == 1
    confirm = operator.post("/admin/leaderboard/board/", {"action": "reconcile", "_selected_action": [board.pk]})
    assert confirm.content.decode().count("Run a reconciliation</h1>") == 1


def test_the_board_list_names_operators_briefly(operator):
    BoardFactory(slug="speed", operator="best", sort_order="asc")
    page = operator.get("/admin/leaderboard/board/").content.decode()
    assert "Best (keep the best value" not in page.split('id="changelist-filter"')[0]
    assert "best, lower wins" in page


class SmallCapPaginator(CappedCountPaginator):
    CAP = 3


def test_the_capped_paginator_stops_counting_a_table_one_row_past_the_cap():
    BoardFactory.create_batch(5)
    assert SmallCapPaginator(Board.objects.order_by("pk"), 2).count == 4
    assert SmallCapPaginator(Board.objects.filter(pk__lt=0), 2).count == 0


def test_the_capped_paginator_counts_a_plain_list_like_a_table():
    # A list has a ``count`` method too, but one that needs an argument: it is counted by its length.
    assert SmallCapPaginator(list(range(2)), 2).count == 2
    assert SmallCapPaginator(list(range(5)), 2).count == 4


@pytest.mark.browser
def test_the_board_list_fits_a_1280_pixel_screen(live_server, chromium, django_user_model):  # noqa: F811
    """Every column, the drift link included, is on screen without scrolling sideways."""
    importlib.import_module("leaderboard.migrations.0002_default_boards").create_default_boards(apps, None)
    BoardFactory(slug="speedrun-any-percent", name="Speedrun (any %)", operator="best", sort_order="asc")
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a strong operator password")
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/leaderboard/board/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "a strong operator password")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    # The table scrolls inside its own box when too wide, cutting the last columns off.
    results = page.locator("#changelist .results")
    assert results.evaluate("box => box.scrollWidth <= box.clientWidth")
    edge = results.bounding_box()["x"] + results.bounding_box()["width"]
    links = page.locator("#result_list a:text('compare')").all()
    assert len(links) == 4
    for link in links:
        box = link.bounding_box()
        assert box["x"] + box["width"] <= min(edge, 1280)
    # Each row is one line high: nothing wraps.
    heights = [row.bounding_box()["height"] for row in page.locator("#result_list tbody tr").all()]
    assert max(heights) == min(heights), heights
    page.screenshot(path="/tmp/admin-boards-1280.png", full_page=True)

    page.click("#result_list a:text('speedrun-any-percent')")
    page.wait_for_selector("input[name=periods]")
    assert page.locator("input[type=checkbox][name=periods]").count() == 5
    page.screenshot(path="/tmp/admin-board-form.png", full_page=True)
