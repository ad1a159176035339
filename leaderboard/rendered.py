"""Pages rendered once and served many times, per process (``api.hot_reads`` serves them).

A page is finished JSON bytes with their ``ETag``, kept until ``expires``
(``LEADERBOARD_READ_CACHE_SECONDS`` after rendering). Whatever changes a board's
standings or settings in this process drops its pages at once (``forget``: the
engine's signals, a board's save); a board change in another process drops every
page here through the invalidation channel (``forget_all``), as it drops boards.
Other processes' submits are seen within the interval. Pure: no database, no Redis.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

# A bound on the pages a process keeps (pages of every board and query).
MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    etag: str
    expires: float  # time.monotonic()


# board slug -> key -> page. Reads are plain dict lookups (atomic under the GIL); the lock
# keeps the size bound's count consistent between writers.
_pages: dict[str, dict[tuple[Any, ...], Page]] = {}
_count = 0
_lock = threading.Lock()


def etag(body: bytes) -> str:
    """A strong validator of ``body``: it changes exactly when the bytes do."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def get(board_slug: str, key: tuple[Any, ...], now: float) -> Page | None:
    """The page kept for ``key``, unless it expired by ``now``."""
    page = _pages.get(board_slug, {}).get(key)
    return page if page is not None and page.expires > now else None


def keep(board_slug: str, key: tuple[Any, ...], page: Page) -> None:
    global _count
    with _lock:
        if _count >= MAX_PAGES:
            _pages.clear()
            _count = 0
        pages = _pages.setdefault(board_slug, {})
        if key not in pages:
            _count += 1
        pages[key] = page


def forget(board_slug: str) -> None:
    """Drop a board's pages in this process."""
    global _count
    with _lock:
        dropped = _pages.pop(board_slug, None)
        if dropped:
            _count -= len(dropped)


def forget_all() -> None:
    global _count
    with _lock:
        _pages.clear()
        _count = 0


def board_changed(sender: object, *, board: Any = None, instance: Any = None, **_: Any) -> None:
    """Receiver of ``submit_committed``, ``standings_changed`` and a board's ``post_save``."""
    forget((board or instance).slug)
