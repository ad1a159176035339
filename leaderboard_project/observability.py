"""Request ids and structured logs.

Every request gets an id (the caller's ``X-Request-ID`` when it is sane, a new
one otherwise). It is returned in the ``X-Request-ID`` header, added to error
bodies, and stamped on every log record written while the request runs, so a
user's error report leads straight to the log lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django_prometheus.middleware import PrometheusAfterMiddleware

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SANE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class MetricsAfterMiddleware(PrometheusAfterMiddleware):
    """django-prometheus' request metrics, with each labelled child looked up once.

    The stock middleware resolves seven labelled children per request through
    ``labels()`` (name checks and a lock each), about a sixth of a small API
    request. Children are keyed by metric and label values; django-prometheus
    labels one metric with the raw request method, so the cache stops growing
    at a bound and further children are looked up as before.
    """

    _children: dict[tuple, Any] = {}
    MAX_CHILDREN = 5000

    def label_metric(self, metric, request, response=None, **labels):
        if not labels:
            return metric
        key = (id(metric), *labels.items())
        child = self._children.get(key)
        if child is None:
            child = metric.labels(**labels)
            if len(self._children) < self.MAX_CHILDREN:
                self._children[key] = child
        return child


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)
