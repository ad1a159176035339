"""Rate limits, counted in Redis (exact across processes): the one home of every limit.

Submits: two limits per board, per scored user (whoever submits for them) and,
for callers that are not trusted servers, per client IP. The scored user is the
one the submit is booked to, decided after authentication and the permission
check (``SubmitPermission`` runs first and records it): a limit is never
charged to a name the caller may not submit for, and naming somebody else in a
body the caller's own submits ignore never escapes the caller's own limit.

Accounts: registrations per client IP, and failed logins per username and per
client IP (a lockout: past either limit every login for it is refused until the
window ends, so guessing cannot go on by alternating with a right password).

Client IPs come from DRF's ``get_ident``: the socket address unless
``NUM_PROXIES`` says how many proxies append to ``X-Forwarded-For``.
Rates look like DRF's ("120/min") and may name a window ("10/15min").

When Redis cannot count, each limit fails the way its scope is set to
(``LEADERBOARD_RATE_LIMITS_FAIL_CLOSED``), never silently: every unenforced
or refused request is logged as an error and counted in
``leaderboard_rate_limits_unavailable_total{scope, outcome}``. By default
registrations fail closed (503: new accounts can wait, a flood of them cannot
be undone) and submits and logins fail open (scores still land in PostgreSQL,
the truth, and players must be able to sign in during a Redis outage;
password hashing already slows guessing to a few tries a second per process).
"""

from __future__ import annotations

import hashlib
import logging
import re

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from leaderboard import metrics
from leaderboard.store import limits
from leaderboard.store.connection import RedisUnavailable
from leaderboard_project.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_UNITS |= {"d": 86400, "day": 86400}
# DRF reads only a period's first letter ("100/hours" is 100 an hour): so do we, and allow a multiple.
_RATE = re.compile(r"([1-9][0-9]{0,8})/([1-9][0-9]{0,4})?([smhd])[a-z]*")


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'120/min' -> (120, 60), '10/15min' -> (10, 900); empty -> None (no limit)."""
    if not rate:
        return None
    match = _RATE.fullmatch(rate.strip())
    if match is None:
        raise ValueError(f"Rate {rate!r} does not parse; use e.g. '60/min' or '10/15min'.")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _UNITS[unit]  # one letter: s, m, h or d


def _hashed(value: str) -> str:
    """A bounded, key-safe form of a client-chosen string (usernames can be anything)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RateLimitUnavailable(ServiceUnavailable):
    """A limit that fails closed could not be counted (Redis unavailable)."""

    code = "rate_limit_unavailable"
    default_message = "This request is rate limited and the limit cannot be checked right now; retry shortly."


def _count(op, scope: str, ident: str, rate: str | None) -> tuple[int, int, int] | None:
    """``(count, limit, seconds left)`` from ``op`` (``limits.hit`` counts one, ``limits.count`` only reads).

    None when there is no limit (no rate, or nothing to count against), or when
    Redis is unavailable and the scope fails open. A scope that fails closed
    raises ``RateLimitUnavailable`` (503) instead. Either way it is logged as
    an error and counted.
    """
    parsed = parse_rate(rate)
    if parsed is None or not ident:
        return None
    limit, window = parsed
    try:
        count, left = op(scope=scope, ident=ident, window=window)
    except RedisUnavailable as exc:
        metrics.REDIS_ERRORS.labels("rate_limit").inc()
        if scope.split("-", 1)[0] in settings.LEADERBOARD_RATE_LIMITS_FAIL_CLOSED:
            metrics.RATE_LIMITS_UNAVAILABLE.labels(scope, "refused").inc()
            logger.error("limit %s cannot be counted (Redis unavailable): request refused: %s", scope, exc)
            raise RateLimitUnavailable() from exc
        metrics.RATE_LIMITS_UNAVAILABLE.labels(scope, "allowed").inc()
        logger.error("limit %s cannot be counted (Redis unavailable): request allowed unlimited: %s", scope, exc)
        return None
    return count, limit, left


class _RedisThrottle(BaseThrottle):
    """A throttle whose counters live in Redis; ``wait()`` reports the window's rest."""

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def wait(self) -> float | None:
        return self.retry_after

    def charge(self, scope: str, ident: str, rate: str | None) -> bool:
        """Count one hit against ``rate``; False (and ``retry_after`` set) past it."""
        counted = _count(limits.hit, scope, ident, rate)
        if counted is not None and counted[0] > counted[1]:
            self.retry_after = counted[2]
            return False
        return True


class SubmitRateThrottle(_RedisThrottle):
    """Per scored user and (untrusted callers) per IP, per board."""

    def allow_request(self, request, view) -> bool:
        board = view.get_board()
        # Recorded by SubmitPermission, which DRF runs before throttles; a view
        # without it can only book to its caller.
        target = getattr(request, "submit_target", None) or request.user.get_username()
        trusted = bool(getattr(request.user, "can_submit_for_others", lambda: False)())
        checks = [("user", f"{board.slug}:{target}", board.submit_rate_per_user())]
        if not trusted:
            checks.append(("ip", f"{board.slug}:{self.get_ident(request)}", board.submit_rate_per_ip()))
        for scope, ident, rate in checks:
            if not self.charge(scope, ident, rate):
                metrics.SUBMITS.labels(board.slug, f"throttled_{scope}").inc()
                return False
        return True


class RegisterRateThrottle(_RedisThrottle):
    """Registrations per client IP (both register endpoints share the counter)."""

    def allow_request(self, request, view) -> bool:
        return self.charge("register", self.get_ident(request), settings.ACCOUNTS_REGISTER_RATE_IP)


def _login_limits(request, username: str) -> list[tuple[str, str, str]]:
    """The failure counters of one attempt; those naming a user are skipped when there is none.

    Per (username, address): the lockout, which a guesser from elsewhere cannot
    impose on the player (player ids are public). Per address: one client trying
    many accounts. Per username from any address: a higher backstop against
    guessing spread over many addresses (a lockout anyone could cause is the
    price, so it is set well above what one address may try).
    """
    ident = BaseThrottle().get_ident(request)
    named = _hashed(username) if username else ""
    return [
        ("login-user-ip", f"{named}:{ident}" if named else "", settings.ACCOUNTS_LOGIN_FAILURES_USER),
        ("login-ip", ident, settings.ACCOUNTS_LOGIN_FAILURES_IP),
        ("login-user", named, settings.ACCOUNTS_LOGIN_FAILURES_USER_ANY_IP),
    ]


def _login_username(request) -> str:
    """The account a password is tried against: the caller's own when authenticated (deleting an
    account), else the body's username as authentication will read it (DRF's CharField trims
    white space: " alice" is alice, and must be counted as alice)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.get_username()
    data = request.data
    named = data.get("username") if hasattr(data, "get") else None
    return named.strip() if isinstance(named, str) else ""


class LoginFailureThrottle(_RedisThrottle):
    """Refuses logins for a username or from an address with too many recent failures.

    Only failures count (``login_failed`` records them): users who log in
    successfully, however often, are never limited.
    """

    def allow_request(self, request, view) -> bool:
        for scope, ident, rate in _login_limits(request, _login_username(request)):
            counted = _count(limits.count, scope, ident, rate)
            if counted is not None and counted[0] >= counted[1]:
                self.retry_after = counted[2]
                logger.warning("login refused: too many failures (%s)", scope)
                return False
        return True


def login_failed(request) -> None:
    """Count a failed login against its username and its client address."""
    for scope, ident, rate in _login_limits(request, _login_username(request)):
        _count(limits.hit, scope, ident, rate)
