"""The Lua scripts, loaded from ``lua/`` beside this module.

A script's leading ``--! <name>`` lines put shared Lua in front of it, so no
script spells out what another already has: ``--! ranking`` the ranking rule's
(``leaderboard.ranking.LUA``: better-count, rank order, window), any other name
``lua/include/<name>.lua``. Scripts run through ``connection.run``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from leaderboard import ranking

_DIR = Path(__file__).resolve().parent / "lua"
_INCLUDE = "--! "


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
    """The script ``lua/<name>.lua``, with what its leading ``--! <name>`` lines include in front of it."""
    source = (_DIR / f"{name}.lua").read_text()
    included = []
    for line in source.splitlines():
        if not line.startswith(_INCLUDE):
            break
        part = line.removeprefix(_INCLUDE).strip()
        included.append(ranking.LUA if part == "ranking" else (_DIR / "include" / f"{part}.lua").read_text())
    return Script(name, "".join(included) + source)


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
