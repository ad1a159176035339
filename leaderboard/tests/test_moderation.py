"""Moderation and erasure against real PostgreSQL and Valkey: exact in both stores, under concurrent submits."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import cast

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from leaderboard import moderation, services, warming
from leaderboard.models import ModerationAction, PeriodArchive, ScoreEvent, Standing
from leaderboard.store import buckets as store_buckets
from leaderboard.store import connection as store_connection
from leaderboard.store import limits, live
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import in_threads, pg_members, redis_members
from leaderboard.tests.test_consumers import APP, run, updates
from leaderboard_project.conftest_helpers import bearer
from leaderboard_project.exceptions import Forbidden

pytestmark = pytest.mark.django_db(transaction=True)


def stores_agree(board) -> None:
    """Every live bucket: Redis holds exactly PostgreSQL's standings."""
    for bucket in board.live_buckets(timezone.now()):
        assert redis_members(board, bucket) == pg_members(board, bucket), bucket.period


def counted(board, user_id: str) -> int:
    """The player's all-time total from their non-voided events (an increment board)."""
    return sum(
        ScoreEvent.objects.filter(board=board, user_id=user_id, voided_at__isnull=True).values_list("value", flat=True)
    )


def test_removing_a_player_while_20_threads_submit_for_them_leaves_both_stores_exact():
    board = BoardFactory()
    UserFactory(username="cheat")
    UserFactory(username="honest")
    services.score_submit(board=board, user_id="cheat", value=1000)
    services.score_submit(board=board, user_id="honest", value=1)
    warming.board_warm(board=board)
    started = threading.Event()

    def work(i: int) -> int:
        if i < 20:  # the cheater's submits
            started.set()
            for _ in range(8):
                services.score_submit(board=board, user_id="cheat", value=3)
            return 0
        if i == 20:  # another player's, which must all count
            for _ in range(40):
                services.score_submit(board=board, user_id="honest", value=2)
            return 0
        started.wait(5)
        time.sleep(0.05)
        moderation.scores_remove(user_id="cheat", reason="aimbot", actor="mod")
        return 1

    in_threads(22, work)

    voided = ScoreEvent.objects.filter(board=board, user_id="cheat", voided_at__isnull=False)
    assert voided.exists() and set(voided.values_list("voided_by", "void_reason").distinct()) == {("mod", "aimbot")}
    assert ScoreEvent.objects.filter(board=board, user_id="cheat").count() == 1 + 160
    # Submits that landed after the removal count from zero; nothing before it survives.
    after = counted(board, "cheat")
    all_time = board.bucket("all_time", timezone.now())
    assert pg_members(board, all_time).get("cheat", 0) == after
    assert pg_members(board, all_time)["honest"] == 1 + 80
    stores_agree(board)
    log = ModerationAction.objects.get(action="remove")
    assert (log.target, log.actor, log.reason) == ("cheat", "mod", "aimbot")


def test_removal_from_one_board_leaves_the_others_and_ended_buckets_lose_the_player_too():
    board, other = BoardFactory(), BoardFactory()
    UserFactory(username="cheat")
    last_week = timezone.now() - timedelta(days=2)  # ended, its key kept for the grace days
    services.score_submit(board=board, user_id="cheat", value=5, at=last_week)
    services.score_submit(board=board, user_id="cheat", value=7)
    services.score_submit(board=other, user_id="cheat", value=9)
    old = board.bucket("daily", last_week)
    warming.bucket_warm(board=board, bucket=old)  # an ended bucket whose key has not expired yet
    warming.board_warm(board=board)
    warming.board_warm(board=other)
    assert redis_members(board, old) == {"cheat": 5}

    result = moderation.scores_remove(user_id="cheat", reason="cheating", actor="mod", board=board)

    assert result.events_voided == 2 and result.boards == [board.slug]
    assert not Standing.objects.filter(board=board).exists()
    assert redis_members(board, old) == {}
    stores_agree(board)
    assert pg_members(other, other.bucket("all_time", timezone.now())) == {"cheat": 9}
    stores_agree(other)


def test_a_banned_player_disappears_from_every_read_and_live_update_and_unban_restores_them():
    board = BoardFactory()
    for user_id, value in [("ann", 30), ("bob", 20), ("cheat", 50), ("cheat", 25)]:
        UserFactory(username=user_id)
        services.score_submit(board=board, user_id=user_id, value=value)
    warming.board_warm(board=board)
    cheat = UserFactory(username="cheat")
    trusted = UserFactory(username="server", is_staff=True)
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=bearer(trusted))
    before = {
        p: dict(Standing.objects.filter(board=board, period=p).values_list("user_id", "score")) for p in board.periods
    }
    base = f"/api/v1/boards/{board.slug}/leaderboard/daily"

    async def scenario():
        ws = WebsocketCommunicator(APP, f"/ws/boards/{board.slug}/daily/")
        await ws.connect()
        first = await ws.receive_json_from(timeout=5)
        response = await database_sync_to_async(staff.post)(
            "/api/v1/moderation/players/cheat/ban", {"reason": "wallhack"}, format="json"
        )
        pushed = await updates(ws, seconds=1.0)
        await ws.disconnect()
        return first, response, pushed

    first, response, pushed = run(scenario)
    assert first["entries"][0]["user_id"] == "cheat"
    assert response.status_code == 200, response.content
    assert [e["user_id"] for e in pushed[-1]["entries"]] == ["ann", "bob"]

    reader = APIClient()
    top = reader.get(base).json()
    assert [e["user_id"] for e in top["entries"]] == ["ann", "bob"] and top["total"] == 2
    around = reader.get(f"{base}/around/bob").json()
    assert [e["user_id"] for e in around["entries"]] == ["ann", "bob"] and around["total"] == 2
    rank = reader.get(f"{base}/rank/cheat").json()
    assert (rank["rank"], rank["score"], rank["total"], rank["percentile"]) == (None, None, 2, None)
    assert reader.get(f"{base}/rank/ann").json()["percentile"] == 100.0
    friends = reader.get(f"{base}/users", {"user_ids": "ann,cheat"}).json()
    assert [e["user_id"] for e in friends["entries"]] == ["ann"] and friends["total"] == 2
    stats = reader.get(f"/api/v1/boards/{board.slug}/users/cheat/stats").json()
    assert set(stats["scores"].values()) == {0}
    stores_agree(board)

    # Refused, for their own token and for a trusted server's submit for them.
    own = APIClient()
    own.credentials(HTTP_AUTHORIZATION=bearer(cheat))
    refused = own.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1}, format="json")
    assert refused.status_code == 403 and "banned" in refused.json()["detail"]
    assert own.get("/api/v1/auth/me").status_code == 200  # they may still read
    refused = staff.post(f"/api/v1/boards/{board.slug}/scores", {"value": 1, "user_id": "cheat"}, format="json")
    assert refused.status_code == 403 and "banned" in refused.json()["detail"]
    with pytest.raises(Forbidden):
        services.score_submit(board=board, user_id="cheat", value=1)
    assert ScoreEvent.objects.filter(user_id="cheat").count() == 2
    assert staff.post("/api/v1/moderation/players/cheat/ban", {"reason": "again"}, format="json").status_code == 409

    response = staff.post("/api/v1/moderation/players/cheat/unban", {"reason": "appeal"}, format="json")
    assert response.status_code == 200, response.content
    after = {
        p: dict(Standing.objects.filter(board=board, period=p).values_list("user_id", "score")) for p in board.periods
    }
    assert after == before
    assert [e["user_id"] for e in reader.get(base).json()["entries"]] == ["cheat", "ann", "bob"]
    stores_agree(board)
    assert list(ModerationAction.objects.order_by("created_at").values_list("action", "target", "reason")) == [
        ("ban", "cheat", "wallhack"),
        ("unban", "cheat", "appeal"),
    ]


def test_a_ban_waits_for_a_submit_in_flight_and_later_submits_are_refused():
    board = BoardFactory()
    UserFactory(username="cheat")
    warming.board_warm(board=board)
    results: list[object] = []

    def work(i: int) -> None:
        if i == 0:
            time.sleep(0.05)
            moderation.player_ban(user_id="cheat", reason="bot", actor="mod")
            return
        # Submit until the ban refuses one (not a fixed count: on a busy machine a fixed
        # number of submits could all finish before the ban starts, and prove nothing).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                services.score_submit(board=board, user_id="cheat", value=1)
                results.append("ok")
            except Forbidden:
                results.append("banned")
                return

    in_threads(6, work)
    assert results.count("banned") == 5  # every submitter was refused once the ban committed
    assert not Standing.objects.filter(user_id="cheat").exists()
    assert ScoreEvent.objects.filter(user_id="cheat").count() == results.count("ok")
    stores_agree(board)


def _everything_in_redis(prefix: str) -> str:
    """Every key name and value under the test's prefix, as one text."""
    conn = store_connection.client()
    parts = []
    for key in conn.scan_iter(match=f"{prefix}:*", count=1000):
        parts.append(key)
        kind = conn.type(key)
        if kind == "zset":
            parts += conn.zrange(key, 0, -1)
        elif kind == "hash":
            # The client decodes responses (the store reads hashes the same way).
            parts += [f"{k}={v}" for k, v in cast(dict[str, str], conn.hgetall(key)).items()]
        elif kind == "string":
            parts.append(conn.get(key) or "")
        elif kind == "set":
            parts += conn.smembers(key)
        elif kind == "list":
            parts += conn.lrange(key, 0, -1)
    return "\n".join(parts)


def _tables_holding(text: str) -> list[str]:
    """Every (table.column) of a text, varchar or JSON type in PostgreSQL whose value contains ``text``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'character')
            """
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            cursor.execute(f'SELECT 1 FROM "{table}" WHERE strpos("{column}"::text, %s) > 0 LIMIT 1', [text])
            if cursor.fetchone():
                found.append(f"{table}.{column}")
    return found


def _erasable_player(board, user_id: str, prefix: str):
    """A player who left traces everywhere: events, standings, an archive, the log, cached details, counters."""
    player = UserFactory(username=user_id, email=f"{user_id}@example.com", first_name=user_id)
    UserFactory(username="rival")
    services.score_submit(board=board, user_id=user_id, value=40, metadata={"by": user_id})
    services.score_submit(board=board, user_id="rival", value=10)
    warming.board_warm(board=board)
    APIClient().get(f"/api/v1/boards/{board.slug}/users/{user_id}/stats")
    live.watch_user(board_slug=board.slug, user_id=user_id, delta=1)
    limits.hit(scope="user", ident=f"{board.slug}:{user_id}", window=60)
    top = [{"user_id": user_id, "score": 40, "rank": 1}, {"user_id": "rival", "score": 10, "rank": 2}]
    bucket = board.bucket("daily", timezone.now() - timedelta(days=3))
    PeriodArchive.objects.create(
        board=board,
        period="daily",
        bucket_start=bucket.start,
        bucket_end=bucket.end,
        participants=2,
        winners=top[:1],
        top=top,
    )
    moderation.player_ban(user_id=user_id, reason="test", actor="mod")
    moderation.player_unban(user_id=user_id, actor="mod")
    assert user_id in _everything_in_redis(prefix)
    assert _tables_holding(user_id)
    return player


def test_a_player_deletes_their_account_and_their_id_appears_nowhere(redis_prefix):
    board = BoardFactory()
    player = _erasable_player(board, "eraseme7q", redis_prefix)
    client = APIClient()
    tokens = client.post(
        "/api/v1/auth/token", {"username": "eraseme7q", "password": "correct horse battery staple"}, format="json"
    ).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    wrong = client.delete("/api/v1/auth/me", {"password": "nope"}, format="json")
    assert wrong.status_code == 403
    assert Standing.objects.filter(user_id="eraseme7q").exists()

    assert (
        client.delete("/api/v1/auth/me", {"password": "correct horse battery staple"}, format="json").status_code == 204
    )

    assert _tables_holding("eraseme7q") == []
    assert "eraseme7q" not in _everything_in_redis(redis_prefix)
    stores_agree(board)
    player.refresh_from_db()
    assert player.username.startswith("erased-") and not player.is_active and not player.has_usable_password()
    # The past stays explainable: the events are kept under the tombstone, the archive names it.
    assert ScoreEvent.objects.filter(user_id=player.username).count() == 1
    assert PeriodArchive.objects.get().top[0]["user_id"] == player.username
    assert ModerationAction.objects.filter(action="erase", target=player.username, actor="self").exists()
    assert client.get("/api/v1/auth/me").status_code == 401
    assert (
        APIClient().post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    )
    # The id is free, and nothing counts for the tombstone.
    assert APIClient().get(f"/api/v1/boards/{board.slug}/leaderboard/all_time").json()["total"] == 1


def test_an_operator_erases_a_player(redis_prefix, staff_client):
    board = BoardFactory()
    _erasable_player(board, "gone4good", redis_prefix)
    response = staff_client.post(
        "/api/v1/moderation/players/gone4good/erase", {"reason": "GDPR request"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["user_id"].startswith("erased-")
    assert _tables_holding("gone4good") == []
    assert "gone4good" not in _everything_in_redis(redis_prefix)
    stores_agree(board)


def test_moderation_endpoints_validate_their_input(staff_client):
    UserFactory(username="someone")
    assert staff_client.post("/api/v1/moderation/players/someone/remove", {}, format="json").status_code == 400
    assert staff_client.post("/api/v1/moderation/players/nobody/ban", {"reason": "x"}, format="json").status_code == 404
    missing = staff_client.post(
        "/api/v1/moderation/players/someone/remove", {"reason": "x", "board": "none"}, format="json"
    )
    assert missing.status_code == 404
    assert staff_client.post("/api/v1/moderation/players/someone/unban", {}, format="json").status_code == 409


def test_the_admin_bans_after_a_confirmation_page_and_the_log_shows_it(client):
    board = BoardFactory()
    cheat = UserFactory(username="cheat")
    services.score_submit(board=board, user_id="cheat", value=5)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    url = "/admin/accounts/user/"
    chosen = {"action": "ban", "_selected_action": [cheat.pk]}

    page = client.post(url, chosen)
    assert page.status_code == 200 and b"Yes, ban" in page.content
    unexplained = client.post(url, {**chosen, "confirm": "yes", "reason": ""})
    assert unexplained.status_code == 200 and b"This field is required" in unexplained.content
    cheat.refresh_from_db()
    assert cheat.banned_at is None

    assert client.post(url, {**chosen, "confirm": "yes", "reason": "bot farm"}).status_code == 302
    cheat.refresh_from_db()
    assert cheat.banned_at is not None and not Standing.objects.filter(user_id="cheat").exists()
    log = client.get("/admin/leaderboard/moderationaction/")
    assert log.status_code == 200 and b"bot farm" in log.content
    removal = {"action": "remove_scores", "_selected_action": [cheat.pk], "confirm": "yes", "reason": "x"}
    assert client.post(url, {**removal, "board": board.pk}).status_code == 302
    assert ScoreEvent.objects.get(user_id="cheat").voided_at is not None


# --------------------------------------------------------------------------- who may moderate whom


def test_a_key_scoped_to_one_board_moderates_only_that_board():
    from accounts.tests.test_service_keys import key_client

    mine, other = BoardFactory(slug="mine"), BoardFactory(slug="other")
    player = UserFactory(username="cheater")
    for board in (mine, other):
        services.score_submit(board=board, user_id=player.username, value=5)
    client = key_client(name="mod-a", rights=("moderate",), boards=("mine",))
    url = "/api/v1/moderation/players/cheater"
    assert client.post(f"{url}/remove", {"reason": "x", "board": "other"}, format="json").status_code == 403
    assert client.post(f"{url}/remove", {"reason": "x"}, format="json").status_code == 403  # every board
    assert client.post(f"{url}/ban", {"reason": "x"}, format="json").status_code == 403  # global
    assert client.post(f"{url}/erase", {"reason": "x"}, format="json").status_code == 403  # staff only
    assert Standing.objects.filter(user_id="cheater", board=other).exists()
    assert client.post(f"{url}/remove", {"reason": "x", "board": "mine"}, format="json").status_code == 200
    assert not Standing.objects.filter(user_id="cheater", board=mine).exists()
    assert Standing.objects.filter(user_id="cheater", board=other).exists()


def test_only_a_superuser_may_ban_or_erase_staff_accounts(staff_client):
    from accounts.models import User

    operator = UserFactory(username="root", is_staff=True, is_superuser=True)
    server = UserFactory(username="game-server", is_staff=True)
    for target in ("root", "game-server"):
        for action in ("ban", "erase", "remove"):
            response = staff_client.post(
                f"/api/v1/moderation/players/{target}/{action}", {"reason": "x"}, format="json"
            )
            assert response.status_code == 403, (target, action, response.content)
    assert User.objects.get(pk=operator.pk).is_superuser
    assert User.objects.get(pk=server.pk).banned_at is None
    superuser = APIClient()
    superuser.credentials(HTTP_AUTHORIZATION=bearer(operator))
    assert (
        superuser.post("/api/v1/moderation/players/game-server/ban", {"reason": "x"}, format="json").status_code == 200
    )


def test_a_submit_committed_before_a_ban_but_mirrored_after_it_does_not_bring_the_player_back(monkeypatch):
    """The submit's Redis write is late (it runs after its commit): the ban's fence makes it write nothing."""
    from leaderboard import selectors

    board = BoardFactory(periods=["all_time"])
    warming.board_warm(board=board)
    UserFactory(username="cheat")
    UserFactory(username="other")
    services.score_submit(board=board, user_id="other", value=1)
    entered, release = threading.Event(), threading.Event()
    real = store_buckets.apply_submit

    def late(**kwargs):
        if kwargs["member"] == "cheat":
            entered.set()  # committed in PostgreSQL; its Redis write waits
            release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(store_buckets, "apply_submit", late)

    def submit() -> None:
        try:
            services.score_submit(board=board, user_id="cheat", value=103)
        finally:
            connection.close()

    thread = threading.Thread(target=submit)
    thread.start()
    assert entered.wait(10)
    moderation.player_ban(user_id="cheat", reason="aimbot", actor="ops")
    release.set()
    thread.join()
    stores_agree(board)
    page = selectors.leaderboard_page(board=board, period="all_time")
    assert page.cached
    assert [(e.user_id, e.score) for e in page.entries] == [("other", 1)]
    assert page.total == 1
    # After an unban the player's later submits are written again (their events come after the fence).
    moderation.player_unban(user_id="cheat", actor="ops")
    services.score_submit(board=board, user_id="cheat", value=1)
    stores_agree(board)


def test_erasure_reaches_other_players_events_and_free_text_that_name_the_player(staff_client):
    board = BoardFactory()
    UserFactory(username="gone")
    UserFactory(username="rival")
    services.score_submit(board=board, user_id="gone", value=1)
    services.score_submit(board=board, user_id="rival", value=2, metadata={"opponent": "gone", "note": "gone.x"})
    moderation.scores_remove(user_id="rival", reason="colluded with gone, see ticket", actor="ops")
    moderation.player_erase(user_id="gone", actor="ops", reason="GDPR request")
    event = ScoreEvent.objects.get(board=board, user_id="rival")
    assert event.metadata["opponent"].startswith("erased-")
    assert event.metadata["note"] == "gone.x"  # another id, not this one
    assert event.void_reason.startswith("colluded with erased-") and " gone" not in event.void_reason
    assert ModerationAction.objects.filter(reason__contains="gone").count() == 0
