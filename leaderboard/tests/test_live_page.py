"""The live page: served by Django, configured with the WebSocket endpoint (the browser test is test_browser.py)."""

from __future__ import annotations

import json
import re

import pytest

from leaderboard.tests.factories import BoardFactory

pytestmark = pytest.mark.django_db


def page_config(content: bytes) -> dict:
    found = re.search(rb'<script id="config" type="application/json">(.*?)</script>', content, re.S)
    assert found, "the page embeds its configuration"
    return json.loads(found.group(1))


def test_the_page_carries_the_boards_and_the_websocket_endpoint_from_settings(client, settings):
    BoardFactory(slug="tokyo-board", periods=["daily"])
    settings.LIVE_WEBSOCKET_PORT = "9123"
    settings.LIVE_WEBSOCKET_URL = ""
    page = client.get("/")
    assert page.status_code == 200
    config = page_config(page.content)
    assert config["websocketPort"] == "9123" and config["websocketUrl"] == ""
    assert config["topN"] == settings.LEADERBOARD_LIVE_TOP_N
    assert {"slug": "tokyo-board", "name": "Tokyo-Board", "periods": ["daily"]} in config["boards"]
    assert b'type="module"' in page.content and b'name="viewport"' in page.content


def test_a_full_websocket_url_from_settings_reaches_the_page(client, settings):
    settings.LIVE_WEBSOCKET_URL = "wss://live.example.com"
    assert page_config(client.get("/").content)["websocketUrl"] == "wss://live.example.com"


def test_board_names_cannot_break_out_of_the_embedded_configuration(client):
    BoardFactory(slug="sneaky", name="</script><script>alert(1)</script>")
    page = client.get("/")
    assert b"<script>alert(1)" not in page.content
    sneaky = next(b for b in page_config(page.content)["boards"] if b["slug"] == "sneaky")
    assert sneaky["name"] == "</script><script>alert(1)</script>"


def test_only_get_is_allowed(client):
    assert client.post("/").status_code == 405
