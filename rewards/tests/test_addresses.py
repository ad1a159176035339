"""Where a webhook may point (SSRF): http(s), public addresses unless private ones are allowed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from rewards.addresses import host_check, webhook_url_validate

REFUSED_PRIVATE = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://localhost/hook",
    "http://api.localhost/hook",
    "http://10.0.0.5/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
]


@pytest.mark.parametrize("url", REFUSED_PRIVATE)
def test_private_and_loopback_targets_are_refused(url, settings):
    settings.REWARDS_ALLOW_PRIVATE_WEBHOOKS = False
    with pytest.raises(ValidationError):
        webhook_url_validate(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com", "example.com"])
def test_only_http_and_https_urls_are_accepted(url, settings):
    settings.REWARDS_ALLOW_PRIVATE_WEBHOOKS = True
    with pytest.raises(ValidationError):
        webhook_url_validate(url)


def test_public_targets_are_accepted_and_private_ones_when_allowed(settings):
    settings.REWARDS_ALLOW_PRIVATE_WEBHOOKS = False
    webhook_url_validate("https://example.com/hooks/rewards")
    webhook_url_validate("http://93.184.215.14:8080/hook")
    settings.REWARDS_ALLOW_PRIVATE_WEBHOOKS = True
    webhook_url_validate("http://127.0.0.1:9000/hook")


def test_a_name_resolving_to_a_private_address_is_refused_when_sending(settings):
    settings.REWARDS_ALLOW_PRIVATE_WEBHOOKS = False
    with pytest.raises(ConnectionError, match="non-public"):
        host_check("http://localhost:9/hook")
