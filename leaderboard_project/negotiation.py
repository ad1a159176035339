"""DRF content negotiation and JSON parsing with short cuts for what nearly every client sends."""

from __future__ import annotations

import io
import re
from typing import Any

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser
from rest_framework.settings import api_settings


class FastContentNegotiation(DefaultContentNegotiation):
    """Answer the common cases without parsing media types.

    ``Accept: */*`` (or none, or exactly the first renderer's type) selects the
    first renderer, and ``Content-Type: application/json`` the first parser
    when it is the JSON parser: DRF would choose the same ones, but parsing and
    ranking the media types costs about a twentieth of a small API request.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix is None and renderers and self.settings.URL_FORMAT_OVERRIDE not in request.query_params:
            accept = request.META.get("HTTP_ACCEPT", "*/*")
            first = renderers[0]
            if accept in ("*/*", "", first.media_type):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)

    def select_parser(self, request, parsers):
        if parsers and request.content_type == "application/json" and parsers[0].media_type == "application/json":
            return parsers[0]
        return super().select_parser(request, parsers)


_LONG_NUMBER = re.compile(rb"\d{19}")

# Text PostgreSQL cannot store: NUL, and UTF-16 surrogates without a partner
# (JSON's "\ud800" escapes decode to them; they have no UTF-8 encoding).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_DEPTH = 100
"""Deepest nesting of arrays and objects a request body may have."""


def body_check(data: Any) -> None:
    """Refuse a parsed body nested deeper than ``MAX_DEPTH`` or holding unstorable text.

    Every string and every key, at any depth, is looked at (iteratively: a deep
    body cannot exhaust the stack here). Too deep is a ``ParseError``; NUL or a
    lone surrogate is a ``ValidationError`` under the top-level field that holds
    it, so nothing reaches a serializer, a service or PostgreSQL.
    """
    stack: list[tuple[Any, tuple, int]] = [(data, (), 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                raise _unstorable(where)
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and UNSTORABLE.search(key):
                    raise _unstorable((*where, key))
                stack.append((item, (*where, key), depth + 1))


def _unstorable(where: tuple) -> ValidationError:
    shown = ".".join(UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(part)) for part in where)
    message = "Text may not contain NUL characters or unpaired surrogates" + (f" (at {shown})." if shown else ".")
    field = where[0] if where and isinstance(where[0], str) and not UNSTORABLE.search(where[0]) else None
    return ValidationError({field or api_settings.NON_FIELD_ERRORS_KEY: [message]})


class FastJSONParser(JSONParser):
    """DRF's JSON parser, decoding UTF-8 bodies with orjson; bodies pass ``body_check``.

    Anything orjson refuses (malformed JSON, lone surrogates, nesting beyond
    1,024) goes to DRF's own parser, so what is accepted and how errors are
    worded stay DRF's; so do bodies with 19 digits in a row, since orjson turns
    integers beyond 64 bits into floats where the standard library keeps them
    exact. Both refuse NaN and Infinity. Whatever the route, a body that is too
    deep or holds text PostgreSQL cannot store is a 400, never a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        if encoding.lower() in ("utf-8", "utf8") and not _LONG_NUMBER.search(raw):
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
            else:
                # orjson refuses lone surrogates, so only an escaped NUL or depth can be wrong:
                # small, flat bodies (nearly all) skip the walk.
                if b"\\u0000" in raw or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
                    body_check(data)
                return data
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.") from None
        body_check(data)
        return data


class CheckedFormParser(FormParser):
    """DRF's form parser; the fields pass ``body_check`` (a form's ``%00`` is a NUL)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        body_check(dict(data.lists()))
        return data


class CheckedMultiPartParser(MultiPartParser):
    """DRF's multipart parser; the fields and file names pass ``body_check``."""

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        parsed = super().parse(stream, media_type, parser_context)
        body_check(dict(parsed.data.lists()))
        body_check({key: [f.name for f in files] for key, files in parsed.files.lists()})
        return parsed
