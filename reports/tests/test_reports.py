"""Reports from the score history: top players between dates, archives, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from leaderboard import rollover, services
from leaderboard.models import Board
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def history():
    best = BoardFactory(slug="hs", operator=Board.Operator.BEST)
    total = BoardFactory(slug="total", operator=Board.Operator.INCREMENT)
    ann, bob, cat = (UserFactory(username=n) for n in ("ann", "bob", "cat"))
    for user, value, day in [(ann, 50, 10), (ann, 90, 12), (bob, 70, 11), (bob, 95, 20), (cat, 60, 12)]:
        services.score_submit(board=best, user_id=user.username, value=value, at=at(day))
        services.score_submit(board=total, user_id=user.username, value=value, at=at(day))
    return best, total


def test_top_players_by_best_score_in_a_range(auth_client, history):
    response = auth_client.get("/api/v1/reports/top-players?board=hs&start_date=2026-11-10&end_date=2026-11-15")
    assert response.status_code == 200
    body = response.json()
    assert body["measure"] == "best" and body["total"] == 3
    assert [(e["rank"], e["user_id"], e["score"], e["submissions"]) for e in body["entries"]] == [
        (1, "ann", 90, 2),
        (2, "bob", 70, 1),
        (3, "cat", 60, 1),
    ]


def test_top_players_by_total_on_increment_boards_paginated(auth_client, history):
    url = "/api/v1/reports/top-players?board=total&start_date=2026-11-01&end_date=2026-11-30&limit=1&offset=1"
    body = auth_client.get(url).json()
    assert body["measure"] == "total" and body["total"] == 3
    assert body["entries"] == [{"rank": 2, "user_id": "ann", "score": 140, "submissions": 2}]


def test_top_players_as_csv(auth_client, history):
    url = "/api/v1/reports/top-players?board=hs&start_date=2026-11-01&end_date=2026-11-30&export=csv"
    response = auth_client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["rank", "user_id", "best", "submissions"]
    assert rows[1] == ["1", "bob", "95", "2"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start_date=2026-13-01&end_date=2026-11-30", "start_date"),
        ("start_date=2026-11-30&end_date=2026-11-01", "end_date"),
        ("start_date=2020-01-01&end_date=2026-11-30", "end_date"),
        ("end_date=2026-11-30", "start_date"),
    ],
)
def test_bad_ranges_are_400s_with_clear_messages(auth_client, history, query, field):
    response = auth_client.get(f"/api/v1/reports/top-players?board=hs&{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_reports_need_a_token(api_client):
    assert api_client.get("/api/v1/reports/top-players?start_date=2026-11-01&end_date=2026-11-02").status_code == 401
    assert api_client.get("/api/v1/reports/archives").status_code == 401


def test_archives_are_listed_and_filtered(auth_client, history):
    rollover.buckets_finalise_ended(now=at(21, 1))
    everything = auth_client.get("/api/v1/reports/archives?board=hs").json()
    assert everything["total"] > 0
    daily = auth_client.get("/api/v1/reports/archives?board=hs&period=daily&since=2026-11-12&until=2026-11-12").json()
    assert daily["total"] == 1
    archive = daily["archives"][0]
    assert archive["winners"] == [{"user_id": "ann", "score": 90, "rank": 1}]
    assert archive["participants"] == 2 and archive["reason"] == "rollover"
    assert auth_client.get("/api/v1/reports/archives?period=hourly").status_code == 400
