"""The one request-validation helper (leaderboard.api.validation.validated) that every API surface uses."""

from __future__ import annotations

import pytest
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from leaderboard.api.validation import validated
from leaderboard.tests.factories import BoardFactory
from leaderboard.tests.helpers import seed

pytestmark = pytest.mark.django_db


def test_an_empty_optional_query_parameter_takes_its_default_on_the_core_api_as_on_the_seeds(
    api_client, default_boards
):
    # DRF reads an empty value of an optional field in a query string as absent; the core's
    # shortcut refused it (400) while the seeds' endpoints took the default.
    board = BoardFactory(periods=["daily"])
    seed(board, {"ann": 3})
    core = api_client.get(f"/api/v1/boards/{board.slug}/leaderboard/daily?limit=&offset=")
    assert core.status_code == 200, core.content
    assert [e["user_id"] for e in core.json()["entries"]] == ["ann"]
    assert api_client.get("/api/redis-leaderboard/daily?limit=").status_code == 200


class Query(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=10, default=5)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class Checked(Query):
    """A serializer-level rule, inherited by a subclass that declares nothing itself."""

    def validate(self, attrs):
        if attrs["limit"] == 7:
            raise serializers.ValidationError({"limit": "Not seven."})
        return attrs


class Inherits(Checked):
    pass


def test_it_answers_what_the_serializer_itself_would(rf):
    request = rf.get("/?limit=3&tags=a&tags=b")
    assert dict(validated(Query, request.GET)) == {"limit": 3, "tags": ["a", "b"]}
    assert dict(validated(Query, {})) == {"limit": 5}
    with pytest.raises(ValidationError) as refused:
        validated(Query, {"limit": "x", "tags": 4})
    assert set(refused.value.detail) == {"limit", "tags"}
    with pytest.raises(ValidationError) as refused:
        validated(Query, ["not", "an", "object"])
    assert "non_field_errors" in refused.value.detail


def test_serializer_level_rules_run_even_when_inherited():
    with pytest.raises(ValidationError) as refused:
        validated(Inherits, {"limit": 7})
    assert refused.value.detail == {"limit": ["Not seven."]}
