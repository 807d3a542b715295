"""Modules whose code runs on first use (pipelines.deferred_imports), and Great Expectations
imported with scipy and altair deferred."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.deferred_imports import deferred
from tests.conftest import ROOT


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A package ``slowpkg`` whose modules write their name to ``ran.log`` when they run."""
    log = tmp_path / "ran.log"
    pkg = tmp_path / "slowpkg"
    pkg.mkdir()
    for name, body in (("__init__", "VALUE = 1\n"), ("part", "VALUE = 2\n"), ("later", "VALUE = 3\n")):
        (pkg / f"{name}.py").write_text(f"open({str(log)!r}, 'a').write({name!r} + '\\n')\n{body}")
    sys.path.insert(0, str(tmp_path))
    yield log
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.partition(".")[0] == "slowpkg"]:
        del sys.modules[name]


def test_a_deferred_module_runs_on_first_use_and_later_imports_run_at_once(package: Path) -> None:
    with deferred("slowpkg"):
        import slowpkg.part  # type: ignore[import-not-found]
    # The package ran, as importing its submodule reads its path; the submodule did not.
    assert package.read_text().split() == ["__init__"]
    assert slowpkg.part.VALUE == 2
    assert package.read_text().split() == ["__init__", "part"]
    import slowpkg.later  # type: ignore[import-not-found]

    assert package.read_text().split() == ["__init__", "part", "later"]  # at once, outside the block
    assert slowpkg.later.VALUE == 3 and slowpkg.VALUE == 1


def test_great_expectations_validates_without_loading_scipy_stats_and_it_still_works_later() -> None:
    code = """
import sys
import pandas as pd
from pipelines.ingest.quality import validate
frame = pd.DataFrame({"record_id": ["r1", "r2"], "firm_id": ["91110000100000000A", "bad"],
                      "sealed_at": pd.Timestamp("2025-03-02T00:00:00Z"), "period": ["2025-02"] * 2,
                      "headcount": [5, 5], "wage_base_fen": [10, 10], "due_fen": [3, 3], "paid_fen": [3, 3]})
checked = validate(frame, "contribution")
print(sorted(checked.failed.items()))
print("scipy.stats._stats_py" in sys.modules)
from scipy import stats
import sklearn.linear_model
print(stats.norm.cdf(0.0), "scipy.stats._stats_py" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    ).stdout.splitlines()
    assert out == ["[('r2', 'quality:expect_column_values_to_match_regex')]", "False", "0.5 True"]
