"""The benchmarks leave the database as they found it: other boards' state, accounts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from devtools import demo
from devtools.stack import ROOT, free_port, web_command
from leaderboard import sync
from leaderboard.models import Board, ReconciliationRun, ScoreEvent
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def board_states() -> dict[str, bool]:
    return dict(Board.objects.values_list("slug", "is_active"))


@pytest.fixture
def other_boards() -> dict[str, bool]:
    """Boards that have nothing to do with the benchmark, one of them deactivated by its operator."""
    BoardFactory(slug="live-one")
    BoardFactory(slug="live-two")
    BoardFactory(slug="retired", is_active=False)
    return board_states()


@pytest.fixture
def reconcile_spy(monkeypatch):
    """The real reconciliation, with every board's state noted when it starts."""
    seen: list[dict[str, bool]] = []
    real = sync.reconciliation_run

    def spy(**kwargs):
        seen.append(board_states())
        return real(**kwargs)

    monkeypatch.setattr(sync, "reconciliation_run", spy)
    return seen


def test_benchmark_reconcile_leaves_every_other_board_as_it_found_it(other_boards, reconcile_spy):
    """It deactivated every other board while it ran (the hourly job of a live system skipped them)."""
    out = StringIO()
    call_command("benchmark_reconcile", "--users", "40", "--damage", "3", stdout=out)
    assert "reconciliation: succeeded" in out.getvalue(), out.getvalue()
    assert "Redis matches PostgreSQL: True" in out.getvalue()
    during = reconcile_spy[0]
    assert {slug: during[slug] for slug in other_boards} == other_boards
    assert board_states() == other_boards  # its own board is gone too
    run = ReconciliationRun.objects.get(trigger="benchmark")
    assert {bucket["board"] for bucket in run.buckets} == {"bench-reconcile"}


def test_benchmark_reconcile_interrupted_leaves_the_boards_and_no_board_of_its_own(
    other_boards, reconcile_spy, monkeypatch
):
    def interrupted(**kwargs):
        reconcile_spy.append(board_states())
        raise KeyboardInterrupt

    monkeypatch.setattr(sync, "reconciliation_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        call_command("benchmark_reconcile", "--users", "20", "--damage", "2", stdout=StringIO())
    assert board_states() == other_boards


def test_the_benchmark_staff_account_is_gone_after_the_block_even_on_ctrl_c():
    with pytest.raises(KeyboardInterrupt), demo.staff_user_temporary(username="bench-server") as user:
        assert User.objects.get(pk=user.pk).is_staff
        raise KeyboardInterrupt
    assert not User.objects.filter(username="bench-server").exists()
    with demo.staff_user_temporary(username="bench-server"):
        pass
    assert not User.objects.filter(username="bench-server").exists()


def test_an_existing_account_is_kept_and_gets_its_staff_status_back():
    player = UserFactory(username="bench-server", is_staff=False)
    with demo.staff_user_temporary(username="bench-server") as user:
        assert user.pk == player.pk and User.objects.get(pk=player.pk).is_staff
    assert User.objects.get(pk=player.pk).is_staff is False
    UserFactory(username="ops", is_staff=True)
    with demo.staff_user_temporary(username="ops"):
        pass
    assert User.objects.get(username="ops").is_staff is True


def test_a_temporary_account_that_scored_meanwhile_is_kept_but_no_longer_staff():
    """Its score events protect the row (PROTECT); the staff status still goes."""
    board = BoardFactory()
    with demo.staff_user_temporary(username="bench-server") as user:
        ScoreEvent.objects.create(board=board, user=user, value=1, created_at=timezone.now())
    assert User.objects.get(username="bench-server").is_staff is False


def test_benchmark_reports_runs_small_and_removes_its_board(other_boards):
    out = StringIO()
    call_command("benchmark_reports", "--events", "200", "--users", "20", "--days", "2", "--repeat", "1", stdout=out)
    assert "top players over 2 days" in out.getvalue()
    assert board_states() == other_boards


def test_benchmark_ws_imports_without_django_for_its_client_processes():
    """Its WebSocket clients run in spawned processes that import the module before any Django setup."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import devtools.management.commands.benchmark_ws as m; print(m.client_process.__name__)"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "client_process", run.stderr


def test_the_benchmark_server_serves_the_bare_view_and_stops_on_sigint(settings):
    """The engine benchmark's server: the Procfile's web line under settings_dev, as `benchmark` starts it."""
    port = free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="leaderboard_project.settings_dev",
        SECRET_KEY=settings.SECRET_KEY,
        SECURE_HTTPS="false",
        DEBUG="false",
    )
    server = subprocess.Popen(web_command(host="127.0.0.1", port=port, workers=1, threads=1), env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_bench/bare", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        assert len(body["entries"]) == 10
    finally:
        server.send_signal(signal.SIGINT)  # the benchmark stops it so: the launcher must have become granian
        assert server.wait(30) is not None
