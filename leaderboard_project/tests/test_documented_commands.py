"""The management commands the README documents, run as an operator runs them (issue 13).

Each runs in a subprocess, ``python manage.py <command>`` with the production
settings module, on the test session's PostgreSQL (the test database) and Redis
(this test's key prefix). ``call_command`` would skip what a real start does:
Django's system checks and the command's own parsing. That is how
``periodic_sync`` crashed at every start (its own ``check`` method hid
``BaseCommand.check``) while its tests passed. One test runs the README's
``make superuser`` form, through ``./manage`` and the stack.

Covered elsewhere: ``periodic_sync`` (seeds/tests/test_periodic_sync_command.py),
``seed_demo`` and ``./manage warm_cache`` next to a running system
(devtools/tests), ``--help`` of every documented command (devtools/tests).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import global_settings, settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import User
from leaderboard import services
from leaderboard.models import Board
from leaderboard.schedules import SCHEDULES, schedules_ensure
from leaderboard.store import connection as store_connection
from leaderboard.store import keys
from leaderboard.tests.factories import BoardFactory, UserFactory
from leaderboard.tests.helpers import pg_members, redis_members
from leaderboard_project.conftest_helpers import command_env

pytestmark = pytest.mark.django_db(transaction=True)  # committed rows: the command runs in another process


@pytest.fixture
def env(redis_prefix) -> dict[str, str]:
    return command_env(redis_url=settings.REDIS_URL, redis_prefix=redis_prefix)


@pytest.fixture
def production_hashers(settings) -> None:
    """Passwords the commands hashed as production does can be checked here (the test settings use MD5)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS``, as in the Docker image or a shell with the servers' URLs."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
    )


def test_warm_cache_rebuilds_the_named_board_and_period_and_measures_the_hot_paths(env):
    board = BoardFactory(periods=["daily", "all_time"])
    for name, value in (("ann", 30), ("bob", 20), ("cat", 10)):
        services.score_submit(board=board, user_id=UserFactory(username=name).username, value=value)
    store_connection.keys_delete(keys.board_pattern(board.slug))  # Redis lost everything
    daily, all_time = (board.bucket(period, timezone.now()) for period in ("daily", "all_time"))

    result = manage(
        env, "warm_cache", "--board", board.slug, "--period", "daily", "--test-performance", "--samples", "5"
    )

    assert result.returncode == 0, result.stdout
    assert f"{board.slug} daily" in result.stdout and "3 members" in result.stdout, result.stdout
    assert "warmed 3 members" in result.stdout
    for measured in ("top-10", "rank", "submit"):
        assert f"  {measured}" in result.stdout and "(5 calls)" in result.stdout, result.stdout
    assert redis_members(board, daily) == pg_members(board, daily) == {"ann": 30, "bob": 20, "cat": 10}
    assert not store_connection.client().exists(keys.bucket(board.slug, "all_time", all_time.key))  # not named
    # The latency run's scratch board and player are gone.
    assert not Board.objects.filter(slug__startswith="perf-").exists()
    assert not User.objects.filter(username__startswith="perf-").exists()


def test_warm_cache_refuses_an_unknown_board_or_period_and_says_which(env):
    board = BoardFactory()

    unknown_board = manage(env, "warm_cache", "--board", "no-such-board")
    unknown_period = manage(env, "warm_cache", "--board", board.slug, "--period", "hourly")

    assert unknown_board.returncode == 1 and "Unknown boards: no-such-board" in unknown_board.stdout
    assert unknown_period.returncode == 1 and "Unknown period" in unknown_period.stdout


def test_trust_server_grants_and_revokes_submitting_for_others(env):
    server = UserFactory(username="game-server-1")
    assert not server.can_submit_for_others()

    granted = manage(env, "trust_server", "game-server-1")
    assert granted.returncode == 0, granted.stdout
    assert "game-server-1: trusted server" in granted.stdout
    assert User.objects.get(pk=server.pk).can_submit_for_others()

    revoked = manage(env, "trust_server", "game-server-1", "--revoke")
    assert revoked.returncode == 0, revoked.stdout
    assert "game-server-1: not trusted" in revoked.stdout
    assert not User.objects.get(pk=server.pk).can_submit_for_others()


def test_trust_server_refuses_an_account_that_does_not_exist(env):
    result = manage(env, "trust_server", "nobody")
    assert result.returncode == 1
    assert "No user 'nobody'; register it first" in result.stdout


def test_createsuperuser_without_prompts_takes_the_documented_variables(env, production_hashers):
    result = manage(
        {
            **env,
            "DJANGO_SUPERUSER_USERNAME": "ops",
            "DJANGO_SUPERUSER_PASSWORD": "another long passphrase",
            "DJANGO_SUPERUSER_EMAIL": "ops@example.com",
        },
        "createsuperuser",
        "--noinput",
    )

    assert result.returncode == 0, result.stdout
    ops = User.objects.get(username="ops")
    assert ops.is_superuser and ops.is_staff and ops.email == "ops@example.com"
    assert ops.check_password("another long passphrase")


def test_setup_periodic_tasks_creates_the_missing_schedules_and_keeps_the_rest(env):
    schedules_ensure()  # as migrate left them (a transactional test may start after a flush)
    PeriodicTask.objects.filter(name=SCHEDULES[0].name).delete()
    PeriodicTask.objects.filter(name=SCHEDULES[1].name).update(enabled=False)  # an operator's choice

    first = manage(env, "setup_periodic_tasks")
    again = manage(env, "setup_periodic_tasks")

    assert first.returncode == 0 and again.returncode == 0, first.stdout + again.stdout
    assert f"1 created, {len(SCHEDULES) - 1} already present" in first.stdout
    assert f"0 created, {len(SCHEDULES)} already present" in again.stdout
    assert {s.name for s in SCHEDULES} <= set(PeriodicTask.objects.values_list("name", flat=True))
    assert PeriodicTask.objects.get(name=SCHEDULES[1].name).enabled is False


def test_every_migration_is_applied_and_none_is_missing(env):
    """``migrate --check`` on the migrated test database; ``makemigrations --check``: the models match them."""
    applied = manage(env, "migrate", "--check", "--noinput")
    assert applied.returncode == 0, applied.stdout

    missing = manage(env, "makemigrations", "--check", "--dry-run", "--noinput")
    assert missing.returncode == 0, missing.stdout
    assert "No changes detected" in missing.stdout


def test_make_superuser_runs_through_manage_on_the_configured_servers(env, tmp_path, production_hashers):
    """The README's form: ``DJANGO_SUPERUSER_*=... make superuser``, i.e. ``./manage createsuperuser --noinput``.

    With DATABASE_URL and REDIS_URL set, ``./manage`` uses those servers and starts
    none; it runs the command with the stack's settings and a secret of its own.
    """
    shell = {k: v for k, v in env.items() if k != "SECRET_KEY"}
    shell.update(
        STACK_DATA_DIR=str(tmp_path),
        DJANGO_SUPERUSER_USERNAME="ops2",
        DJANGO_SUPERUSER_PASSWORD="a third long passphrase",
        DJANGO_SUPERUSER_EMAIL="ops2@example.com",
    )
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "superuser"],
        cwd=settings.BASE_DIR,
        env=shell,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout
    assert "PostgreSQL on" not in result.stdout and "Valkey on" not in result.stdout, result.stdout
    ops = User.objects.get(username="ops2")
    assert ops.is_superuser and ops.check_password("a third long passphrase")
