"""Rate limits on score submission, counted in Redis (exact across processes).

Two limits per board: per scored user (whoever submits for them) and, for
callers that are not trusted servers, per client IP. Rates look like DRF's
("120/min"); a board may override the defaults from settings. If Redis is
unavailable the limits are not enforced (submits must keep working) and the
failure is counted.
"""

from __future__ import annotations

import logging

from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from leaderboard import metrics, redis_store

logger = logging.getLogger(__name__)


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'120/min' -> (120, 60); empty -> None (no limit)."""
    if not rate:
        return None
    return SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]


class SubmitRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request, view) -> bool:
        board = view.get_board()
        target = view.submit_target(request)
        caller = request.user
        trusted = bool(getattr(caller, "can_submit_for_others", lambda: False)())
        checks = [("user", f"{board.slug}:{target}", board.submit_rate_per_user())]
        if not trusted:
            checks.append(("ip", f"{board.slug}:{self.get_ident(request)}", board.submit_rate_per_ip()))
        for scope, ident, rate in checks:
            parsed = parse_rate(rate)
            if parsed is None:
                continue
            limit, window = parsed
            try:
                hits, left = redis_store.rate_hit(scope=scope, ident=ident, window=window)
            except redis_store.RedisUnavailable as exc:
                metrics.REDIS_ERRORS.labels("rate_limit").inc()
                logger.warning("rate limit not enforced, Redis unavailable: %s", exc)
                return True
            if hits > limit:
                self.retry_after = left
                metrics.SUBMITS.labels(board.slug, f"throttled_{scope}").inc()
                return False
        return True

    def wait(self) -> float | None:
        return self.retry_after
