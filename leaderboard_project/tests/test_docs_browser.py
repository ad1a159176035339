"""The API docs render in a real headless Chromium cut off from every host but the server (issue 17).

The browser may reach only Django's live server: every other request is
aborted and recorded, so a viewer asset left on a CDN fails the test.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from leaderboard.tests.test_browser import chromium  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

OPERATION = "/api/v1/boards/{slug}/scores"


def offline_page(browser, server_url: str, blocked: list[str], errors: list[str]):
    """A page whose requests to any host other than the server's are aborted and noted in ``blocked``.

    Console errors (a script that failed, a policy violation) are noted in ``errors``.
    """
    own = urlsplit(server_url).netloc
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def only_the_server(route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    return page


def test_swagger_ui_lists_the_operations_offline(live_server, chromium):  # noqa: F811
    blocked: list[str] = []
    errors: list[str] = []
    page = offline_page(chromium, live_server.url, blocked, errors)
    page.goto(f"{live_server.url}/api/docs/")
    operation = page.locator(f'.opblock-summary-path[data-path="{OPERATION}"]').first
    operation.wait_for(timeout=15_000)
    assert OPERATION in operation.inner_text().replace("\u200b", "")
    assert page.locator(".opblock").count() > 10
    page.screenshot(path="/tmp/docs-page.png")
    assert blocked == [] and errors == []


def test_redoc_lists_the_operations_offline(live_server, chromium):  # noqa: F811
    blocked: list[str] = []
    errors: list[str] = []
    page = offline_page(chromium, live_server.url, blocked, errors)
    page.goto(f"{live_server.url}/api/redoc/")
    page.get_by_text(OPERATION, exact=True).first.wait_for(state="attached", timeout=15_000)
    assert page.locator("[data-item-id^='tag/']").count() > 0
    page.screenshot(path="/tmp/redoc-page.png")
    assert blocked == []
    # The page's policy refuses only ReDoc's footer logo from cdn.redoc.ly (it hides itself then).
    assert all("cdn.redoc.ly" in error for error in errors), errors
