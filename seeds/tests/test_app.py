"""The seeds app is an edge over the core: the core never reaches back into it."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "leaderboard"


def test_the_leaderboard_core_imports_nothing_from_the_seeds_app():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            offenders += [f"{path.relative_to(CORE.parent)}: {name}" for name in names if name.split(".")[0] == "seeds"]
    assert offenders == []
