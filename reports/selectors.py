"""Reports over the score history in PostgreSQL (the ScoreEvent audit trail).

Reports are reads nothing is built on: they use the read replica when one is
configured (``leaderboard.replica.reads()``: in a read-only request, outside a
transaction), at most its replication lag behind the primary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections

from leaderboard import operators, ranking, replica
from leaderboard.models import Board, PeriodArchive, ScoreEvent
from leaderboard_project.exceptions import InvalidInput

# Banned players are absent from reports as from every other read.
BANNED = f"SELECT username FROM {get_user_model()._meta.db_table} WHERE banned_at IS NOT NULL"


@dataclass
class ReportRange:
    start: datetime
    end: datetime  # exclusive


@dataclass
class TopPlayers:
    board: Board
    range: ReportRange
    measure: str
    total: int
    entries: list[dict[str, object]]
    limit: int
    offset: int


def report_range(*, start_date: date, end_date: date, time_zone: str) -> ReportRange:
    """Whole days ``start_date``..``end_date`` (inclusive) in ``time_zone``, validated."""
    if end_date < start_date:
        raise InvalidInput(fields={"end_date": "The end date is before the start date."})
    days = (end_date - start_date).days + 1
    if days > settings.REPORTS_MAX_RANGE_DAYS:
        raise InvalidInput(
            fields={"end_date": f"A report covers at most {settings.REPORTS_MAX_RANGE_DAYS} days; this is {days}."}
        )
    zone = ZoneInfo(time_zone)
    start = datetime.combine(start_date, time(0), tzinfo=zone)
    end = datetime.combine(end_date + timedelta(days=1), time(0), tzinfo=zone)
    return ReportRange(start, end)


def top_players(*, board: Board, start_date: date, end_date: date, limit: int = 10, offset: int = 0) -> TopPlayers:
    """Players ranked by their best (``best``), total (``increment``) or latest (``set``) score in a range.

    One aggregate over the (board, created_at) index, which includes the user
    and the value, so PostgreSQL answers from the index alone. Voided events
    (removed by a moderator; the index holds only the others) and banned
    players count for nothing.
    """
    period = report_range(start_date=start_date, end_date=end_date, time_zone=board.time_zone)
    # The board's own rules: its operator's aggregate over the events, and the one ranking rule.
    aggregate, measure = operators.event_aggregate(board, alias=""), operators.measure(board)
    rank = ranking.sql_rank(board.higher_is_better)
    order = ranking.sql_order(board.higher_is_better)
    table = ScoreEvent._meta.db_table
    params: dict[str, int | datetime] = {
        "board": board.pk,
        "start": period.start,
        "end": period.end,
        "limit": limit,
        "offset": offset,
    }
    with connections[replica.reads()].cursor() as cursor:
        cursor.execute(
            f"""
            WITH per_user AS (
                SELECT user_id, {aggregate} AS score, COUNT(*) AS submissions
                FROM {table}
                WHERE board_id = %(board)s AND created_at >= %(start)s AND created_at < %(end)s
                  AND voided_at IS NULL AND user_id NOT IN ({BANNED})
                GROUP BY user_id
            ), ranked AS (
                SELECT user_id, score, submissions,
                       {rank} AS rank,
                       COUNT(*) OVER () AS total
                FROM per_user
            )
            SELECT user_id, score, submissions, rank, total FROM ranked
            ORDER BY {order}
            LIMIT %(limit)s OFFSET %(offset)s
            """,
            params,
        )
        rows = cursor.fetchall()
        total = rows[0][4] if rows else _distinct_players(cursor, params)
    entries = [
        {"rank": int(rank), "user_id": user_id, "score": int(score), "submissions": int(count)}
        for user_id, score, count, rank, _ in rows
    ]
    return TopPlayers(board, period, measure, int(total), entries, limit, offset)


def _distinct_players(cursor, params: dict[str, int | datetime]) -> int:
    cursor.execute(
        f"SELECT COUNT(DISTINCT user_id) FROM {ScoreEvent._meta.db_table} "
        "WHERE board_id = %(board)s AND created_at >= %(start)s AND created_at < %(end)s "
        f"AND voided_at IS NULL AND user_id NOT IN ({BANNED})",
        params,
    )
    return int(cursor.fetchone()[0])


def archives_list(
    *, board: Board | None = None, period: str | None = None, since: date | None = None, until: date | None = None
):
    """Period archives (winners, top entries), newest first, filterable."""
    rows = PeriodArchive.objects.using(replica.reads()).select_related("board").order_by("-bucket_start", "board__slug")
    if board is not None:
        rows = rows.filter(board=board)
    if period:
        rows = rows.filter(period=period)
    if since:
        rows = rows.filter(bucket_start__date__gte=since)
    if until:
        rows = rows.filter(bucket_start__date__lte=until)
    return rows
