"""Selectors (``leaderboard.selectors``; ranks are test_ranking's). A player's rank history (issue 16):
final ranks per finished bucket, against real PostgreSQL and Redis.

The acceptance point "rank history matches the archives": every finished bucket's
rank and score in the history equal the archive's top entry for that player.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leaderboard import rollover, selectors, services, warming
from leaderboard.models import Board, PeriodArchive
from leaderboard.tests.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = timezone.now().date()


def day(days_ago: int) -> date:
    return TODAY - timedelta(days=days_ago)


def play(board: Board, days_ago: int, scores: dict[str, int]) -> None:
    for user_id, value in scores.items():
        UserFactory(username=user_id)
        at = datetime.combine(day(days_ago), time(12), tzinfo=UTC)
        services.score_submit(board=board, user_id=user_id, value=value, at=at)


def history_url(board: Board, user_id: str, period: str = "daily", query: str = "") -> str:
    return f"/api/v1/boards/{board.slug}/users/{user_id}/history/{period}" + (f"?{query}" if query else "")


@pytest.fixture
def arena() -> Board:
    """Five finished days (ties on two of them), one day nobody named "ann" played, and today."""
    board = BoardFactory(slug="arena", time_zone="UTC", periods=["daily", "weekly", "all_time"])
    play(board, 10, {"ann": 5, "bob": 9, "cy": 5, "dee": 1})  # ann and cy tie for 2nd
    play(board, 9, {"ann": 7})
    play(board, 8, {"bob": 3})  # ann did not play
    play(board, 7, {"ann": 2, "bob": 2, "cy": 8})  # ann and bob tie for 2nd
    play(board, 6, {"ann": 10, "dee": 10})  # ann and dee tie for 1st
    services.score_submit(board=board, user_id="ann", value=4)  # today: live
    services.score_submit(board=board, user_id="bob", value=6)
    rollover.buckets_finalise_ended()
    warming.board_warm(board=board)
    return board


def archived_entry(board: Board, label: str, user_id: str) -> tuple[dict, int]:
    archive = PeriodArchive.objects.get(board=board, period="daily", bucket_start__date=date.fromisoformat(label))
    return next(e for e in archive.top if e["user_id"] == user_id), archive.participants


def test_rank_history_matches_the_archives(arena, api_client):
    response = api_client.get(history_url(arena, "ann"))
    assert response.status_code == 200, response.content
    body = response.json()
    entries = body["entries"]
    assert [e["bucket"]["bucket"] for e in entries] == [day(n).isoformat() for n in (6, 7, 9, 10)]
    assert body["total"] == 4 and body["board"] == "arena" and body["period"] == "daily"
    for entry in entries:
        archived, participants = archived_entry(arena, entry["bucket"]["bucket"], "ann")
        assert (entry["rank"], entry["score"]) == (archived["rank"], archived["score"])
        assert entry["participants"] == participants
        noon = datetime.combine(date.fromisoformat(entry["bucket"]["bucket"]), time(12), tzinfo=UTC)
        bucket = arena.bucket("daily", noon)
        info = selectors.RankInfo(arena, bucket, "ann", entry["score"], entry["rank"], participants, False)
        assert entry["percentile"] == info.percentile
    # Ties share a rank (standard competition ranking).
    assert [(e["rank"], e["score"], e["participants"]) for e in entries] == [
        (1, 10, 2),
        (2, 2, 3),
        (1, 7, 1),
        (2, 5, 4),
    ]
    assert entries[-1]["percentile"] == 75.0
    oldest = entries[-1]["bucket"]
    assert oldest["start"] == f"{day(10).isoformat()}T00:00:00Z"
    assert oldest["end"] == f"{day(9).isoformat()}T00:00:00Z"
    assert body["live"]["bucket"]["bucket"] == TODAY.isoformat()
    assert (body["live"]["rank"], body["live"]["score"], body["live"]["participants"]) == (2, 4, 2)
    assert body["live"]["percentile"] == 50.0 and body["live"]["cached"] is True


def test_lower_is_better_boards_rank_ascending_like_their_archives(api_client):
    board = BoardFactory(slug="speedrun", time_zone="UTC", sort_order="asc", operator="best", periods=["daily"])
    play(board, 3, {"ann": 50, "bob": 40, "cy": 50, "dee": 70})
    play(board, 2, {"ann": 30, "bob": 40})
    rollover.buckets_finalise_ended()
    for user_id in ("ann", "cy", "dee"):
        entries = api_client.get(history_url(board, user_id)).json()["entries"]
        for entry in entries:
            archived, _ = archived_entry(board, entry["bucket"]["bucket"], user_id)
            assert (entry["rank"], entry["score"]) == (archived["rank"], archived["score"])
    ann = api_client.get(history_url(board, "ann")).json()["entries"]
    assert [(e["rank"], e["score"]) for e in ann] == [(1, 30), (2, 50)]


def test_history_pages_newest_first(arena, api_client):
    first = api_client.get(history_url(arena, "ann", query="limit=2")).json()
    second = api_client.get(history_url(arena, "ann", query="limit=2&offset=2")).json()
    beyond = api_client.get(history_url(arena, "ann", query="limit=2&offset=9")).json()
    assert [e["bucket"]["bucket"] for e in first["entries"]] == [day(6).isoformat(), day(7).isoformat()]
    assert [e["bucket"]["bucket"] for e in second["entries"]] == [day(9).isoformat(), day(10).isoformat()]
    assert (first["total"], second["total"], beyond["total"]) == (4, 4, 4)
    assert beyond["entries"] == [] and (beyond["offset"], beyond["limit"]) == (9, 2)
    assert api_client.get(history_url(arena, "ann", query="limit=101")).status_code == 400
    assert api_client.get(history_url(arena, "ann", query="offset=-1")).status_code == 400


def test_weekly_history_and_all_time_has_only_the_live_entry(arena, api_client):
    weekly = api_client.get(history_url(arena, "ann", "weekly")).json()
    this_week = TODAY - timedelta(days=TODAY.weekday())
    assert all(date.fromisoformat(e["bucket"]["bucket"]) < this_week for e in weekly["entries"])
    assert weekly["total"] == len(weekly["entries"]) >= 1
    all_time = api_client.get(history_url(arena, "ann", "all_time")).json()
    assert all_time["entries"] == [] and all_time["total"] == 0
    assert all_time["live"]["score"] == 5 + 7 + 2 + 10 + 4 and all_time["live"]["rank"] == 1
    assert api_client.get(history_url(arena, "ann", "all-time")).status_code == 200


def test_unknown_board_or_period_is_404(arena, api_client):
    assert api_client.get(history_url(arena, "ann", "hourly")).status_code == 404
    assert api_client.get(history_url(arena, "ann", "monthly")).status_code == 404  # not kept by this board
    response = api_client.get("/api/v1/boards/nope/users/ann/history/daily")
    assert response.status_code == 404 and "detail" in response.json()


def test_a_player_without_history_gets_only_the_live_entry(arena, api_client):
    body = api_client.get(history_url(arena, "nobody")).json()
    assert body["entries"] == [] and body["total"] == 0
    assert body["live"]["score"] is None and body["live"]["rank"] is None and body["live"]["percentile"] is None
    assert body["live"]["participants"] == 2
    # A player who only plays today has no finished bucket either.
    UserFactory(username="newcomer")
    services.score_submit(board=arena, user_id="newcomer", value=1)
    body = api_client.get(history_url(arena, "newcomer")).json()
    assert body["entries"] == [] and body["live"]["rank"] == 3


def test_a_manually_reset_bucket_ends_at_the_reset(api_client):
    board = BoardFactory(slug="resets", time_zone="UTC", periods=["daily"])
    UserFactory(username="ann")
    services.score_submit(board=board, user_id="ann", value=3)
    archive = rollover.period_reset(board=board, period="daily")
    body = api_client.get(history_url(board, "ann")).json()
    assert [(e["rank"], e["score"], e["participants"]) for e in body["entries"]] == [(1, 3, 1)]
    assert body["entries"][0]["bucket"]["bucket"] == TODAY.isoformat()
    assert body["entries"][0]["bucket"]["end"].startswith(archive.bucket_end.strftime("%Y-%m-%dT%H:%M:%S"))
    assert archive.bucket_end < datetime.combine(TODAY + timedelta(days=1), time(0), tzinfo=UTC)
    assert body["live"]["bucket"]["reset_at"] is not None and body["live"]["rank"] is None


def test_history_is_one_query_for_the_page_whatever_its_size(api_client):
    board = BoardFactory(slug="busy", time_zone="UTC", periods=["daily"])
    for days_ago in range(1, 13):
        play(board, days_ago, {"ann": days_ago, "bob": 6, "cy": 12 - days_ago})
    services.score_submit(board=board, user_id="ann", value=1)
    warming.board_warm(board=board)
    api_client.get(history_url(board, "ann"))  # board and repair marks now cached in this process

    counts = {}
    for limit in (1, 12):
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(history_url(board, "ann", query=f"limit={limit}"))
        assert response.status_code == 200 and len(response.json()["entries"]) == limit
        counts[limit] = [q["sql"] for q in queries.captured_queries if "leaderboard_standing" in q["sql"]]
        assert len(queries.captured_queries) <= 3  # at most: the board, the repair marks, the history
    # One query ranks the whole page (the live bucket comes from Redis): no query per bucket.
    assert len(counts[1]) == len(counts[12]) == 1


def test_history_selector_query_count_is_pinned(django_assert_max_num_queries, settings):
    settings.LEADERBOARD_REPAIR_MARKS_SECONDS = 60  # the marks' reload stays out of the count
    board = BoardFactory(slug="pinned", time_zone="UTC", periods=["daily"])
    for days_ago in range(1, 9):
        play(board, days_ago, {"ann": days_ago, "bob": 4})
    services.score_submit(board=board, user_id="ann", value=1)
    warming.board_warm(board=board)
    selectors.user_history(board=board, period="daily", user_id="ann")  # repair marks loaded
    with django_assert_max_num_queries(1):
        history = selectors.user_history(board=board, period="daily", user_id="ann", limit=8)
    assert history.live.cached is True
    # Newest first: ann scored n on the day n days ago; bob 4 every day: ann shares rank 1 at 4.
    assert [(h.score, h.rank) for h in history.entries] == [(n, 1 if n >= 4 else 2) for n in range(1, 9)]
