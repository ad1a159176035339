"""Period buckets: where a period starts and ends in a board's time zone.

Daily buckets start at local midnight, weekly on ISO Monday, monthly on the
1st, yearly on 1 January; all-time has one bucket. Boundaries are computed on
local calendar dates and only then turned into instants, so a DST change moves
the UTC instant of midnight, never the date a submit belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models


class Period(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    YEARLY = "yearly", "Yearly"
    ALL_TIME = "all_time", "All time"


PERIOD_ORDER: tuple[str, ...] = tuple(Period.values)
# The one bucket of the all-time period.
ALL_TIME_START = datetime(1970, 1, 1, tzinfo=UTC)
ALIASES = {"all-time": Period.ALL_TIME, "alltime": Period.ALL_TIME, "all": Period.ALL_TIME}


def parse_period(value: str) -> Period | None:
    value = (value or "").strip().lower()
    if value in ALIASES:
        return ALIASES[value]
    try:
        return Period(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One period bucket of a board: ``[start, end)`` as UTC instants.

    A manual reset restarts a period's calendar bucket: the restarted bucket
    starts at the reset instant (``reset_at``) and ends with the calendar one.
    ``reset_sequence`` numbers the restarts within one calendar bucket (the
    first restart is 2: the calendar bucket itself is the first), when known.
    """

    period: str
    start: datetime
    end: datetime | None
    local_start: date | None
    reset_at: datetime | None = None
    reset_sequence: int | None = None

    @property
    def key(self) -> str:
        """The id used in Redis key names: unique per bucket, derived from its instants alone."""
        base = "all" if self.local_start is None else self.local_start.isoformat()
        if self.reset_at is not None:
            return f"{base}r{int(self.reset_at.timestamp() * 1000)}"
        return base

    @property
    def label(self) -> str:
        """The id people read (API, admin, commands): the date, plus ``.N`` for the N-th run of a restarted one.

        ``2026-11-30`` is the calendar bucket, ``2026-11-30.2`` the bucket after its
        first manual reset; the reset instant is ``reset_at``. Equal to ``key`` for
        calendar buckets; a restarted bucket of unknown sequence shows its restart time.
        """
        base = "all" if self.local_start is None else self.local_start.isoformat()
        if self.reset_at is None:
            return base
        if self.reset_sequence is not None:
            return f"{base}.{self.reset_sequence}"
        return f"{base} reset {self.reset_at.astimezone(UTC):%H:%M:%S}Z"

    def restarted(self, at: datetime, sequence: int | None = None) -> Bucket:
        return replace(self, start=at, reset_at=at, reset_sequence=sequence)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # Round-tripping through UTC resolves a midnight that a DST jump skipped.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _period_start_date(period: str, day: date) -> date:
    if period == Period.DAILY:
        return day
    if period == Period.WEEKLY:
        return day - timedelta(days=day.weekday())
    if period == Period.MONTHLY:
        return day.replace(day=1)
    if period == Period.YEARLY:
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown period {period!r}")


def _next_start_date(period: str, start: date) -> date:
    if period == Period.DAILY:
        return start + timedelta(days=1)
    if period == Period.WEEKLY:
        return start + timedelta(days=7)
    if period == Period.MONTHLY:
        return date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    if period == Period.YEARLY:
        return date(start.year + 1, 1, 1)
    raise ValueError(f"unknown period {period!r}")


def bucket_for(
    period: str,
    instant: datetime,
    time_zone: str,
    reset_at: datetime | None = None,
    reset_sequence: int | None = None,
) -> Bucket:
    """The bucket of ``period`` that contains ``instant`` in ``time_zone``.

    ``reset_at`` is the period's latest manual reset (``reset_sequence`` its
    number within its calendar bucket); it restarts the calendar bucket when it
    falls inside it, at or before ``instant``.
    """
    calendar = _calendar_bucket(period, instant, time_zone)
    if reset_at is None:
        return calendar
    inside = calendar.start <= reset_at <= instant
    if inside and (calendar.end is None or reset_at < calendar.end):
        return calendar.restarted(reset_at, reset_sequence)
    return calendar


def _calendar_bucket(period: str, instant: datetime, time_zone: str) -> Bucket:
    if period == Period.ALL_TIME:
        return Bucket(Period.ALL_TIME.value, ALL_TIME_START, None, None)
    zone = ZoneInfo(time_zone)
    local_day = instant.astimezone(zone).date()
    start_day = _period_start_date(period, local_day)
    end_day = _next_start_date(period, start_day)
    return Bucket(period, _local_midnight(start_day, zone), _local_midnight(end_day, zone), start_day)


def bucket_starting(period: str, start: datetime, time_zone: str) -> Bucket:
    """The bucket whose start instant is ``start`` (a restarted one when it is no calendar start)."""
    calendar = _calendar_bucket(period, start, time_zone)
    return calendar if calendar.start == start else calendar.restarted(start)


def previous_bucket(bucket: Bucket, time_zone: str) -> Bucket | None:
    """The calendar bucket before ``bucket`` (None for all-time)."""
    if bucket.period == Period.ALL_TIME:
        return None
    return _calendar_bucket(bucket.period, bucket.start - timedelta(microseconds=1), time_zone)
