"""Period buckets in a board's time zone: midnight boundaries and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from leaderboard import services
from leaderboard.models import Standing
from leaderboard.periods import ALL_TIME_START, bucket_for
from leaderboard.tests.factories import BoardFactory, UserFactory

NY = "America/New_York"
TOKYO = "Asia/Tokyo"


def local(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=ZoneInfo(zone))


def test_the_second_before_and_after_local_midnight_are_different_days():
    before = bucket_for("daily", local(TOKYO, 2026, 11, 22, 23, 59, 59, micro=900_000), TOKYO)
    after = bucket_for("daily", local(TOKYO, 2026, 11, 23, 0, 0, 0, micro=100_000), TOKYO)
    assert before.key == "2026-11-22" and after.key == "2026-11-23"
    assert before.end == after.start == datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def test_weekly_buckets_start_on_iso_monday_monthly_on_the_first_yearly_on_january_first():
    sunday_night = local(NY, 2026, 11, 22, 23, 30)
    assert bucket_for("weekly", sunday_night, NY).key == "2026-11-16"
    assert bucket_for("weekly", sunday_night + timedelta(hours=1), NY).key == "2026-11-23"
    assert bucket_for("monthly", local(NY, 2026, 12, 31, 23, 59), NY).key == "2026-12-01"
    assert bucket_for("monthly", local(NY, 2027, 1, 1, 0, 0), NY).key == "2027-01-01"
    assert bucket_for("yearly", local(NY, 2026, 12, 31, 23, 59), NY).key == "2026-01-01"
    assert bucket_for("yearly", local(NY, 2026, 12, 31, 23, 59), NY).end == local(NY, 2027, 1, 1).astimezone(UTC)
    assert bucket_for("all_time", local(NY, 2026, 1, 1), NY).start == ALL_TIME_START


def test_dst_days_are_23_and_25_hours_long_and_midnight_stays_local():
    spring = bucket_for("daily", local(NY, 2026, 3, 8, 12), NY)  # clocks go forward at 02:00
    autumn = bucket_for("daily", local(NY, 2026, 11, 1, 12), NY)  # clocks go back at 02:00
    assert spring.end is not None and autumn.end is not None  # daily buckets end
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)
    assert autumn.start == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # midnight EDT
    assert autumn.end == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)  # midnight EST
    # 01:30 happens twice on 1 November; both belong to that day.
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert bucket_for("daily", first, NY).key == bucket_for("daily", second, NY).key == "2026-11-01"


def test_a_midnight_skipped_by_dst_starts_the_day_at_the_first_real_instant():
    # Santiago jumps from 00:00 to 01:00 on 2026-09-06.
    day = bucket_for("daily", datetime(2026, 9, 6, 12, tzinfo=UTC), "America/Santiago")
    assert day.key == "2026-09-06"
    assert day.end is not None
    assert day.start.astimezone(ZoneInfo("America/Santiago")).hour in (0, 1)
    assert day.end - day.start == timedelta(hours=23)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("zone", [TOKYO, NY])
def test_submits_either_side_of_local_midnight_land_in_different_daily_buckets(zone):
    board = BoardFactory(time_zone=zone)
    user = UserFactory()
    late = local(zone, 2026, 11, 22, 23, 59, 59, micro=900_000)
    early = local(zone, 2026, 11, 23, 0, 0, 0, micro=100_000)
    services.score_submit(board=board, user_id=user.username, value=3, at=late)
    services.score_submit(board=board, user_id=user.username, value=4, at=early)
    daily = dict(Standing.objects.filter(board=board, period="daily").values_list("bucket_start", "score"))
    assert daily == {bucket_for("daily", late, zone).start: 3, bucket_for("daily", early, zone).start: 4}
    # Same week (Monday 23rd starts a new week, so check the all-time total instead).
    assert Standing.objects.get(board=board, period="all_time").score == 7


@pytest.mark.django_db(transaction=True)
def test_submits_across_the_autumn_dst_change_land_in_the_right_days():
    board = BoardFactory(time_zone=NY)
    user = UserFactory()
    moments = [
        datetime(2026, 11, 1, 3, 59, tzinfo=UTC),  # 23:59 EDT on 31 October
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 EDT on 1 November
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 EST on 1 November (the repeated hour)
        datetime(2026, 11, 2, 4, 59, tzinfo=UTC),  # 23:59 EST on 1 November
        datetime(2026, 11, 2, 5, 0, tzinfo=UTC),  # 00:00 EST on 2 November
    ]
    for at in moments:
        services.score_submit(board=board, user_id=user.username, value=1, at=at)
    daily = {
        start.astimezone(ZoneInfo(NY)).date().isoformat(): score
        for start, score in Standing.objects.filter(board=board, period="daily").values_list("bucket_start", "score")
    }
    assert daily == {"2026-10-31": 1, "2026-11-01": 3, "2026-11-02": 1}
