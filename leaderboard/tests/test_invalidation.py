"""Cache invalidations between processes (``leaderboard.invalidation``), over a real Redis."""

from __future__ import annotations

import threading
import time

import pytest

from leaderboard import invalidation, services
from leaderboard.models import Board
from leaderboard.store import coordination
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _following() -> tuple[list[str], threading.Event]:
    seen: list[str] = []
    stop = threading.Event()
    threading.Thread(
        target=coordination.invalidations_follow, args=(seen.append,), kwargs={"stop": stop}, daemon=True
    ).start()
    deadline = time.monotonic() + 5
    while "*" not in seen:  # subscribed: it drops everything first
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return seen, stop


def _wait_for(seen: list[str], kind: str) -> None:
    deadline = time.monotonic() + 2
    while kind not in seen:
        assert time.monotonic() < deadline, f"{kind!r} not announced: {seen}"
        time.sleep(0.02)


def test_saving_a_board_or_a_user_is_announced_after_the_commit():
    seen, stop = _following()
    try:
        board = BoardFactory()
        _wait_for(seen, "board")
        user = UserFactory()
        _wait_for(seen, "user")
        seen.clear()
        user.save(update_fields=["last_login"])  # a login changes nothing any cache holds
        board.name = "renamed"
        board.save()
        _wait_for(seen, "board")
        assert "user" not in seen
    finally:
        stop.set()


def test_an_announcement_drops_this_process_cached_board():
    # Created without signals: no announcement of its own may drop the cache under the test.
    (board,) = Board.objects.bulk_create([BoardFactory.build()])
    cached = services.board_get(slug=board.slug)
    Board.objects.filter(pk=board.pk).update(name="changed behind the cache")  # no signal: another host
    assert services.board_get(slug=board.slug).name == cached.name  # still cached
    invalidation._drop("board")
    assert services.board_get(slug=board.slug).name == "changed behind the cache"
