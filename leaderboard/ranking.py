"""The ranking rule, in one place: every path that ranks follows it.

- **Competition ranks** ("1224"): a player's rank is 1 + the number of
  players with a strictly better score; equal scores share a rank, and the
  next different score skips the shared places. SQL's ``RANK()`` is the same rule.
- **Order among equal scores**: by user id, descending on boards where higher
  is better and ascending otherwise. That is the order Redis keeps (``ZREVRANGE``
  and ``ZRANGE`` compare members byte by byte); PostgreSQL lists the same
  entries in the same order because user ids compare bytewise there too: the
  user id columns (``accounts_user.username`` and the foreign keys pointing at
  it, ``leaderboard_standing.user_id`` and ``leaderboard_scoreevent.user_id``)
  have the ``C`` collation, whatever the database's default (``en_US.UTF-8``
  on most servers, which ignores case and punctuation: "a-b", "A+b", "alice").
  The column carries it, not each query, so ``order_by``, ``tie_lookup`` and
  ``sql_order`` stay plain and ``standing_rank`` (built in ``C`` with the
  column) still serves ranked pages without a sort and tie comparisons as
  index conditions; a ``COLLATE "C"`` per query would need an index of its own.
  Python compares ``str`` by code point, which is byte order in UTF-8.
- **The window around a player**: ``2 * count + 1`` entries centred on them,
  shifted inwards at the top and bottom so a full page comes back.

The Python paths (the PostgreSQL fallback, the live updates), the reports'
SQL and the Lua scripts beside the Redis store all take the rule from here:
the scripts include ``LUA`` (``store.scripts``), and tests run both sides
over the same inputs.

Pure: no database, no Redis.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    """One ranked entry: a user, their score, their competition rank.

    ``extras`` are what a board adds to each of its entries, in this order: ``tier``
    (boards with tiers) and ``metadata`` (boards whose entries carry it). A board that
    uses neither adds nothing, so its answers stay exactly as they were.
    """

    user_id: str
    score: int
    rank: int
    extras: tuple[tuple[str, object], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The entry as every JSON answer, live update and archive carries it (this key order)."""
        entry: dict[str, object] = {"user_id": self.user_id, "score": self.score, "rank": self.rank}
        if self.extras:
            entry.update(self.extras)
        return entry


# The collation of every user id column that ranked reads order or compare: bytewise, as Redis.
# ``accounts.User.username`` declares it (accounts sits below this module, so it spells it out);
# the foreign keys to the username take it from there (accounts migration 0006).
USER_ID_COLLATION = "C"


def rank_from_better(better: int) -> int:
    """A competition rank from the number of strictly better scores."""
    return better + 1


def ranked(items: list[tuple[str, int]], *, start: int, first_better: int) -> list[Entry]:
    """Give rank-ordered ``items`` their competition ranks.

    ``start`` is the 0-based position of the first item, ``first_better`` the
    number of entries strictly better than it. An item whose score differs
    from the one before has exactly ``position`` entries above it, all better.
    """
    entries: list[Entry] = []
    rank = rank_from_better(first_better)
    previous: int | None = None
    for index, (user_id, score) in enumerate(items):
        if index > 0 and score != previous:
            rank = start + index + 1
        entries.append(Entry(user_id, score, rank))
        previous = score
    return entries


def window(position: int, count: int, total: int) -> tuple[int, int]:
    """Inclusive positions of the ``2 * count + 1`` window centred on ``position`` (0-based).

    At the top or bottom edge the window shifts inwards so a full page still
    comes back; ``LUA``'s ``rank_window`` is the same function.
    """
    start = max(0, position - count)
    stop = start + 2 * count
    if stop > total - 1:
        stop = total - 1
        start = max(0, stop - 2 * count)
    return start, stop


def better_lookup(higher_is_better: bool) -> str:
    """The Django lookup selecting scores strictly better than a value (``score__gt`` or ``score__lt``)."""
    return "score__gt" if higher_is_better else "score__lt"


def tie_lookup(higher_is_better: bool) -> str:
    """The Django lookup selecting, among equal scores, the user ids listed before a given one.

    Bytewise, from the column's collation (``USER_ID_COLLATION``), as Redis compares members.
    """
    return "user_id__gt" if higher_is_better else "user_id__lt"


def order_by(higher_is_better: bool) -> tuple[str, str]:
    """Django ``order_by`` terms listing standings in rank order, ties included."""
    return ("-score", "-user_id") if higher_is_better else ("score", "user_id")


def sql_direction(higher_is_better: bool) -> str:
    """The SQL sort direction of better scores (and of user ids among equal ones)."""
    return "DESC" if higher_is_better else "ASC"


def sql_order(higher_is_better: bool, *, score: str = "score", user_id: str = "user_id") -> str:
    """An SQL ``ORDER BY`` list in rank order, tie order included."""
    direction = sql_direction(higher_is_better)
    return f"{score} {direction}, {user_id} {direction}"


def sql_rank(higher_is_better: bool, *, score: str = "score") -> str:
    """The SQL window function giving competition ranks."""
    return f"RANK() OVER (ORDER BY {score} {sql_direction(higher_is_better)})"


# The rule for the Lua scripts: ``scripts`` puts this in front of every script that ranks.
# ``hib`` is whether higher is better. A sorted set keeps one order (ascending scores,
# then members bytewise); "better" is either end of it.
LUA = """
local function rank_better(z, score, hib)
  -- How many members have a strictly better score: a rank is this + 1.
  if hib then return redis.call('ZCOUNT', z, '(' .. score, '+inf') end
  return redis.call('ZCOUNT', z, '-inf', '(' .. score)
end
local function rank_range(z, start, stop, hib)
  -- Members start..stop (0-based, inclusive) in rank order, with scores.
  if hib then return redis.call('ZREVRANGE', z, start, stop, 'WITHSCORES') end
  return redis.call('ZRANGE', z, start, stop, 'WITHSCORES')
end
local function rank_position(z, member, hib)
  -- A member's 0-based position in rank order, or nil.
  if hib then return redis.call('ZREVRANK', z, member) end
  return redis.call('ZRANK', z, member)
end
local function rank_window(position, count, total)
  -- ranking.window: 2 * count + 1 positions centred on position, shifted inwards at the edges.
  local start = position - count
  if start < 0 then start = 0 end
  local stop = start + 2 * count
  if stop > total - 1 then
    stop = total - 1
    start = math.max(0, stop - 2 * count)
  end
  return start, stop
end
"""


def in_rank_order(entries: list[Entry], *, higher_is_better: bool) -> list[Entry]:
    """Entries picked from anywhere (friends, a team) in rank order, ties as full listings order them."""
    by_id = sorted(entries, key=lambda e: e.user_id, reverse=higher_is_better)
    return sorted(by_id, key=lambda e: e.rank)  # stable: equal ranks keep the user-id order
