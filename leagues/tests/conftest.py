"""The leagues' tests start without a process copy of league settings (each test makes its own)."""

from __future__ import annotations

import pytest

from leagues import selectors


@pytest.fixture(autouse=True)
def league_settings_cache():
    selectors.settings_cache_clear()
    yield
    selectors.settings_cache_clear()
