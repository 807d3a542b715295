"""A small simulated world, ingested once for the feature tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sim_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.ingest import IngestConfig, ingest
    from pipelines.simulate import WorldConfig, simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(WorldConfig(firms=120, months=8, seed=5), out / "world")
    ingest(IngestConfig(str(out / "world" / "landing"), str(out / "lake"), str(out / "world" / "trust.json")))
    return out / "lake"
