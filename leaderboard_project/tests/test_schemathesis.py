"""Property-based API testing from our own OpenAPI schema (schemathesis, in process).

Every documented operation gets generated valid and invalid requests, with a
staff token. No request may produce a 5xx, and every documented response must
match its schema. The number of examples per operation is bounded so CI
stays fast (6); SCHEMATHESIS_EXAMPLES raises it, and ``make fuzz`` runs 100.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from leaderboard_project.conftest_helpers import bearer

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))


@pytest.fixture
def api_schema(transactional_db, settings_for_fuzzing):
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def settings_for_fuzzing(settings):
    # Fuzzing submits many times as one staff user; rate limits are tested elsewhere.
    settings.LEADERBOARD_SUBMIT_RATE_USER = ""
    settings.LEADERBOARD_SUBMIT_RATE_IP = ""
    return settings


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_produces_a_server_error_or_an_undocumented_body(case, staff):
    case.call_and_validate(
        headers={"Authorization": bearer(staff)},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
