"""One delivery attempt: build the payload, sign it, POST it, record the outcome.

Leaderboard-independent apart from reading the archive. The attempt locks the
delivery row (``FOR UPDATE SKIP LOCKED``) for its duration, so two workers never
send the same delivery at once, and a delivery that succeeded is never sent
again (unless an operator asks for a redelivery). Retries are the Celery task's
(``tasks.deliver_webhook``); this module only says when the next one is due
(``backoff_seconds``), so tests can drive attempts one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .addresses import host_check
from .models import WebhookDelivery

logger = logging.getLogger(__name__)

EVENT = "bucket.finalised"
SIGNATURE_HEADER = "X-Leaderboard-Signature"
DELIVERY_HEADER = "X-Leaderboard-Delivery"
ERROR_LIMIT = 500  # characters of an error (or of a refusing receiver's body) kept in the log


def max_attempts() -> int:
    return int(getattr(settings, "REWARDS_WEBHOOK_MAX_ATTEMPTS", 8))


def backoff_seconds(attempt: int) -> int:
    """Seconds to wait after the ``attempt``-th failed attempt of a run (1-based): 30 s, 1 min, 2 min... at most 1 h."""
    base = int(getattr(settings, "REWARDS_WEBHOOK_BACKOFF_SECONDS", 30))
    return min(base * 2 ** max(0, attempt - 1), 3600)


def payload(delivery: WebhookDelivery) -> dict:
    """What a receiver gets: the board, period, bucket, winners and top entries of the archive."""
    archive = delivery.archive
    top_n = int(getattr(settings, "REWARDS_WEBHOOK_TOP_N", 100))
    return {
        "event": EVENT,
        "delivery_id": str(delivery.delivery_id),
        "archive_id": archive.pk,
        "board": delivery.endpoint.board.slug,
        "period": archive.period,
        "bucket": {
            "label": delivery.bucket_label,
            "start": archive.bucket_start.isoformat(),
            "end": archive.bucket_end.isoformat(),
        },
        "reason": archive.reason,
        "participants": archive.participants,
        "winners": archive.winners,
        "top": archive.top[:top_n],
        "finalised_at": archive.created_at.isoformat(),
    }


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Leaderboard-Signature value: ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: following it could reach a private address."""

    def redirect_request(self, *args, **kwargs):
        return None


# Direct connections only (no proxies from the environment), so the address check means what it says.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST ``body``; returns the status code (None if no answer) and an error text ("" on 2xx)."""
    timeout = float(getattr(settings, "REWARDS_WEBHOOK_TIMEOUT_SECONDS", 5))
    try:
        host_check(url)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with _opener.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            code = response.status
    except urllib.error.HTTPError as exc:
        try:
            detail = exc.read(ERROR_LIMIT).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            detail = ""
        return exc.code, f"HTTP {exc.code} {exc.reason}: {detail}".strip().rstrip(":")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return None, f"{type(exc).__name__}: {reason}"
    if 200 <= code < 300:
        return code, ""
    return code, f"HTTP {code}"


@dataclass(frozen=True)
class Attempt:
    """What one call of ``attempt`` did: ``sent`` a POST or not, and when to retry (None: never)."""

    outcome: str  # succeeded, failed, retrying, already_delivered, given_up, busy, missing, endpoint_inactive
    sent: bool = False
    retry_in: int | None = None


def attempt(delivery_id: str, *, retries: int = 0) -> Attempt:
    """Send a delivery once, unless it succeeded already; ``retries``: earlier attempts of this run."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint__board", "archive")
            .filter(delivery_id=delivery_id)
            .first()
        )
        if delivery is None:
            busy = WebhookDelivery.objects.filter(delivery_id=delivery_id).exists()
            return Attempt("busy" if busy else "missing")  # busy: another worker is sending it right now
        if delivery.status == WebhookDelivery.Status.SUCCEEDED:
            return Attempt("already_delivered")
        if delivery.status == WebhookDelivery.Status.FAILED:
            return Attempt("given_up")  # a stale retry; a redelivery sets the delivery pending first
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "The endpoint is inactive."
            delivery.save(update_fields=["status", "last_error"])
            return Attempt("endpoint_inactive")

        body = json.dumps(payload(delivery), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "leaderboard-webhooks/1",
            SIGNATURE_HEADER: signature(endpoint.secret, timestamp, body),
            DELIVERY_HEADER: str(delivery.delivery_id),
        }
        started = time.monotonic()
        code, error = post(endpoint.url, body, headers)
        delivery.response_ms = round((time.monotonic() - started) * 1000)
        delivery.attempts += 1
        delivery.last_status_code = code
        delivery.last_error = error[:ERROR_LIMIT]
        retry_in = None
        delivery.next_attempt_at = None
        if not error:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            outcome = "succeeded"
        elif retries + 1 >= max_attempts():
            delivery.status = WebhookDelivery.Status.FAILED
            outcome = "failed"
        else:
            retry_in = backoff_seconds(retries + 1)
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
            outcome = "retrying"
        delivery.save(
            update_fields=[
                "status",
                "attempts",
                "last_status_code",
                "last_error",
                "response_ms",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    log = logger.info if not error else logger.warning
    log("webhook %s to %s: %s (%s) %s", delivery_id, endpoint.url, outcome, code, error[:200])
    return Attempt(outcome, sent=True, retry_in=retry_in)


def overdue_take(*, grace_seconds: int = 120, limit: int = 200) -> list[str]:
    """Pending deliveries whose next attempt is long overdue (their task was lost), to be queued again.

    A broker that was down when the archive committed, or a worker that lost a
    retry's message, leaves a delivery pending with nothing queued. Each one
    returned has its next attempt moved ``grace_seconds`` ahead, so it is not
    taken again while its new task waits for a worker; ``attempt`` locks the row
    and never sends after a success, so a delivery queued twice is delivered once.
    """
    now = timezone.now()
    with transaction.atomic():
        due = WebhookDelivery.objects.select_for_update(skip_locked=True).filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now - timedelta(seconds=grace_seconds)
        )
        ids = [str(i) for i in due.order_by("next_attempt_at").values_list("delivery_id", flat=True)[:limit]]
        WebhookDelivery.objects.filter(delivery_id__in=ids).update(
            next_attempt_at=now + timedelta(seconds=grace_seconds)
        )
    return ids
