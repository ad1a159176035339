"""Hostile input at every URL: no 5xx, every error body JSON, nothing written (issue 12, findings 5 to 8).

The URLs come from the URL resolver, so a URL added later is driven too
(``admin/`` excepted: the admin's pages are HTML by design). Each URL gets
hostile path parameters, hostile query strings and, for the methods its view
accepts, hostile bodies, both anonymously and with a staff token. Below the
sweep, one regression test per finding, named after the behaviour.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import User
from leaderboard.models import ScoreEvent
from leaderboard_project.conftest_helpers import bearer

pytestmark = pytest.mark.django_db

# --------------------------------------------------------------------------- the URLs


@dataclass(frozen=True)
class Route:
    template: str  # "/api/v1/boards/{slug}", parameters in braces
    methods: tuple[str, ...]  # the methods the view answers; the others must be a JSON 405

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.template)


ALL_METHODS = ("get", "post", "put", "patch", "delete")
WRITE_METHODS = ("post", "put", "patch", "delete")
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()\\]|\\.)*\)")
_PATH_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _template(pattern) -> str:
    """A pattern's text with each parameter as ``{name}``; regex patterns lose their anchors."""
    text = str(pattern)
    text = _REGEX_GROUP.sub(lambda m: "{" + m.group(1) + "}", text)
    text = _PATH_CONVERTER.sub(lambda m: "{" + m.group(1) + "}", text)
    text = text.replace("^", "").replace("$", "")
    assert not re.search(r"[()\[\]\\*+?]", text), f"cannot turn {pattern!s} into a template; teach _template"
    return text


def _methods(callback) -> tuple[str, ...]:
    actions = getattr(callback, "actions", None)  # a DRF viewset route
    if actions:
        return tuple(m for m in ALL_METHODS if m in actions)
    cls = getattr(callback, "cls", None)  # a DRF APIView
    if cls is not None:
        return tuple(m for m in ALL_METHODS if hasattr(cls, m))
    return ALL_METHODS  # a plain Django view: try everything


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _template(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield Route("/" + prefix + _template(entry.pattern), _methods(entry.callback))


@functools.cache
def routes() -> list[Route]:
    found = [route for route in _walk(get_resolver().url_patterns) if not route.template.startswith("/admin/")]
    return sorted(set(found), key=lambda r: r.template)


def route_ids() -> list[str]:
    return [route.template for route in routes()]


# A value each parameter accepts, so only the hostile one is under test.
VALID = {"slug": "score", "period": "daily", "user_id": "player-one", "run_id": "1"}

# Raw URL text, percent-encoded as an attacker would send it.
HOSTILE_PATH_VALUES = [
    "a%00b",  # NUL
    "a%ED%A0%80b",  # a lone surrogate, as UTF-8 bytes
    "%00",
    "x" * 1024,
    "..",
    "../../admin",
    "%2E%2E%2F%2E%2E%2Fhealthz",
    "DAILY",
    "Score",
    "a%20b",
    "a b",
    "%3Cscript%3E",
    "<",
    "-1",
    "99999999999999999999999999999999",
    "%FF%FE",
    "%C0%AF",  # an overlong "/"
]

HOSTILE_QUERIES = [
    "a=%00",
    "%00=1",
    "user_ids=a%00b&limit=10",
    "user_ids=%ED%A0%80",
    "limit=1000000000000000000000000000000&offset=9223372036854775808&page=9223372036854775808&size=-1",
    "limit=1.5&offset=1e30",
    "start_date=9999-12-01&end_date=9999-12-31",
    "start_date=0001-01-01&end_date=0001-01-01&since=0001-01-01&until=9999-12-31",
    "start_date=9999-12-31&end_date=9999-12-31&export=csv",
    "board=%00&period=%00&export=%00",
    "period=DAILY&board=../x",
]

DEEP = 1_100


def _nested_object(depth: int, leaf: str = "1") -> bytes:
    return ('{"a":' * depth + leaf + "}" * depth).encode()


# Raw bodies: (content type, bytes). Field names cover every API's inputs.
_FIELDS = ("value", "score", "points", "count", "user_id", "username", "password", "refresh", "idempotency_key")


def _every_field(json_text: str, *more: str) -> bytes:
    """An object giving every input field (and ``more``) the same raw JSON value."""
    return ("{" + ", ".join(f'"{name}": {json_text}' for name in (*_FIELDS, *more)) + "}").encode()


HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"[" * DEEP + b"]" * DEEP),
    ("application/json", _nested_object(DEEP)),
    ("application/json", b'{"value": 1, "score": 1, "points": 1, "metadata": ' + _nested_object(DEEP) + b"}"),
    ("application/json", b'{"value": 1, "metadata": ' + _nested_object(900, "12345678901234567890") + b"}"),
    ("application/json", b'{"value": 1, "metadata": ' + _nested_object(500) + b"}"),
    ("application/json", b'{"value": 1, "score": 1, "points": 1, "metadata": {"a": "\\u0000"}}'),
    ("application/json", b'{"value": 1, "score": 1, "points": 1, "metadata": {"\\u0000": 1}}'),
    ("application/json", b'{"value": 1, "score": 1, "points": 1, "metadata": {"a": "\\ud800"}}'),
    ("application/json", b'{"value": 1, "metadata": {"\\udfff": ["\\ud800\\u0000"]}}'),
    ("application/json", _every_field('"a\\u0000b"')),
    ("application/json", _every_field('"a\\ud800b"')),
    ("application/json", _every_field(str(10**30), "dry_run", "limit")),
    ("application/json", _every_field(str(-(10**30)))),
    ("application/json", _every_field("1.5")),
    ("application/json", _every_field("1e308")),
    ("application/json", b'{"value": NaN, "score": Infinity, "points": -Infinity}'),
    ("application/json", _every_field('[1, {"a": null}]', "metadata", "dry_run")),
    ("application/json", _every_field('{"a": 1}')),
    ("application/json", json.dumps({"value": "abc", "metadata": "x", "dry_run": "maybe", "user_id": True}).encode()),
    ("application/json", b"[1, 2, 3]"),
    ("application/json", b'[{"value": 1}]'),
    ("application/json", b"null"),
    ("application/json", b'"a\\u0000"'),
    ("application/json", b"12345678901234567890123456789"),
    ("application/json", b'{"value": 1,'),
    ("application/json", b"\xff\xfe\x00{"),
    ("application/json", b'{"value": 1, "metadata": "' + b"x" * (10 * 1024 * 1024) + b'"}'),
    ("application/x-www-form-urlencoded", b"username=a%00b&password=x%00y&grant_type=%00"),
    ("application/x-www-form-urlencoded", b"username=a%ED%A0%80b&password=%FF"),
    ("application/x-www-form-urlencoded", b"%00=1&username=" + b"x" * 1024),
    (
        "multipart/form-data; boundary=XX",
        b'--XX\r\nContent-Disposition: form-data; name="username"\r\n\r\na\x00b\r\n--XX--\r\n',
    ),
    ("text/plain", b"\x00"),
]


# --------------------------------------------------------------------------- the sweep


class Sweep:
    """Sends requests and remembers each answer that breaks the promise."""

    addresses = itertools.count(1)

    def __init__(self, client: APIClient) -> None:
        client.raise_request_exception = False  # a server error must be an answer here, not a raise
        self.client = client
        self.broken: list[str] = []
        self.sent = 0

    def send(self, method: str, url: str, content_type: str | None = None, body: bytes = b"") -> None:
        # A fresh address per request: per-address limits would otherwise answer 429 before the parser runs.
        n = next(self.addresses)
        address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        sent_as = content_type or "application/octet-stream"  # DRF's default when the case names none
        # DRF's stub types ``data`` as str; Django encodes what it is given, and these bodies are bytes
        # on purpose (invalid UTF-8 among them).
        response = self.client.generic(method.upper(), url, body, sent_as, REMOTE_ADDR=address)  # type: ignore[arg-type]
        self.sent += 1
        self.check(method, url, content_type, response)

    def check(self, method: str, url: str, content_type: str | None, response) -> None:
        what = f"{method.upper()} {url[:120]} ({content_type}): {response.status_code}"
        if response.status_code >= 500 and response.status_code != 503:
            self.broken.append(f"{what} server error")
            return
        if response.status_code < 400:
            return
        if not response.get("Content-Type", "").startswith("application/json"):
            self.broken.append(f"{what} error is {response.get('Content-Type')!r}, not JSON")
            return
        try:
            json.loads(response.content)
        except ValueError:
            self.broken.append(f"{what} error body does not parse as JSON: {response.content[:80]!r}")


def _url(route: Route, **values: str) -> str:
    return route.template.format(**{name: values.get(name, VALID.get(name, "x")) for name in route.params})


@pytest.fixture(params=["anonymous", "staff"])
def sweep(request, settings, api_client):
    # Submit limits are tested elsewhere; here they would answer 429 before the body is looked at.
    settings.LEADERBOARD_SUBMIT_RATE_USER = ""
    settings.LEADERBOARD_SUBMIT_RATE_IP = ""
    if request.param == "staff":
        staff = request.getfixturevalue("staff")
        api_client.credentials(HTTP_AUTHORIZATION=bearer(staff))
    users_before = User.objects.count()
    result = Sweep(api_client)
    yield result
    assert not ScoreEvent.objects.exists(), "a hostile request wrote a score event"
    assert User.objects.count() == users_before, "a hostile request created an account"


def test_the_sweep_finds_the_api(sweep):
    templates = set(route_ids())
    for expected in ("/api/v1/boards/{slug}/scores", "/v1/auth/token", "/api/redis-leaderboard/user/{user_id}"):
        assert expected in templates
    assert "/healthz" in templates and not any(t.startswith("/admin/") for t in templates)


@pytest.mark.parametrize("route", routes(), ids=route_ids())
def test_hostile_path_parameters_get_a_json_4xx_never_a_5xx(route, sweep):
    if not route.params:
        # No parameters: garbage after the path instead.
        for suffix in ("%00", "/%ED%A0%80", "/" + "x" * 1024, "/../..", "/<"):
            sweep.send("get", route.template.rstrip("/") + suffix)
    for name, hostile in itertools.product(route.params, HOSTILE_PATH_VALUES):
        for method in route.methods:
            sweep.send(method, _url(route, **{name: hostile}), "application/json", b"{}")
    assert not sweep.broken, "\n".join(sweep.broken)


@pytest.mark.parametrize("route", routes(), ids=route_ids())
def test_hostile_query_strings_get_a_json_4xx_never_a_5xx(route, sweep):
    for query in HOSTILE_QUERIES:
        sweep.send("get", f"{_url(route)}?{query}")
    for method in ALL_METHODS:
        if method not in route.methods:
            sweep.send(method, _url(route), "application/json", b"{}")  # a JSON 405
    assert not sweep.broken, "\n".join(sweep.broken)


@pytest.mark.parametrize("route", routes(), ids=route_ids())
def test_hostile_bodies_get_a_json_4xx_never_a_5xx(route, sweep):
    for method in (m for m in route.methods if m in WRITE_METHODS):
        for content_type, body in HOSTILE_BODIES:
            sweep.send(method, _url(route), content_type, body)
    assert not sweep.broken, "\n".join(sweep.broken)


# --------------------------------------------------------------------------- one regression test per finding


def _is_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


def test_deeply_nested_json_is_a_400_not_a_500(auth_client, api_client):
    """Finding 5: orjson refuses 1,100 levels, and the standard library's parser ran out of stack."""
    api_client.raise_request_exception = auth_client.raise_request_exception = False
    deep = _nested_object(DEEP)
    for url in ("/api/v1/auth/register", "/v1/auth/register", "/v1/auth/token", "/api/v1/auth/token"):
        body = _is_json_error(api_client.post(url, deep, content_type="application/json"), 400)
        assert "JSON" in body["detail"] and body["request_id"]
    submit = b'{"value": 1, "metadata": ' + deep + b"}"
    _is_json_error(auth_client.post("/api/v1/boards/score/scores", submit, content_type="application/json"), 400)
    # Too deep for the standard library but not for orjson, with a number that sends it there.
    long_number = b'{"value": 1, "metadata": ' + _nested_object(990, "12345678901234567890") + b"}"
    _is_json_error(auth_client.post("/api/v1/boards/score/scores", long_number, content_type="application/json"), 400)
    assert not ScoreEvent.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/boards/a%00b",
        "/api/v1/boards/score/leaderboard/daily/rank/a%00b",
        "/api/redis-leaderboard/user/a%00b",
        "/api/redis-leaderboard/user/a%00b/rank/daily",
        "/api/leaderboard/rank/a%00b",
        "/api/v1/boards/score/leaderboard/daily?limit=%00",
        "/api/v1/boards/score/leaderboard/daily/users?user_ids=a%00b",
    ],
)
def test_a_nul_byte_in_the_url_is_a_json_400_not_a_500(path, api_client):
    """Finding 6: PostgreSQL cannot store NUL in text; the URL is refused before anything looks it up."""
    api_client.raise_request_exception = False
    body = _is_json_error(api_client.get(path), 400)
    assert "NUL" in body["detail"]


@pytest.mark.parametrize(
    "metadata",
    ['{"a": "\\u0000"}', '{"\\u0000": 1}', '{"a": "\\ud800"}', '{"a": ["x", {"b": "\\udc00"}]}'],
)
def test_nul_and_lone_surrogates_in_a_body_are_a_field_400_and_nothing_is_written(metadata, auth_client):
    """Finding 6: the parser refuses text PostgreSQL cannot store, naming the field."""
    auth_client.raise_request_exception = False
    raw = f'{{"value": 1, "metadata": {metadata}}}'.encode()
    body = _is_json_error(auth_client.post("/api/v1/boards/score/scores", raw, content_type="application/json"), 400)
    assert list(body) == ["metadata"] and isinstance(body["metadata"], list)
    assert not ScoreEvent.objects.exists()


def test_nul_in_a_form_body_is_refused_by_the_parser_like_in_json(api_client):
    """Finding 6, seed 004's form-encoded password flow: the parser refuses, whichever field or key holds it."""
    api_client.raise_request_exception = False
    form = "application/x-www-form-urlencoded"
    for raw, field in (
        (b"username=a%00b&password=x", "username"),
        (b"%00=1&username=a&password=x", "non_field_errors"),
    ):
        body = _is_json_error(api_client.post("/v1/auth/token", raw, content_type=form), 400)
        assert list(body) == [field] and "NUL" in body[field][0]


def test_a_nul_in_the_idempotency_key_header_is_a_field_400(auth_client):
    """Finding 6 for headers: the key is validated like the body's field, before PostgreSQL sees it."""
    auth_client.raise_request_exception = False
    response = auth_client.post(
        "/api/v1/boards/score/scores", {"value": 1}, format="json", HTTP_IDEMPOTENCY_KEY="key\x00with-nul"
    )
    assert "idempotency_key" in _is_json_error(response, 400)
    assert not ScoreEvent.objects.exists()


def test_a_database_data_error_is_a_json_400_not_a_500():
    """Finding 6, belt and braces: a value PostgreSQL refuses that no check caught is the client's error."""
    from django.db import DataError

    from leaderboard_project.exceptions import api_exception_handler

    response = api_exception_handler(DataError("invalid byte sequence"), {})
    assert response is not None
    assert response.status_code == 400
    assert response.data["detail"]


@pytest.mark.parametrize("url", ["/api/v1/reports/top-players", "/v1/reports/top_players"])
def test_report_dates_at_the_end_of_the_calendar_are_a_field_400_not_a_500(url, auth_client):
    """Finding 7: the day after 9999-12-31 does not exist (OverflowError)."""
    auth_client.raise_request_exception = False
    body = _is_json_error(auth_client.get(f"{url}?start_date=9999-12-01&end_date=9999-12-31"), 400)
    assert "end_date" in body


def test_archive_offsets_beyond_any_page_are_a_field_400_not_a_500(auth_client):
    """Finding 7: an offset beyond 64 bits reached PostgreSQL."""
    auth_client.raise_request_exception = False
    body = _is_json_error(auth_client.get("/api/v1/reports/archives?offset=9223372036854775808"), 400)
    assert "offset" in body


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/boards/score/leaderboard/DAILY",
        "/api/v1/boards/score/users/a%20b/stats",
        "/api/v1/boards/score/leaderboard/daily/rank/%3Cscript%3E",
        "/api/periodic-sync/runs/not-a-number",
        "/no/such/url",
    ],
)
def test_urls_the_patterns_refuse_are_a_json_404_not_the_html_page(path, api_client):
    """Finding 8: Django's own 404 page is HTML; the API's errors are JSON whatever the URL."""
    body = _is_json_error(api_client.get(path), 404)
    assert body["detail"] and body["request_id"]


def test_a_body_over_the_size_limit_is_a_json_413(auth_client, api_client, settings):
    """Finding 8: RequestDataTooBig was Django's HTML 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    big = {"value": 1, "metadata": {"blob": "x" * 2048}}
    body = _is_json_error(auth_client.post("/api/v1/boards/score/scores", big, format="json"), 413)
    assert "1024" in body["detail"]
    form = "application/x-www-form-urlencoded"
    _is_json_error(api_client.post("/v1/auth/token", b"username=" + b"x" * 2048, content_type=form), 413)
    assert not ScoreEvent.objects.exists()


def test_plain_django_views_answer_errors_in_json(api_client, settings):
    """Finding 8: health, readiness, metrics and the live page are not DRF views."""
    for path in ("/healthz", "/readyz", "/"):
        _is_json_error(api_client.post(path, {}), 405)
    settings.METRICS_TOKEN = "s3cret-token-value"
    _is_json_error(api_client.get("/metrics"), 401)
    assert api_client.get("/healthz").status_code == 200
    assert api_client.get("/")["Content-Type"].startswith("text/html")  # the live page itself stays a page
