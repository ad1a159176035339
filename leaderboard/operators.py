"""How a board's operator turns submitted values into a standing: the one home of that rule.

A board's operator (``increment``, ``best``, ``set``), its sort order and its
value bounds decide five things, each asked for in one place only:

- the SQL a submit's upsert uses to combine the old standing with a new value
  (``upsert_expression``; ``combine`` is the same in Python, for unbans),
- the SQL aggregate that recomputes a standing from the score events
  (``event_aggregate``: standing rebuilds, unbans, the top-players report),
- which submit's metadata an entry carries (``metadata_expression``, ``combine_metadata``,
  ``event_metadata_aggregate``: the same three places as the score),
- the ``ZADD`` guard that makes a late or repeated Redis write harmless (``zadd_flag``),
- whether a submit can move a standing down, and so out of a top N (``can_worsen``).

Pure: no database, no Redis. Anything with the four attributes of ``Scoring``
(a ``Board``) can be asked.
"""

from __future__ import annotations

from typing import Protocol

INCREMENT = "increment"
BEST = "best"
SET = "set"


class Scoring(Protocol):
    """What the operator rule reads of a board (read-only)."""

    @property
    def operator(self) -> str: ...
    @property
    def higher_is_better(self) -> bool: ...
    @property
    def min_value(self) -> int: ...
    @property
    def max_value(self) -> int: ...


def upsert_expression(board: Scoring, *, old: str = "s.score", new: str = "EXCLUDED.score") -> str:
    """The SQL giving a standing after ``new`` is submitted over ``old`` (column expressions)."""
    if board.operator == INCREMENT:
        return f"{old} + {new}"
    if board.operator == BEST:
        return f"GREATEST({old}, {new})" if board.higher_is_better else f"LEAST({old}, {new})"
    return new


def combine(board: Scoring, score: int, value: int) -> int:
    """``upsert_expression`` in Python: a standing after the next event (in time order)."""
    if board.operator == INCREMENT:
        return score + value
    if board.operator == BEST:
        return max(score, value) if board.higher_is_better else min(score, value)
    return value


def event_aggregate(board: Scoring, *, alias: str = "e") -> str:
    """The SQL aggregate over score events (table alias ``alias``, or "" for none) that gives a standing.

    ``set`` keeps the latest event: by ``created_at``, then by id for events
    of one microsecond, exactly the order in which submits applied them.
    """
    col = f"{alias}." if alias else ""
    if board.operator == INCREMENT:
        return f"SUM({col}value)"
    if board.operator == BEST:
        return f"MAX({col}value)" if board.higher_is_better else f"MIN({col}value)"
    return f"(ARRAY_AGG({col}value ORDER BY {col}created_at DESC, {col}id DESC))[1]"


def metadata_expression(
    board: Scoring,
    *,
    old: str = "s.metadata",
    new: str = "EXCLUDED.metadata",
    old_score: str = "s.score",
    new_score: str = "EXCLUDED.score",
) -> str:
    """The SQL giving an entry's metadata after a submit (``upsert_expression``'s companion).

    ``best`` keeps the metadata of the submit that set the best score: a new one
    only when the score improved (an equal score keeps the first); ``set`` and
    ``increment`` keep the latest submit's.
    """
    if board.operator == BEST:
        score = upsert_expression(board, old=old_score, new=new_score)
        return f"CASE WHEN {score} IS DISTINCT FROM {old_score} THEN {new} ELSE {old} END"
    return new


def combine_metadata(board: Scoring, score: int, metadata: object, value: int, new: object) -> object:
    """``metadata_expression`` in Python: an entry's metadata after the next event (in time order)."""
    if board.operator == BEST and combine(board, score, value) == score:
        return metadata
    return new


def event_metadata_aggregate(board: Scoring, *, alias: str = "e") -> str:
    """The SQL aggregate over score events giving the entry's metadata (``event_aggregate``'s companion).

    ``best``: the first event (by time, then id) with the best value; ``set`` and
    ``increment``: the latest event.
    """
    col = f"{alias}." if alias else ""
    if board.operator == BEST:
        direction = "DESC" if board.higher_is_better else "ASC"
        order = f"{col}value {direction}, {col}created_at ASC, {col}id ASC"
    else:
        order = f"{col}created_at DESC, {col}id DESC"
    return f"(ARRAY_AGG({col}metadata ORDER BY {order}))[1]"


def measure(board: Scoring) -> str:
    """What a standing is, in a word, for reports: ``total``, ``best`` or ``latest``."""
    return {INCREMENT: "total", BEST: "best"}.get(board.operator, "latest")


def zadd_flag(board: Scoring) -> str:
    """The ZADD guard (``GT``, ``LT`` or "") that makes a late or repeated Redis write harmless.

    ``best`` scores only move towards "better"; ``increment`` scores only grow
    when values cannot be negative. ``set`` (and negative increments) move
    both ways: there the last write wins and the reconciliation repairs a rare
    out-of-order pair.
    """
    if board.operator == BEST:
        return "GT" if board.higher_is_better else "LT"
    if board.operator == INCREMENT and board.min_value >= 0:
        return "GT"
    return ""


def can_worsen(board: Scoring) -> bool:
    """Whether a submit can move a user's standing down the ranking (and so out of a top N)."""
    if board.operator == SET:
        return True
    if board.operator == INCREMENT:
        return board.min_value < 0 if board.higher_is_better else board.max_value > 0
    return False  # "best" keeps the better value
