"""What operators see (issue 17): no database errors for normal traffic, one meaning of ``ranks``."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import User
from leaderboard import warming
from leaderboard.tests.factories import BoardFactory

pytestmark = pytest.mark.django_db(transaction=True)


def submit(client, board, **payload):
    return client.post(f"/api/v1/boards/{board.slug}/scores", payload, format="json")


def _rolled_back_transactions() -> int:
    """Transactions of this database that ended in an error (a failed statement rolls its own back).

    PostgreSQL 15+ keeps a backend's counters in memory and publishes them in
    batches: the forced flush and the cleared snapshot make the count current.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT 1")  # the flush happens when this statement's transaction ends
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_a_trusted_submit_for_a_new_player_creates_it_without_a_failed_statement(staff_client):
    """Operators alert on database errors: creating a player must not go through a foreign-key violation."""
    board = BoardFactory()
    warming.board_warm(board=board)
    before = _rolled_back_transactions()
    for name in ("carol", "dave"):
        response = submit(staff_client, board, value=5, user_id=name)
        assert response.status_code == 201, response.content
    assert _rolled_back_transactions() == before
    assert set(User.objects.filter(username__in=["carol", "dave"]).values_list("username", flat=True)) == {
        "carol",
        "dave",
    }
    # The player's own later submit (the hot path) is unchanged and books to the created user.
    assert submit(staff_client, board, value=2, user_id="carol").json()["scores"]["daily"] == 7


def test_a_game_servers_submits_for_a_known_player_cost_no_extra_query(staff_client):
    """Only the first trusted submit for a player in a process looks the player up."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    board = BoardFactory()
    assert submit(staff_client, board, value=1, user_id="erin").status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert submit(staff_client, board, value=1, user_id="erin").status_code == 201
    assert not [q["sql"] for q in queries if "accounts_user" in q["sql"]]


def test_submit_ranks_hold_only_cached_periods_and_never_null(auth_client):
    """``ranks``: the new rank of each period whose bucket Redis holds; a period is absent otherwise."""
    board = BoardFactory()
    warming.board_warm(board=board, periods=["daily"])  # only daily is cached
    first = submit(auth_client, board, value=3, idempotency_key="k-1")
    assert first.status_code == 201, first.content
    assert first.json()["ranks"] == {"daily": 1}
    replay = submit(auth_client, board, value=3, idempotency_key="k-1")
    assert replay.json()["replayed"] is True
    assert replay.json()["ranks"] == {}  # a replay changes no rank and reads none


def test_a_reset_bucket_reads_as_its_date_and_number_everywhere(api_client, staff_client, caplog):
    """After manual resets the bucket is ``<date>.2``, ``<date>.3`` with its reset instant beside it.

    Its Redis key is unchanged (``Bucket.key``), so submits, reads and warming still agree on it.
    """
    import logging
    from io import StringIO

    from django.core.management import call_command

    from leaderboard.rollover import period_reset

    board = BoardFactory(slug="resettable")
    warming.board_warm(board=board)
    assert submit(staff_client, board, value=4, user_id="erin").status_code == 201
    period_reset(board=board, period="daily")
    board.refresh_from_db()
    today = board.bucket("daily", board.updated_at).local_start.isoformat()
    detail = {c["period"]: c for c in api_client.get("/api/v1/boards/resettable").json()["current"]}
    assert detail["daily"]["bucket"] == f"{today}.2" and detail["daily"]["bucket_reset_at"]
    assert detail["weekly"]["bucket_reset_at"] is None and "." not in detail["weekly"]["bucket"]

    period_reset(board=board, period="daily")
    assert submit(staff_client, board, value=3, user_id="erin").status_code == 201
    page = api_client.get("/api/v1/boards/resettable/leaderboard/daily").json()
    assert page["bucket"]["bucket"] == f"{today}.3" and page["bucket"]["reset_at"]
    assert page["cached"] is True and page["entries"] == [{"user_id": "erin", "score": 3, "rank": 1}]

    # warm_cache: one line per bucket (no log line repeating it), columns aligned on reset buckets.
    out = StringIO()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        call_command("warm_cache", "--board", "resettable", stdout=out)
    assert not [r for r in caplog.records if r.getMessage().startswith("warmed ")]
    rows = [line for line in out.getvalue().splitlines() if " members " in line and "/s" in line]
    assert len(rows) == 5 and any(f" {today}.3 " in row for row in rows)
    assert len({row.index(" members ") for row in rows}) == 1, rows


def test_the_readme_token_steps_give_a_staff_and_a_trusted_server_token(api_client, monkeypatch, default_boards):
    """An operator created without prompts (DJANGO_SUPERUSER_*) and a trusted server (trust_server) get tokens."""
    from django.core.management import call_command

    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "another long passphrase")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    call_command("createsuperuser", "--noinput", verbosity=0)

    def token(username: str, password: str) -> str:
        response = api_client.post("/api/v1/auth/token", {"username": username, "password": password}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["access"]

    staff = token("ops", "another long passphrase")
    status = api_client.get("/api/redis-leaderboard/admin/status", HTTP_AUTHORIZATION=f"Bearer {staff}")
    assert status.status_code == 200, status.content

    password = "a third long passphrase"
    assert (
        api_client.post(
            "/api/v1/auth/register", {"username": "game-server-1", "password": password}, format="json"
        ).status_code
        == 201
    )
    call_command("trust_server", "game-server-1", verbosity=0)
    trusted = token("game-server-1", password)
    update = api_client.post(
        "/api/redis-leaderboard/update",
        {"user_id": "user123", "count": 1},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {trusted}",
    )
    assert update.status_code in (200, 201), update.content
    # createsuperuser's prompt is the field's verbose name: the API's word for it.
    assert User._meta.get_field("username").verbose_name == "username"
