"""Tiers (Bronze, Silver, Gold...): which one an entry is in, by score or by percentile.

A board may define tiers, best first, each with a cutoff (``Board.tiers``), on one
basis (``Board.tier_basis``):

- **score**: an entry is in the first tier whose cutoff its score reaches: at least
  the cutoff where higher is better, at most the cutoff where lower is better.
- **percentile** ("the top 10 %"): an entry is in the first tier whose cutoff is at
  least ``100 * rank / total``, the share of ranked players placed at or above it.
  It is computed from the competition rank (``ranking``), so equal scores share a
  tier as they share a rank, and both stores give the same tier because they give
  the same rank and total.

The last tier may have no cutoff (``null``): everyone not in a better tier. Without
such a floor, an entry that reaches no cutoff has the tier ``None``.

Every path that shows an entry (top, around, friends, rank, live updates, archives,
rank history, webhooks) takes its tier from ``tier_of``. Pure: no database, no Redis.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SCORE = "score"
PERCENTILE = "percentile"
BASES = (SCORE, PERCENTILE)

MAX_TIERS = 20
MAX_NAME = 32


@dataclass(frozen=True, slots=True)
class Tiers:
    """A board's tiers, best first: ``(name, cutoff)`` pairs on one basis."""

    basis: str
    levels: tuple[tuple[str, float | None], ...]
    higher_is_better: bool

    def tier_of(self, *, score: int, rank: int, total: int) -> str | None:
        """The tier of an entry with this score and competition rank among ``total`` ranked entries."""
        for name, cutoff in self.levels:
            if cutoff is None or self._reaches(cutoff, score=score, rank=rank, total=total):
                return name
        return None

    def _reaches(self, cutoff: float, *, score: int, rank: int, total: int) -> bool:
        if self.basis == SCORE:
            return score >= cutoff if self.higher_is_better else score <= cutoff
        # 100 * rank / total <= cutoff, in integers: exact at every boundary.
        return total > 0 and 100 * rank <= cutoff * total


def board_tiers(board: Any) -> Tiers | None:
    """The tiers a board defines, or None (no tiers: entries carry no ``tier``).

    ``board`` is a ``Board`` (or anything with ``tiers``, ``tier_basis`` and
    ``higher_is_better``); the definition was checked by ``validate`` when saved.
    """
    if not board.tier_basis or not board.tiers:
        return None
    levels = tuple((str(t["name"]), None if t.get("cutoff") is None else t["cutoff"]) for t in board.tiers)
    return Tiers(board.tier_basis, levels, board.higher_is_better)


def validate(basis: str, levels: Any, *, higher_is_better: bool) -> dict[str, str]:
    """Field errors of a tier definition (empty when valid).

    ``levels`` is a list, best first, of ``{"name": str, "cutoff": number | null}``;
    names unique, at most ``MAX_TIERS``; cutoffs strictly worse down the list
    (scores: lower where higher is better; percentiles: larger, within (0, 100]);
    only the last tier may have no cutoff.
    """
    if levels in (None, []):
        return {}
    if not isinstance(levels, list):
        return {"tiers": 'A list of tiers, best first: [{"name": "Gold", "cutoff": 1000}, ...].'}
    if basis not in BASES:
        return {"tier_basis": f"Choose how tiers are reached: {' or '.join(BASES)}."}
    if len(levels) > MAX_TIERS:
        return {"tiers": f"At most {MAX_TIERS} tiers."}
    names: list[str] = []
    cutoffs: list[float] = []
    for index, level in enumerate(levels):
        where = f"Tier {index + 1}"
        if not isinstance(level, dict) or set(level) - {"name", "cutoff"} or "name" not in level:
            return {"tiers": f"{where}: an object with a name and a cutoff."}
        name, cutoff = level["name"], level.get("cutoff")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
            return {"tiers": f"{where}: a name of 1 to {MAX_NAME} printable characters."}
        if name in names:
            return {"tiers": f"{where}: the name {name!r} is used twice."}
        names.append(name)
        if cutoff is None:
            if index != len(levels) - 1:
                return {"tiers": f"{where}: only the last tier may have no cutoff (everyone else)."}
            continue
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or cutoff != cutoff:
            return {"tiers": f"{where}: the cutoff must be a number."}
        if basis == SCORE and (not isinstance(cutoff, int) or abs(cutoff) > 2**53 - 1):
            return {"tiers": f"{where}: a score cutoff is a whole number."}
        if basis == PERCENTILE and not 0 < cutoff <= 100:
            return {"tiers": f"{where}: a percentile cutoff is above 0 and at most 100 (the top N %)."}
        cutoffs.append(cutoff)
    if not _strictly_worse(cutoffs, basis=basis, higher_is_better=higher_is_better):
        order = (
            "growing (top 1 %, top 10 %, ...)" if basis == PERCENTILE else ("falling" if higher_is_better else "rising")
        )
        return {"tiers": f"List tiers best first: their cutoffs must be strictly {order}."}
    return {}


def _strictly_worse(cutoffs: Sequence[float], *, basis: str, higher_is_better: bool) -> bool:
    pairs = list(itertools.pairwise(cutoffs))
    if basis == PERCENTILE or not higher_is_better:
        return all(a < b for a, b in pairs)
    return all(a > b for a, b in pairs)
