"""Middleware of the project's own."""

from __future__ import annotations

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty


class LazyMessageMiddleware(MessageMiddleware):
    """Django's messages, with the storage built on first use.

    The admin needs messages; the API never touches them, yet Django's
    middleware builds a cookie-and-session storage for every request.
    """

    def process_request(self, request: HttpRequest) -> None:
        # Django's own attribute for the storage (django.contrib.messages reads it), absent from HttpRequest's stubs.
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and getattr(messages, "_wrapped", None) is empty:
            return response  # never used: nothing was added or read, so nothing to store
        return super().process_response(request, response)
