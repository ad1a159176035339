"""Every Redis key name the service uses, and the Channels group names (the layout: ``store``).

Nothing outside this module spells a key: callers ask for one by meaning.
"""

from __future__ import annotations

import hashlib
import re

from django.conf import settings


def _prefix() -> str:
    return settings.LEADERBOARD_REDIS_PREFIX


def _tag(board_slug: str) -> str:
    # The hash tag: every key of one board lives in one Redis Cluster slot.
    return f"{_prefix()}:{{b:{board_slug}}}"


def bucket(board_slug: str, period: str, bucket: str) -> str:
    return f"{_tag(board_slug)}:z:{period}:{bucket}"


def ready(board_slug: str, period: str, bucket: str) -> str:
    return f"{_tag(board_slug)}:ready:{period}:{bucket}"


def entry_metadata(board_slug: str, period: str, bucket: str) -> str:
    """A bucket's entries' metadata (a hash: member -> compact JSON), on boards whose entries carry it."""
    return f"{_tag(board_slug)}:md:{period}:{bucket}"


def warming(board_slug: str, period: str, bucket: str, token: str) -> str:
    return f"{_tag(board_slug)}:tmp:{period}:{bucket}:{token}"


def user(board_slug: str, user_id: str) -> str:
    return f"{_tag(board_slug)}:u:{user_id}"


def board_lock(board_slug: str, name: str) -> str:
    return f"{_tag(board_slug)}:lock:{name}"


def fence(board_slug: str, member: str) -> str:
    # Hashed: an erased player's fence must not spell their id out while it lasts.
    digest = hashlib.sha256(member.encode()).hexdigest()[:32]
    return f"{_tag(board_slug)}:fence:{digest}"


def live(board_slug: str, period: str, name: str) -> str:
    return f"{_tag(board_slug)}:live:{period}:{name}"


def live_user(board_slug: str, user_id: str) -> str:
    return live(board_slug, "user", user_id)


def league(board_slug: str, period: str, bucket: str, level: int, number: int) -> str:
    """A league's sorted set (member = user id, score = their committed standing in the bucket)."""
    return f"{_tag(board_slug)}:lg:z:{period}:{bucket}:{level}:{number}"


def league_ready(board_slug: str, period: str, bucket: str, level: int, number: int) -> str:
    """Marks the league's sorted set complete (set when it is filled from PostgreSQL)."""
    return f"{_tag(board_slug)}:lg:ready:{period}:{bucket}:{level}:{number}"


def league_ready_pattern(board_slug: str, period: str) -> str:
    """Every league ready marker of a board's period (any bucket): dropped after a moderation."""
    return f"{_tag(board_slug)}:lg:ready:{period}:*"


def league_warm_lock(board_slug: str, period: str, bucket: str, level: int, number: int) -> str:
    return board_lock(board_slug, f"league-warm:{period}:{bucket}:{level}:{number}")


def rate(scope: str, ident: str) -> str:
    """A rate limit's counter (its current window inside: ``limits``)."""
    return f"{_prefix()}:rate:{scope}:{ident}"


def user_rates_pattern(user_id: str) -> str:
    """Every per-user submit rate counter of ``user_id`` (``rate:user:<slug>:<user id>``; ids hold no ':')."""
    return f"{_prefix()}:rate:user:*:{user_id}"


def global_lock(name: str) -> str:
    return f"{_prefix()}:lock:{name}"


def heartbeat(name: str) -> str:
    return f"{_prefix()}:heartbeat:{name}"


def invalidations() -> str:
    """The pub/sub channel on which processes tell each other to drop their short caches."""
    return f"{_prefix()}:invalidate"


def repair_pending() -> str:
    return f"{_prefix()}:repair-pending"


def board_pattern(board_slug: str) -> str:
    return f"{_tag(board_slug)}:*"


def entry_metadata_pattern(board_slug: str) -> str:
    return f"{_tag(board_slug)}:md:*"


def board_users_pattern(board_slug: str) -> str:
    return f"{_tag(board_slug)}:u:*"


def all_pattern() -> str:
    return f"{_prefix()}:*"


# Channels groups (channels-redis keeps them in Redis under its own prefix).


def group(board_slug: str, period: str) -> str:
    """Channels group of a board's period (ASCII letters, digits, '.', '-', '_')."""
    return f"lb.{board_slug}.{period}"


def user_group(board_slug: str, user_id: str) -> str:
    """Channels group of one user's subscriptions to a board (rank_update events).

    User ids may hold '@' and '+', which group names may not: those become '_',
    and a short digest of the real id keeps two such ids apart.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", user_id)
    digest = hashlib.blake2s(user_id.encode(), digest_size=4).hexdigest()
    return f"lb.{board_slug}.u.{safe}.{digest}"[-99:]


# Names of a board's locks (``board_lock``): warming holds one per bucket, which moderation
# takes too so a warm that read PostgreSQL before a moderation cannot bring a player back.


def warm_lock_name(period: str, bucket: str) -> str:
    return f"warm:{period}:{bucket}"


def warm_queued_lock_name(period: str, bucket: str) -> str:
    return f"warm-queued:{period}:{bucket}"
