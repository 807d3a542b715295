"""The import contract: imports run dags -> pipelines -> {attestations, models}, never back up,
with no cycle among our modules; attestations/ stays free of pandas, Airflow and the lake.

Read from the source (every ``import`` statement, also those inside functions), so a lazy
import that runs back up fails as surely as one at the top of a file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("attestations", "pipelines", "models")

# What each top-level part may not import (ours and third-party), and why.
FORBIDDEN: dict[str, dict[str, str]] = {
    "attestations": {
        "pipelines": "attestations depends on nothing of ours",
        "models": "attestations depends on nothing of ours",
        "dags": "attestations depends on nothing of ours",
        "pandas": "attestations is free of pandas",
        "pyarrow": "attestations is free of the lake",
        "airflow": "attestations is free of Airflow",
        "great_expectations": "attestations is free of the lake's quality suites",
    },
    "models": {
        "pipelines": "models knows nothing of the pipeline or the lake",
        "dags": "models knows nothing of the DAGs",
        "airflow": "models is free of Airflow",
    },
    "pipelines": {"dags": "imports run dags -> pipelines, never back"},
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """The dotted name of a source file (a DAG file is ``dags.<file>``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of ours: the packages' files and the DAG files."""
    files = [p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")] + sorted((root / "dags").glob("*.py"))
    return {module_name(p, root): p for p in files}


def imports(path: Path, name: str) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, at import time)`` for every import in the file; relative
    imports resolved; ``from a import b`` yields ``a.b`` (the caller decides whether that is
    a module). At import time: not inside a function nor under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    lazy: set[int] = set()
    for node in ast.walk(tree):
        deferred = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        )
        if deferred:
            lazy |= {id(n) for n in ast.walk(node) if n is not node}
    for node in ast.walk(tree):
        eager = id(node) not in lazy
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, eager
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno, eager
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno, eager


def graph(root: Path = ROOT) -> tuple[dict[str, set[str]], list[str]]:
    """The import-time graph among our modules, and every contract breach as a message."""
    modules = our_modules(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    breaches = []
    for name, path in modules.items():
        part = "dags" if name.startswith("dags.") else name.split(".")[0]
        for target, line, eager in imports(path, name):
            top = target.split(".")[0]
            why = FORBIDDEN.get(part, {}).get(top)
            if why:
                breaches.append(f"{path.relative_to(root)}:{line} imports {target}: {why}")
            if eager and target in modules and target != name:
                edges[name].add(target)
    return edges, sorted(set(breaches))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_imports_run_one_way() -> None:
    _, breaches = graph()
    assert breaches == [], "\n".join(breaches)


def test_no_import_cycle_among_our_modules() -> None:
    edges, _ = graph()
    assert cycles(edges) == []


@pytest.mark.parametrize(
    ("file", "source", "expected"),
    [
        ("attestations/bad.py", "from pipelines.lake import write_atomic\n", "attestations/bad.py:1 imports"),
        ("attestations/bad.py", "def f():\n    import pandas as pd\n", "attestations is free of pandas"),
        ("models/bad.py", "from pipelines import config\n", "models knows nothing"),
        ("pipelines/bad.py", "import dags.healthcheck\n", "imports run dags -> pipelines"),
        ("attestations/sub/bad.py", "from ...pipelines import cli\n", "attestations depends on nothing"),
    ],
)
def test_a_bad_import_is_caught(tmp_path: Path, file: str, source: str, expected: str) -> None:
    """The checks themselves, on a copy of the tree with one bad import added."""
    _tree_copy(tmp_path)
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_text(source)
    _, breaches = graph(tmp_path)
    assert any(expected in b for b in breaches), breaches


def test_a_cycle_is_caught(tmp_path: Path) -> None:
    _tree_copy(tmp_path)
    (tmp_path / "pipelines" / "ping.py").write_text("from pipelines import pong\n")
    (tmp_path / "pipelines" / "pong.py").write_text("import pipelines.ping\n")
    edges, _ = graph(tmp_path)
    assert ["pipelines.ping", "pipelines.pong"] in cycles(edges)


def _tree_copy(dest: Path) -> None:
    import shutil

    for part in (*PACKAGES, "dags"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
