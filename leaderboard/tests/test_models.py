"""Model rules (``leaderboard.models``): field validators and bucket filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from leaderboard.models import Board, Standing, in_buckets, validate_periods, validate_rate
from leaderboard.tests.factories import BoardFactory, UserFactory


@pytest.mark.parametrize("value", [["daily", "daily"], ["hourly"], ["Daily"]])
def test_periods_must_be_known_and_unique(value):
    with pytest.raises(ValidationError):
        validate_periods(value)


@pytest.mark.parametrize("value", ["60/min", "1/s", "10/hour", "5/day", ""])
def test_rates_accept_a_count_per_unit(value):
    validate_rate(value)


@pytest.mark.parametrize("value", ["0/min", "lots", "60/fortnight", "-1/s", "1/"])
def test_rates_refuse_anything_else(value):
    with pytest.raises(ValidationError):
        validate_rate(value)


@pytest.mark.django_db
def test_in_buckets_selects_exactly_the_given_buckets():
    board: Board = BoardFactory(periods=["daily", "all_time"])
    user = UserFactory()
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    yesterday = datetime(2026, 11, 29, 12, tzinfo=UTC)
    wanted = board.live_buckets(now)
    rows = [(b.period, b.start) for b in wanted] + [("daily", board.bucket("daily", yesterday).start)]
    for period, start in rows:
        Standing.objects.create(
            board=board, period=period, bucket_start=start, user=user, score=1, created_at=now, updated_at=now
        )
    found = set(Standing.objects.filter(in_buckets(wanted), board=board).values_list("period", "bucket_start"))
    assert found == {(b.period, b.start) for b in wanted}
    assert not Standing.objects.filter(in_buckets([])).exists()
