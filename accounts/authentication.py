"""JWT authentication with a short per-process cache of the token's user.

Every authenticated request would otherwise load its user from PostgreSQL.
A user is reused for ``ACCOUNTS_USER_CACHE_SECONDS`` (default 5): deactivating
a user or removing their trust takes effect within that time in every process
(and at once in the process that saved the change).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings

_cache: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
_lock = threading.Lock()
MAX_USERS = 10_000


def user_cache_clear(**_: Any) -> None:
    with _lock:
        _cache.clear()


class CachedJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        key = validated_token.get(api_settings.USER_ID_CLAIM)
        now = time.monotonic()
        with _lock:
            found = _cache.get(key)
            if found is not None and found[0] > now:
                _cache.move_to_end(key)
                return found[1]
        user = super().get_user(validated_token)
        with _lock:
            _cache[key] = (now + settings.ACCOUNTS_USER_CACHE_SECONDS, user)
            while len(_cache) > MAX_USERS:
                _cache.popitem(last=False)
        return user
