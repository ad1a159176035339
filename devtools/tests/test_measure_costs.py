"""measure_costs counts what docs/scaling.md says a submit writes, and leaves no data behind."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from leaderboard.models import ScoreEvent, Standing

pytestmark = pytest.mark.django_db(transaction=True)


def sections(output: str) -> dict[str, dict[str, float]]:
    """{"## heading": {"figure name": value per op}} from the command's report."""
    found: dict[str, dict[str, float]] = {}
    current: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("## "):
            current = found.setdefault(line[3:].split(" (")[0], {})
        figure = re.match(r"  (.+?)\s+(-?[\d,]+\.\d+) (?:us )?per op", line)
        if figure:
            current[figure.group(1)] = float(figure.group(2).replace(",", ""))
    return found


def test_it_counts_what_a_submit_writes_and_leaves_no_data_behind(disposable_redis):
    # Redis' per-command statistics are per server: the command measures one (the suite's store
    # may be a cluster, which it refuses), so it gets a Valkey of its own.
    out = StringIO()
    call_command(
        "measure_costs",
        *("--users", "300", "--submits", "20", "--reads", "20", "--runs", "1", "--events", "300"),
        *("--concurrent-submits", "6", "--wrk-seconds", "0", "--pgbench-seconds", "0"),
        stdout=out,
    )
    text, found = out.getvalue(), sections(out.getvalue())

    # docs/scaling.md's counts: a five-period submit writes one event and updates five
    # standings, never HOT (the score is indexed), 3 + 5 x 4 index entries, one script.
    five = found["increment, five periods, existing standings"]
    assert five["scoreevent rows inserted"] == 1
    assert five["standing rows updated"] == 5
    assert five.get("standing rows HOT updated", 0) == 0
    assert 22 <= five["WAL Btree/INSERT_LEAF"] + five.get("WAL Btree/INSERT_POST", 0) <= 24
    assert five["redis evalsha calls"] == 1
    assert found["increment, five periods, a player's first submit"]["standing rows inserted"] == 5
    assert found["increment, all-time only, existing standings"]["standing rows updated"] == 1
    assert found["top 10"]["redis evalsha calls"] == 1
    assert found["rank of one player"]["redis evalsha calls"] == 1
    assert "measure-5p, 1 connection(s): 0 multixacts" in text

    assert not Standing.objects.filter(board__slug__startswith="measure-").exists()
    assert not ScoreEvent.objects.filter(board__slug__startswith="measure-").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_walinspect'")
        assert cursor.fetchone()[0] == 0
