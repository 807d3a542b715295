"""No function over 80 lines outside pipelines/simulate/ (the simulator's month loops read
best whole). A function's length runs from its ``def`` (decorators excluded) to its last line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LIMIT = 80
PARTS = ("attestations", "pipelines", "models", "dags", "benchmarks")
EXEMPT = ("pipelines/simulate/",)
CHECKED = ("",)  # every path of PARTS


def long_functions(root: Path = ROOT) -> list[tuple[str, str, int]]:
    """``(path, function, lines)`` of every function longer than ``LIMIT`` lines."""
    found = []
    for part in PARTS:
        for path in sorted((root / part).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(EXEMPT):
                continue
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > LIMIT:
                        found.append((rel, node.name, length))
    return found


def test_no_long_function_in_the_checked_paths() -> None:
    long = [f for f in long_functions() if f[0].startswith(CHECKED)]
    assert long == [], f"functions over {LIMIT} lines: {long}"


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "pipelines" / "long.py").write_text(f"def long():\n{body}\n")
    assert long_functions(tmp_path) == [("pipelines/long.py", "long", LIMIT + 1)]
