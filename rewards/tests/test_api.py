"""A board's webhook endpoints over the API: staff, or keys with manage_boards on that board."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ServiceKey
from leaderboard.tests.factories import BoardFactory
from rewards.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

URL = "https://example.com/hooks/rewards"


def key_client(**scope) -> APIClient:
    _key, raw = ServiceKey.objects.create_key(name="deploy", **scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_staff_add_list_and_remove_a_boards_endpoints(staff_client):
    board = BoardFactory(slug="arena")
    created = staff_client.post("/api/v1/boards/arena/webhooks", {"url": URL, "description": "prizes"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["board"] == "arena" and body["url"] == URL and body["is_active"] is True
    assert body["secret"].startswith("whsec_") and body["secret"] == WebhookEndpoint.objects.get().secret
    assert WebhookEndpoint.objects.get().board == board

    listed = staff_client.get("/api/v1/boards/arena/webhooks")
    assert listed.status_code == 200 and [e["id"] for e in listed.json()] == [body["id"]]

    assert staff_client.delete(f"/api/v1/boards/arena/webhooks/{body['id']}").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert staff_client.delete(f"/api/v1/boards/arena/webhooks/{body['id']}").status_code == 404


def test_an_endpoint_of_another_board_cannot_be_removed_through_this_one(staff_client):
    BoardFactory(slug="arena")
    other = WebhookEndpoint.objects.create(board=BoardFactory(slug="other"), url=URL)
    assert staff_client.delete(f"/api/v1/boards/arena/webhooks/{other.pk}").status_code == 404
    assert staff_client.delete("/api/v1/boards/arena/webhooks/99999999999999999999999").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=other.pk).exists()


def test_an_unknown_board_is_a_404(staff_client):
    assert staff_client.get("/api/v1/boards/nope/webhooks").status_code == 404
    assert staff_client.post("/api/v1/boards/nope/webhooks", {"url": URL}, format="json").status_code == 404


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/x", "http://10.1.2.3/x", "http://localhost/x", "ftp://example.com/x", "nope"]
)
def test_private_addresses_and_other_schemes_are_a_field_400(staff_client, settings, url):
    settings.REWARDS_ALLOW_PRIVATE_WEBHOOKS = False
    BoardFactory(slug="arena")
    response = staff_client.post("/api/v1/boards/arena/webhooks", {"url": url}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["url"]
    assert not WebhookEndpoint.objects.exists()


def test_a_key_with_manage_boards_manages_its_boards_webhooks_only():
    BoardFactory(slug="arena")
    BoardFactory(slug="other")
    client = key_client(rights=["manage_boards"], boards=["arena"])
    assert client.post("/api/v1/boards/arena/webhooks", {"url": URL}, format="json").status_code == 201
    assert client.get("/api/v1/boards/arena/webhooks").status_code == 200
    assert client.post("/api/v1/boards/other/webhooks", {"url": URL}, format="json").status_code == 403
    assert key_client(rights=["submit"]).get("/api/v1/boards/arena/webhooks").status_code == 403


def test_the_endpoints_are_in_the_openapi_schema(api_client):
    paths = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert set(paths["/api/v1/boards/{slug}/webhooks"]) >= {"get", "post"}
    assert "delete" in paths["/api/v1/boards/{slug}/webhooks/{webhook_id}"]
