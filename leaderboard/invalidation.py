"""Per-process caches dropped on every process of every host within a second of a change.

Boards (``services.board_get``) and authenticated users (``accounts.authentication``)
are cached for a few seconds in each process. A save clears the saving process's
copy at once; this module tells the others: the save publishes on a Redis pub/sub
channel (``store.coordination``), and every serving process (the WSGI and ASGI
apps, Celery workers: they call ``follow()`` as they start) runs a thread that
clears its copy when told. Without Redis, the caches' own lifetimes bound how
long another process may serve a change late, and submits re-check a board's
activity and bounds in their SQL regardless.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.authentication import user_cache_clear

from . import rendered, services
from .models import Board
from .store import coordination
from .store.connection import RedisUnavailable

logger = logging.getLogger(__name__)

_follower: tuple[int, threading.Event] | None = None
_lock = threading.Lock()


def _drop(kind: str) -> None:
    if kind in ("board", "*"):
        services.board_cache_clear()
        rendered.forget_all()  # a board's settings shape its pages (active, tiers, metadata)
    if kind in ("user", "*"):
        user_cache_clear()


def follow() -> None:
    """Start this process's follower thread (once per process; a forked child starts its own)."""
    global _follower
    with _lock:
        if _follower is not None and _follower[0] == os.getpid():
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=coordination.invalidations_follow,
            args=(_drop,),
            kwargs={"stop": stop},
            daemon=True,
            name="cache-invalidations",
        )
        thread.start()
        _follower = (os.getpid(), stop)


def stop_following() -> None:
    """Stop this process's follower (tests)."""
    global _follower
    with _lock:
        if _follower is not None:
            _follower[1].set()
        _follower = None


def _publish(kind: str) -> None:
    # After the commit: a process told earlier would read the old row again and cache it.
    transaction.on_commit(lambda: _announce(kind))


def _announce(kind: str) -> None:
    try:
        coordination.invalidation_publish(kind=kind)
    except RedisUnavailable as exc:
        logger.warning("%s change not announced to other processes (Redis unavailable): %s", kind, exc)


def board_saved(**_: Any) -> None:
    _publish("board")


def user_saved(*, update_fields: Any = None, **_: Any) -> None:
    # A login only stamps last_login: nothing any cache holds changed.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    _publish("user")


def connect() -> None:
    """Announce saves of boards and users (and their permissions) to every process."""
    user = get_user_model()
    post_save.connect(board_saved, sender=Board, dispatch_uid="invalidation_board_save")
    post_delete.connect(board_saved, sender=Board, dispatch_uid="invalidation_board_delete")
    post_save.connect(user_saved, sender=user, dispatch_uid="invalidation_user_save")
    post_delete.connect(user_saved, sender=user, dispatch_uid="invalidation_user_delete")
    m2m_changed.connect(user_saved, sender=user.user_permissions.through, dispatch_uid="invalidation_user_perms")
    m2m_changed.connect(user_saved, sender=user.groups.through, dispatch_uid="invalidation_user_groups")
