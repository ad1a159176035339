"""Service API keys: how a game server authenticates without a staff account.

A request carrying ``Authorization: Api-Key <prefix>.<secret>`` (the header
djangorestframework-api-key defines) is authenticated as a ``KeyPrincipal``,
not a database user. Guarantees:

* Verification is never cached: every request looks its key up by prefix (one
  unique-index read) and checks its hash (SHA-512, by the library). Revoking or
  deleting a key, or letting it expire, refuses the very next request on every
  process. The lookup costs one indexed read, small next to the request
  itself; a cache would only buy a window in which a revoked key still works.
* ``last_used_at`` is written at most once a minute per key, by a conditional
  UPDATE that only one of several racing processes wins.
* An unknown, revoked or malformed key and an expired key are 401s.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework_api_key.permissions import KeyParser

from .models import ServiceKey

# How stale ``last_used_at`` may be: at most one UPDATE per key and minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# The library's prefixes are 8 letters or digits; anything else cannot be a key.
_PREFIX = re.compile(r"[A-Za-z0-9]{1,8}")


class KeyPrincipal:
    """The caller behind a service key, in the place of ``request.user``.

    It answers what the views, permissions and services ask of a user:
    ``is_authenticated`` (True), ``is_staff`` (False), ``get_username()``
    (``"key:<name>"``, recorded as ``submitted_by``), ``can_submit_for_others()``
    (the ``submit`` right) and ``has_right(right, board_slug)``. It has no
    database row (``pk`` is None) and no Django permissions.
    """

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True
    is_service_key = True
    pk = None
    id = None

    def __init__(self, *, key_id: str, name: str, rights: frozenset[str], boards: frozenset[str]) -> None:
        self.key_id = key_id
        self.name = name
        self.rights = rights
        # Empty: every board.
        self.boards = boards

    @property
    def username(self) -> str:
        return f"key:{self.name}"

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username

    def can_submit_for_others(self) -> bool:
        return ServiceKey.Right.SUBMIT in self.rights

    def covers(self, board_slug: str) -> bool:
        """Whether the key may act on this board at all."""
        return not self.boards or board_slug in self.boards

    def has_right(self, right: str, board_slug: str | None = None) -> bool:
        """The key holds ``right``, on ``board_slug`` when one is named (None: no particular board)."""
        return right in self.rights and (board_slug is None or self.covers(board_slug))

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        return False


def key_verify(raw_key: str) -> KeyPrincipal:
    """The principal of a valid key; ``AuthenticationFailed`` (401) otherwise.

    Reads the key's row on every call (see the module's guarantees) and records
    its use at most once a minute.
    """
    prefix, dot, _ = raw_key.partition(".")
    if not dot or not _PREFIX.fullmatch(prefix):
        raise AuthenticationFailed("Invalid API key.")
    key = (
        ServiceKey.objects.filter(prefix=prefix, revoked=False)
        .only("id", "name", "hashed_key", "expiry_date", "rights", "boards", "last_used_at", "revoked")
        .first()
    )
    if key is None or not key.is_valid(raw_key):
        raise AuthenticationFailed("Invalid API key.")
    if key.has_expired:
        raise AuthenticationFailed("This API key has expired.")
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if key.last_used_at is None or key.last_used_at < stale:
        # Conditional: of several processes seeing a stale time, one writes.
        ServiceKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=key.pk).update(
            last_used_at=now
        )
    return KeyPrincipal(key_id=key.pk, name=key.name, rights=frozenset(key.rights), boards=frozenset(key.boards))


class ServiceKeyAuthentication(BaseAuthentication):
    """DRF authentication for ``Authorization: Api-Key <key>``; other schemes are left to the others."""

    keyword = KeyParser.keyword
    parser = KeyParser()

    def authenticate(self, request) -> tuple[KeyPrincipal, None] | None:
        raw_key = self.parser.get(request)
        if raw_key is None:
            return None
        if not raw_key.strip():
            raise AuthenticationFailed("No API key given after 'Api-Key'.")
        return key_verify(raw_key.strip()), None

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsAccountHolder(BasePermission):
    """An authenticated caller with an account of their own: not a service key."""

    message = "A service key has no account; this endpoint is for users."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and not getattr(user, "is_service_key", False))
