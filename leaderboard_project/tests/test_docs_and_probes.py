"""API docs served from the project itself, HEAD probes, the favicon (issue 17)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def asset_urls(html: str) -> list[str]:
    """Every script, stylesheet, font and icon a page loads (script src and link href)."""
    return re.findall(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"', html)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_every_asset_from_this_server(client, url):
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assets = asset_urls(html)
    assert assets, "the page loads its viewer from somewhere"
    foreign = [a for a in assets if not a.startswith("/")]
    assert not foreign, f"assets from other hosts: {foreign}"
    assert "cdn.jsdelivr.net" not in html
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("url", ["/healthz", "/readyz"])
def test_probes_answer_head_like_get(client, url):
    """Load balancers probe with HEAD: same status and headers as GET, no body."""
    got = client.get(url)
    head = client.head(url)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == got["Content-Type"]
    assert client.post(url).status_code == 405


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.lstrip().startswith(b"<svg")


def test_the_live_page_names_its_icon(client):
    page = client.get("/").content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon and icon.group(1).endswith(".svg")
    assert client.get(icon.group(1)).status_code == 200
