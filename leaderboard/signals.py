"""Signals the leaderboard engine sends; other apps connect to them (imports point down, never up)."""

from __future__ import annotations

from django.dispatch import Signal

# A bucket was archived for the first time (``rollover.bucket_finalise`` created its archive):
# sent once per archive, inside the transaction that writes it, with ``board``, ``period``,
# ``bucket`` (``periods.Bucket``) and ``archive`` (``PeriodArchive``). A receiver that writes
# rows commits or rolls back with the archive; work outside the database (a Celery task, an
# HTTP call) belongs in ``transaction.on_commit``. A receiver that raises undoes the archive,
# so the next rollover finalises the bucket again.
bucket_finalised = Signal()

# A submit reached Redis and somebody watches live (``services``, after the commit): sent with
# ``board``, ``ranks`` (period -> rank, only the periods somebody watches), ``user_id`` (set only
# when that user has a live subscription), ``scores`` (period -> score), ``all_ranks`` and
# ``totals`` (period -> entries in the bucket). The live updates (``broadcasts``) receive it:
# the services below them never import them.
submit_mirrored = Signal()

# A period's standings changed other than by a submit (a manual reset, a moderation): sent
# with ``board`` and ``period`` after the commit, so watchers get the new state.
standings_changed = Signal()

# A submit committed and was mirrored (or marked for repair) in Redis (``services``, after the
# commit; a replayed retry is not sent again): sent for every submit with ``board``, ``user_id``,
# ``scores`` (period -> the score PostgreSQL committed), ``buckets`` (the live ``periods.Bucket``
# of each period) and ``metadata`` (the submit's). Apps that keep per-submit state of their own
# (leagues) receive it; with no receiver connected it costs a dictionary lookup.
submit_committed = Signal()

# A player was erased (``moderation.player_erase``): sent inside the erasure's transaction with
# ``user_id`` (the erased id) and ``tombstone`` (what replaced it). Apps that keep user ids of
# their own rewrite them here, so nothing of the erased id is left; a receiver that raises undoes
# the erasure. Work outside the database belongs in ``transaction.on_commit``.
player_erased = Signal()
