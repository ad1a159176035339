"""One family of domain errors, and the one DRF handler that maps them to HTTP.

Services raise these; views never catch them. A ``ServiceUnavailable`` means a
retry may help (a store is down); the others mean the request itself is wrong.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from .errors import too_big_detail
from .observability import current_request_id

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_message = "The request could not be processed."
    retryable = False
    # A stable machine-readable name, in the body as "code", for errors a client must tell apart.
    code = ""

    def __init__(self, message: str | None = None, *, fields: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.fields = fields or {}
        super().__init__(self.message)

    def payload(self) -> dict[str, Any]:
        if self.fields:
            return {key: value if isinstance(value, list) else [value] for key, value in self.fields.items()}
        return {"detail": self.message, "code": self.code} if self.code else {"detail": self.message}


class InvalidInput(ServiceError):
    default_message = "Invalid input."


class NotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    default_message = "Not found."


class Forbidden(ServiceError):
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "You do not have permission to perform this action."


class Conflict(ServiceError):
    status_code = status.HTTP_409_CONFLICT
    default_message = "The request conflicts with the current state."


class ServiceUnavailable(ServiceError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "The service is temporarily unavailable; retry shortly."
    retryable = True


class OutcomeUnknown(ServiceUnavailable):
    """The database connection died after a write was sent: it may or may not have committed."""

    code = "outcome_unknown"
    default_message = (
        "The database connection was lost after the submission was sent: it may or may not have been "
        "recorded. Retrying with the same Idempotency-Key is safe (it counts once); retrying without "
        "one may count it twice."
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _handle(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        # Quote it when reporting a problem; the same id is in the logs.
        response.data["request_id"] = current_request_id()
    return response


def _handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        response = Response(exc.payload(), status=exc.status_code)
        if exc.retryable:
            response["Retry-After"] = "5"
        return response
    if isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DatabaseError) and _is_connection_error(exc)
    ):
        # PostgreSQL is the source of truth: without it nothing was written.
        logger.error("database unavailable: %s", exc, exc_info=exc)
        response = Response(
            {"detail": "The database is unavailable; nothing was written. Retry shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, DataError):
        # A value PostgreSQL refuses to store (NUL, a number out of range) came from the request:
        # the parsers and the URL middleware refuse those first; this is the backstop.
        logger.warning("value refused by the database: %s", exc)
        set_rollback()
        return Response(
            {"detail": "A value in the request cannot be stored; nothing was written."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": too_big_detail()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return exception_handler(exc, context)


def _is_connection_error(exc: DatabaseError) -> bool:
    cause = exc.__cause__
    name = type(cause).__name__ if cause else ""
    return name in {"OperationalError", "InterfaceError", "PoolTimeout"}
