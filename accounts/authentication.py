"""JWT authentication with short per-process caches of verified tokens and their users.

Every authenticated request would otherwise verify its token's signature and
load its user from PostgreSQL. A verified token is reused for at most
``ACCOUNTS_USER_CACHE_SECONDS`` (default 5) and never past its own expiry; a
user is reused for the same time: deactivating a user or removing their trust
takes effect within it in every process (and at once in the process that saved
the change). Access tokens cannot be revoked before they expire, so caching a
verification changes nothing a client could observe.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings

MAX_ENTRIES = 10_000


class ExpiringCache:
    """A small thread-safe LRU of values that each expire at their own time (``time.time()``)."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self.size = size
        self.entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                return None
            if found[0] <= time.time():
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return found[1]

    def put(self, key: Any, value: Any, expires: float) -> None:
        with self.lock:
            self.entries[key] = (expires, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_users = ExpiringCache()
_tokens = ExpiringCache()


def user_cache_clear(**_: Any) -> None:
    _users.clear()
    _tokens.clear()


class CachedJWTAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token: bytes):
        token = _tokens.get(raw_token)
        if token is None:
            token = super().get_validated_token(raw_token)
            expires = min(float(token["exp"]), time.time() + settings.ACCOUNTS_USER_CACHE_SECONDS)
            _tokens.put(raw_token, token, expires)
        return token

    def get_user(self, validated_token):
        key = validated_token.get(api_settings.USER_ID_CLAIM)
        user = _users.get(key)
        if user is None:
            user = super().get_user(validated_token)
            _users.put(key, user, time.time() + settings.ACCOUNTS_USER_CACHE_SECONDS)
        return user
