"""The leagues' rules, pure: who is in the promotion and demotion zones, and the level they lead to.

Zones follow competition ranks within the league (``leaderboard.ranking``):
with ``ranked`` players holding a standing, a rank within the top ``promote``
promotes, a rank among the bottom ``demote`` (rank > ranked - demote) demotes,
anything else stays. Promotion wins where the two overlap (a league with fewer
players than promote + demote). Players sharing a rank share its zone, so a tie
across a zone's edge keeps every tied player on the better side.
"""

from __future__ import annotations

PROMOTE = "promote"
DEMOTE = "demote"
STAY = "stay"


def zone(*, rank: int, ranked: int, promote: int, demote: int) -> str:
    """The zone of a competition ``rank`` among ``ranked`` players of a league."""
    if rank <= promote:
        return PROMOTE
    if rank > ranked - demote:
        return DEMOTE
    return STAY


def next_level(*, level: int, zone_name: str, top_level: int) -> int:
    """The level of the next bucket: one up after promotion (capped at ``top_level``), one down after
    demotion (floored at 0), else the same (capped, in case levels were removed since)."""
    if zone_name == PROMOTE:
        level += 1
    elif zone_name == DEMOTE:
        level -= 1
    return max(0, min(level, top_level))
