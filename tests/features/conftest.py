"""The feature tests read the shared simulated world's lake (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sim_lake(credit_world: Path, tmp_path: Path) -> Path:
    """A private copy of the credit world's lake (tests write snapshots into it)."""
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(
        credit_world / "lake",
        lake,
        ignore=shutil.ignore_patterns("features", "feature_inputs", "scores", "models"),
    )
    return lake
