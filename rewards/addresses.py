"""Where a webhook may point: http(s) only, and no private or loopback addresses (SSRF).

A URL naming a private, loopback, link-local or otherwise non-public address is
refused when it is saved (admin and API) and again when a delivery resolves its
host, since a public name may resolve to a private address. ``REWARDS_ALLOW_PRIVATE_WEBHOOKS``
lifts both checks (tests, and receivers on the operator's own network).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

_url_validate = URLValidator(schemes=["http", "https"])


def private_allowed() -> bool:
    return bool(getattr(settings, "REWARDS_ALLOW_PRIVATE_WEBHOOKS", False))


def address_public(address: str) -> bool:
    """Whether an IP address is one the public internet routes (not private, loopback, link-local...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_url_validate(value: str) -> None:
    """Refuse what is not an http(s) URL, or names a private address (unless allowed)."""
    _url_validate(value)
    host = (urlsplit(value).hostname or "").rstrip(".").lower()
    if not host:
        raise ValidationError("The URL needs a host.", code="invalid")
    if private_allowed():
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationError("Webhooks may not point at this machine.", code="private")
    try:
        public = address_public(host)
    except ValueError:
        return  # a name: checked again when a delivery resolves it
    if not public:
        raise ValidationError("Webhooks may not point at private, loopback or reserved addresses.", code="private")


def host_check(url: str) -> None:
    """Before sending: every address the URL's host resolves to must be public (unless allowed)."""
    if private_allowed():
        return
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise ConnectionError(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    for info in infos:
        if not address_public(str(info[4][0])):
            raise ConnectionError(f"{parts.hostname!r} resolves to a non-public address ({info[4][0]}); refused")
