"""Every error the service answers is JSON, whatever the URL; URLs PostgreSQL cannot store are refused.

DRF views answer their errors through ``exceptions.api_exception_handler``.
What is left is answered here: URLs no pattern matches, errors raised outside
DRF (Django's 400/403/404/500 handlers), and error responses that plain Django
views or middleware build (a 405 from ``require_GET``, the metrics 401). The
admin keeps Django's HTML pages: it is a site for people, not the API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views import defaults

from .negotiation import UNSTORABLE
from .observability import current_request_id

NUL_IN_URL = "The URL holds a NUL character or an unpaired surrogate; no resource is named like that."


def json_error(status: int, detail: str) -> JsonResponse:
    """The body every error has: ``{"detail": ..., "request_id": ...}``."""
    return JsonResponse({"detail": detail, "request_id": current_request_id()}, status=status)


def too_big_detail() -> str:
    return f"The request body is larger than the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


@functools.cache
def _admin_prefix() -> str:
    return reverse("admin:index")


def _is_admin(request: HttpRequest) -> bool:
    return request.path_info.startswith(_admin_prefix())


# Django's handlers (named in urls.py): JSON outside the admin.


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return json_error(413, too_big_detail())
    if _is_admin(request):
        return defaults.bad_request(request, exception)
    return json_error(400, "Bad request.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_admin(request):
        return defaults.permission_denied(request, exception)
    return json_error(403, "You do not have permission to perform this action.")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_admin(request):
        return defaults.page_not_found(request, exception)
    return json_error(404, "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_admin(request):
        return defaults.server_error(request)
    return json_error(500, "Internal server error; quote the request id when reporting it.")


class JsonErrorsMiddleware:
    """Refuse URLs with NUL or lone surrogates (400), and turn non-JSON errors into JSON.

    Guarantees, outside the admin: an answer with status 400 or more has a JSON
    body (``detail`` and ``request_id``; headers such as ``Allow`` and
    ``WWW-Authenticate`` are kept), and no path or query string holding a NUL
    reaches a view, so none reaches PostgreSQL (which cannot store one). Django
    already turns invalid UTF-8 in a path into ``%XX`` text, so a surrogate only
    arrives from servers that decode paths themselves.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # "%00" is the only spelling of NUL in a query string (hex digits never contain "%").
        query = request.META.get("QUERY_STRING", "")
        if UNSTORABLE.search(request.path_info) or "%00" in query or "\x00" in query:
            return json_error(400, NUL_IN_URL)
        response = self.get_response(request)
        if response.status_code < 400 or response.streaming:
            return response
        if response.get("Content-Type", "").startswith("application/json") or _is_admin(request):
            return response
        return _as_json(request, response)


def _as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.status_code == 405:
        detail = f'Method "{request.method}" not allowed.'
    elif response.get("Content-Type", "").startswith("text/plain") and 0 < len(response.content) <= 200:
        detail = response.content.decode(response.charset or "utf-8", "replace").strip()
    else:
        detail = response.reason_phrase + "."
    converted = json_error(response.status_code, detail)
    for header, value in response.items():
        if header.lower() not in ("content-type", "content-length"):
            converted[header] = value
    converted.cookies = response.cookies
    return converted
