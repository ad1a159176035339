"""Each process's copy of the repair marks (``leaderboard.repair_marks``), against real PostgreSQL."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from leaderboard import repair_marks
from leaderboard.models import BucketRepair
from leaderboard.tests.factories import BoardFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_mark_written_by_another_process_is_seen_within_the_reload_interval(settings):
    settings.LEADERBOARD_REPAIR_MARKS_SECONDS = 0.2
    board = BoardFactory(periods=["all_time"])
    bucket = board.bucket("all_time", timezone.now())
    repair_marks.forget_all()
    assert not repair_marks.is_marked(board_id=board.pk, period="all_time", bucket_start=bucket.start)
    # Another process marks the bucket: only PostgreSQL knows.
    BucketRepair.objects.create(board=board, period="all_time", bucket_start=bucket.start, reason="elsewhere")
    time.sleep(0.3)
    assert repair_marks.is_marked(board_id=board.pk, period="all_time", bucket_start=bucket.start)
    assert repair_marks.any_marked(board_id=board.pk)
    assert not repair_marks.any_marked(board_id=board.pk + 1000)


def test_a_mark_this_process_makes_counts_at_once_and_a_repair_forgets_them(settings):
    settings.LEADERBOARD_REPAIR_MARKS_SECONDS = 60
    board = BoardFactory(periods=["all_time"])
    bucket = board.bucket("all_time", timezone.now())
    repair_marks.forget_all()
    assert not repair_marks.is_marked(board_id=board.pk, period="all_time", bucket_start=bucket.start)  # copy fresh
    mark = BucketRepair.objects.create(board=board, period="all_time", bucket_start=bucket.start, reason="here")
    repair_marks.note(board_id=board.pk, period="all_time", bucket_start=bucket.start)
    assert repair_marks.is_marked(board_id=board.pk, period="all_time", bucket_start=bucket.start)  # not in 60 s
    mark.delete()
    repair_marks.forget_all()  # a repair in this process finished: reload from PostgreSQL
    assert not repair_marks.is_marked(board_id=board.pk, period="all_time", bucket_start=bucket.start)
