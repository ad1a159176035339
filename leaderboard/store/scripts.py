"""The Lua scripts, loaded from ``lua/`` beside this module.

A script whose first line is ``--! ranking`` gets the ranking rule's Lua
(``leaderboard.ranking.LUA``: better-count, rank order, window) in front of
it, so no script spells the rule out. Scripts run through ``connection.run``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from leaderboard import ranking

_DIR = Path(__file__).resolve().parent / "lua"
_INCLUDE_RANKING = "--! ranking"


class Script:
    """A Lua script's source and its SHA1 (what EVALSHA names it by)."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"


def load(name: str) -> Script:
    """The script ``lua/<name>.lua``, with the ranking rule included where it asks for it."""
    source = (_DIR / f"{name}.lua").read_text()
    if source.startswith(_INCLUDE_RANKING):
        source = ranking.LUA + source
    return Script(name, source)


SUBMIT = load("submit")
TOP = load("top")
AROUND = load("around")
MEMBERS = load("members")
MEMBER_SYNC = load("member_sync")
WARM_FINISH = load("warm_finish")
UNLOCK = load("unlock")
LOCK_EXTEND = load("lock_extend")
RATE_HIT = load("rate_hit")
LIVE_GATE = load("live_gate")
LIVE_RELEASE = load("live_release")
USER_DETAILS = load("user_details")
METADATA_FILL = load("metadata_fill")
