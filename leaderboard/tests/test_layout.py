"""The tests mirror the code: every module of the engine has its test module, every model a factory."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps

from leaderboard.tests import factories

ROOT = Path(__file__).resolve().parents[2]

# Modules whose tests live under another name, and why; every other module of the engine
# (leaderboard/*.py, leaderboard/store/*.py) must have leaderboard/tests/test_<module>.py.
ELSEWHERE = {
    "apps": "wiring, exercised by every test",
    "urls": "routes: leaderboard_project/tests/test_hostile_input.py walks every URL",
    "routing": "routes: test_consumers.py",
    "views": "the live page: test_live_page.py and test_browser.py",
    "signals": "declarations: test_rollover.py (bucket_finalised), test_broadcasts.py (submit_mirrored)",
    "metrics": "counters: leaderboard_project/tests/test_project.py reads /metrics",
    "monitoring": "scrape-time state: leaderboard_project/tests/test_project.py",
    "schedules": "leaderboard_project/tests/test_documented_commands.py (setup_periodic_tasks)",
    "jobs": "test_tasks.py (every job name is a task)",
    "selectors": "test_selectors.py, test_ranking.py",
    "replica": "test_replica.py",
    "rendered": "test_hot_reads.py (the pages api.hot_reads serves)",
    # The store package: test_store.py (one server) and test_cluster.py (a cluster of the test's own).
    "store.keys": "test_store.py",
    "store.connection": "test_store.py, test_cluster.py",
    "store.scripts": "test_store.py",
    "store.buckets": "test_store.py, test_ranking.py",
    "store.live": "test_broadcasts.py",
    "store.limits": "test_store.py, test_throttling.py",
    "store.coordination": "test_invalidation.py, test_beat.py, test_warming.py",
    "store.leagues": "test_league_store.py",
}


def _modules() -> list[str]:
    found = [p.stem for p in (ROOT / "leaderboard").glob("*.py") if p.stem != "__init__"]
    found += [f"store.{p.stem}" for p in (ROOT / "leaderboard" / "store").glob("*.py") if p.stem != "__init__"]
    return sorted(found)


@pytest.mark.parametrize("module", _modules())
def test_every_module_of_the_engine_has_its_tests(module):
    tests = ROOT / "leaderboard" / "tests"
    if module in ELSEWHERE:
        for name in ELSEWHERE[module].replace(",", " ").split():
            if name.startswith("test_") and name.endswith(".py"):
                assert (tests / name).exists() or (ROOT / name).exists() or list(ROOT.glob(f"*/tests/{name}")), name
        return
    assert (tests / f"test_{module}.py").exists(), f"leaderboard/{module}.py has no leaderboard/tests/test_{module}.py"


def test_every_model_has_a_factory():
    made = {f._meta.model for f in vars(factories).values() if isinstance(f, type) and hasattr(f, "_meta")}
    ours = [m for m in apps.get_models() if m._meta.app_label in {"accounts", "leaderboard", "rewards", "leagues"}]
    missing = sorted(m.__name__ for m in ours if m not in made)
    assert not missing, f"no factory in leaderboard/tests/factories.py for {missing}"
